"""The two file formats :mod:`x360k.trace.perfetto` writes: trace-event JSON and protobuf.

Both take the same calls (a thread, a slice begin/end, an instant, a handle's
life, a flow arrow) with time in nanoseconds, so the two files show the same
picture.

* :class:`JsonSink`: Chrome trace-event JSON (Perfetto and chrome://tracing
  read it), streamed record by record with msgspec.
* :class:`ProtoSink`: Perfetto's own protobuf trace (``TracePacket`` /
  ``TrackEvent``), for traces too large for JSON. The messages are the
  generated classes of Perfetto's published schema (``perfetto_trace_pb2``,
  shipped by the maintained ``perfetto`` package on top of ``protobuf``), so
  no field number or wire byte is written by hand here. Packets are streamed:
  each is serialised as a one-packet ``Trace`` message, and concatenated
  serialised messages are, by protobuf's definition, one message whose
  repeated ``packet`` field holds them all.
"""

from __future__ import annotations

import heapq
from typing import Any, BinaryIO, Final, Protocol

import msgspec
import xxhash

_PID: Final = 1
#: Thread tracks' uuids are tid + this; the process track is _PROCESS_UUID.
_THREAD_UUID_BASE: Final = 1 << 20
_PROCESS_UUID: Final = 1


class Sink(Protocol):
    """What the exporter writes to; times are nanoseconds."""

    written: int

    def thread(self, tid: int, name: str) -> None: ...
    def begin(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None: ...
    def end(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None: ...
    def instant(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None: ...
    def handle_begin(self, sid: str, tid: int, t: int, name: str) -> None: ...
    def handle_end(self, sid: str, tid: int, t: int, name: str, args: dict[str, Any]) -> None: ...
    def flow(self, flow_id: int, name: str, src: tuple[int, int], dst: tuple[int, int]) -> None: ...
    def close(self) -> None: ...


def _us(t: int) -> float | int:
    """Nanoseconds as the microseconds trace-event JSON counts in (exact when whole)."""
    return t // 1000 if t % 1000 == 0 else t / 1000


class JsonSink:
    """Chrome trace-event JSON, one record per line, always closed into valid JSON."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0
        self.encoder = msgspec.json.Encoder()
        self.first = True
        out.write(b'{"displayTimeUnit":"ns","traceEvents":[')

    def emit(self, record: dict[str, Any]) -> None:
        self.out.write(b"\n" if self.first else b",\n")
        self.first = False
        self.out.write(self.encoder.encode(record))
        self.written += 1

    def thread(self, tid: int, name: str) -> None:
        self.emit(
            {
                "ph": "M",
                "pid": _PID,
                "tid": tid,
                "ts": 0,
                "name": "thread_name",
                "args": {"name": name},
            }
        )

    def begin(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        self.emit({"ph": "B", "pid": _PID, "tid": tid, "ts": _us(t), "name": name, "args": args})

    def end(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        self.emit({"ph": "E", "pid": _PID, "tid": tid, "ts": _us(t), "name": name, "args": args})

    def instant(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        self.emit(
            {"ph": "i", "s": "t", "pid": _PID, "tid": tid, "ts": _us(t), "name": name, "args": args}
        )

    def handle_begin(self, sid: str, tid: int, t: int, name: str) -> None:
        self.emit(
            {
                "ph": "b",
                "pid": _PID,
                "tid": tid,
                "ts": _us(t),
                "name": name,
                "cat": "handle",
                "id": sid,
            }
        )

    def handle_end(self, sid: str, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        self.emit(
            {
                "ph": "e",
                "pid": _PID,
                "tid": tid,
                "ts": _us(t),
                "name": name,
                "cat": "handle",
                "id": sid,
                "args": args,
            }
        )

    def flow(self, flow_id: int, name: str, src: tuple[int, int], dst: tuple[int, int]) -> None:
        # A zero-length slice at each end gives the arrow something to bind to.
        for (tid, t), phase, label in ((src, "s", name), (dst, "f", f"{name} (end)")):
            self.emit(
                {
                    "ph": "X",
                    "pid": _PID,
                    "tid": tid,
                    "ts": _us(t),
                    "dur": 0,
                    "name": label,
                    "cat": "flow",
                }
            )
            record: dict[str, Any] = {
                "ph": phase,
                "pid": _PID,
                "tid": tid,
                "ts": _us(t),
                "name": name,
                "cat": "flow",
                "id": flow_id,
            }
            if phase == "f":
                record["bp"] = "e"
            self.emit(record)

    def close(self) -> None:
        self.out.write(b"\n]}\n")


class ProtoSink:
    """Perfetto protobuf: a process track, one track per thread, lanes of handle lives."""

    def __init__(self, out: BinaryIO, process_name: str) -> None:
        from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

        self.pb = pb
        self.out = out
        self.written = 0
        self.first = True
        self.lanes: dict[str, tuple[int, str]] = {}
        self.free_lanes: dict[str, list[tuple[int, int]]] = {}
        self.lane_count: dict[str, int] = {}
        packet = self._packet()
        packet.track_descriptor.uuid = _PROCESS_UUID
        packet.track_descriptor.process.pid = _PID
        packet.track_descriptor.process.process_name = process_name
        self._write(packet)

    def _packet(self) -> Any:
        packet = self.pb.TracePacket()
        packet.trusted_packet_sequence_id = 1
        if self.first:
            packet.sequence_flags = self.pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
            self.first = False
        else:
            packet.sequence_flags = self.pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
        return packet

    def _write(self, packet: Any) -> None:
        self.out.write(self.pb.Trace(packet=[packet]).SerializeToString())

    def _event(
        self, track: int, t: int, kind: int, name: str | None, args: dict[str, Any] | None
    ) -> Any:
        packet = self._packet()
        packet.timestamp = t
        event = packet.track_event
        event.type = kind
        event.track_uuid = track
        if name is not None:
            event.name = name
        for key, value in (args or {}).items():
            note = event.debug_annotations.add()
            note.name = key
            if isinstance(value, bool):
                note.bool_value = value
            elif isinstance(value, int) and -(1 << 63) <= value < 1 << 63:
                note.int_value = value
            else:
                note.string_value = (
                    value if isinstance(value, str) else msgspec.json.encode(value).decode()
                )
        return packet

    def _emit(self, packet: Any) -> None:
        self._write(packet)
        self.written += 1

    def thread(self, tid: int, name: str) -> None:
        packet = self._packet()
        track = packet.track_descriptor
        track.uuid = _THREAD_UUID_BASE + tid
        track.parent_uuid = _PROCESS_UUID
        track.thread.pid = _PID
        track.thread.tid = tid + 1  # tid 0 would read as the idle task
        track.thread.thread_name = name
        self._emit(packet)

    def begin(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        kind = self.pb.TrackEvent.TYPE_SLICE_BEGIN
        self._emit(self._event(_THREAD_UUID_BASE + tid, t, kind, name, args))

    def end(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        kind = self.pb.TrackEvent.TYPE_SLICE_END
        self._emit(self._event(_THREAD_UUID_BASE + tid, t, kind, None, args))

    def instant(self, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        kind = self.pb.TrackEvent.TYPE_INSTANT
        self._emit(self._event(_THREAD_UUID_BASE + tid, t, kind, name, args))

    def _lane(self, name: str, t: int) -> int:
        """A track for a handle life of type ``name`` starting at ``t``.

        Slices on one protobuf track must nest, and handle lives overlap freely,
        so lives go on lanes: a lane is reused once its last life has ended (the
        heap holds each free lane by the time it became free), else a new lane
        (track) is made. Lanes are as many as the most lives of that type open at
        once, not one track per handle.
        """
        free = self.free_lanes.setdefault(name, [])
        if free and free[0][0] <= t:
            return heapq.heappop(free)[1]
        self.lane_count[name] = number = self.lane_count.get(name, 0) + 1
        uuid = int(xxhash.xxh64_intdigest(f"{name}#{number}".encode())) | 1 << 63
        packet = self._packet()
        track = packet.track_descriptor
        track.uuid = uuid
        track.parent_uuid = _PROCESS_UUID
        track.name = f"{name} handles #{number}"
        self._emit(packet)
        return uuid

    def handle_begin(self, sid: str, tid: int, t: int, name: str) -> None:
        lane = self._lane(name, t)
        self.lanes[sid] = (lane, name)
        kind = self.pb.TrackEvent.TYPE_SLICE_BEGIN
        self._emit(self._event(lane, t, kind, name, {"sid": sid, "tid": tid}))

    def handle_end(self, sid: str, tid: int, t: int, name: str, args: dict[str, Any]) -> None:
        lane, kind_name = self.lanes.pop(sid)
        kind = self.pb.TrackEvent.TYPE_SLICE_END
        self._emit(self._event(lane, t, kind, None, args))
        heapq.heappush(self.free_lanes.setdefault(kind_name, []), (t, lane))

    def flow(self, flow_id: int, name: str, src: tuple[int, int], dst: tuple[int, int]) -> None:
        kind = self.pb.TrackEvent.TYPE_INSTANT
        start = self._event(_THREAD_UUID_BASE + src[0], src[1], kind, name, None)
        start.track_event.flow_ids.append(flow_id)
        self._emit(start)
        finish = self._event(_THREAD_UUID_BASE + dst[0], dst[1], kind, f"{name} (end)", None)
        finish.track_event.terminating_flow_ids.append(flow_id)
        self._emit(finish)

    def close(self) -> None:
        pass
