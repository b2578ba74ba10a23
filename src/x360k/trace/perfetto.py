"""Chrome trace-event JSON for Perfetto / chrome://tracing, written as it is produced.

Time is each thread's event index (one index = 1 µs on screen), so tracks
line up by position in the thread, not by wall time. Threads are tracks of
process 1 (named by a ``thread_name`` metadata event); a ``kernel.call`` opens
a ``B`` slice that its ``kernel.return`` closes (unfinished calls are closed
at the end, so B/E always nest per thread); other kinds are thread-scoped
instant events; each handle's life is an async ``b``/``e`` pair keyed by its
sid in category ``handle``. A destroy on another thread uses that thread's
index, clamped so a slice never ends before it begins. Output stops at
``max_events`` trace events with every open slice closed, so the file is
always valid JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import msgspec

from x360k.trace.event import TraceEvent

DEFAULT_MAX_EVENTS: Final = 2_000_000
_PID: Final = 1


class PerfettoResult(msgspec.Struct):
    """What was written."""

    written: int
    capped: bool
    source_events: int


class _Writer:
    def __init__(self, out: Any, limit: int) -> None:
        self.out = out
        self.limit = limit
        self.written = 0
        self.encoder = msgspec.json.Encoder()
        self.first = True

    def emit(self, record: dict[str, Any]) -> None:
        self.out.write(b"\n" if self.first else b",\n")
        self.first = False
        self.out.write(self.encoder.encode(record))
        self.written += 1


def write_perfetto(
    events: Iterable[TraceEvent], path: str | Path, *, max_events: int = DEFAULT_MAX_EVENTS
) -> PerfettoResult:
    """Write the trace-event JSON; reserve room so closing slices never exceed the cap."""
    stacks: dict[int, list[tuple[str, int | None]]] = {}
    last_ts: dict[int, int] = {}
    handles: dict[str, tuple[str, int, int]] = {}
    seen = 0
    capped = False
    with Path(path).open("wb") as out:
        out.write(b'{"displayTimeUnit":"ns","traceEvents":[')
        writer = _Writer(out, max_events)
        for event in events:
            seen += 1
            open_count = sum(len(s) for s in stacks.values()) + len(handles)
            if writer.written + open_count + 3 > max_events:
                capped = True
                break
            _one(writer, event, stacks, last_ts, handles)
        for tid, stack in stacks.items():
            while stack:
                name, _ = stack.pop()
                writer.emit(
                    {"ph": "E", "pid": _PID, "tid": tid, "ts": last_ts[tid] + 1, "name": name}
                )
        end = max(last_ts.values(), default=0) + 1
        for sid, (name, tid, _) in handles.items():
            writer.emit(
                {
                    "ph": "e",
                    "pid": _PID,
                    "tid": tid,
                    "ts": end,
                    "name": name,
                    "cat": "handle",
                    "id": sid,
                    "args": {"open_at_end": True},
                }
            )
        out.write(b"\n]}\n")
    return PerfettoResult(writer.written, capped, seen)


def _one(
    writer: _Writer,
    event: TraceEvent,
    stacks: dict[int, list[tuple[str, int | None]]],
    last_ts: dict[int, int],
    handles: dict[str, tuple[str, int, int]],
) -> None:
    tid, ts = event.tid, event.idx
    if tid not in last_ts:
        writer.emit(
            {
                "ph": "M",
                "pid": _PID,
                "tid": tid,
                "ts": 0,
                "name": "thread_name",
                "args": {"name": _thread_name(event)},
            }
        )
        stacks[tid] = []
    last_ts[tid] = max(ts, last_ts.get(tid, ts))
    stack = stacks[tid]
    kind = event.kind
    if kind == "kernel.call":
        name = event.name or "?"
        stack.append((name, event.call_id))
        args: dict[str, Any] = {"args": event.args} if event.args else {}
        writer.emit({"ph": "B", "pid": _PID, "tid": tid, "ts": ts, "name": name, "args": args})
        return
    if kind == "kernel.return":
        position = _match(stack, event)
        if position is None:
            _instant(writer, event)
            return
        while len(stack) > position:
            name, _ = stack.pop()
            status: dict[str, Any] = (
                {"status": f"0x{event.status:08x}"} if event.status is not None else {}
            )
            writer.emit(
                {"ph": "E", "pid": _PID, "tid": tid, "ts": ts, "name": name, "args": status}
            )
        return
    if kind == "handle.create" and event.sid is not None:
        name = event.object_type or "handle"
        handles[event.sid] = (name, tid, ts)
        writer.emit(
            {
                "ph": "b",
                "pid": _PID,
                "tid": tid,
                "ts": ts,
                "name": name,
                "cat": "handle",
                "id": event.sid,
            }
        )
    elif kind == "handle.destroy" and event.sid in handles:
        assert event.sid is not None
        name, _, begun = handles.pop(event.sid)
        writer.emit(
            {
                "ph": "e",
                "pid": _PID,
                "tid": tid,
                "ts": max(ts, begun),
                "name": name,
                "cat": "handle",
                "id": event.sid,
            }
        )
    _instant(writer, event)


def _match(stack: list[tuple[str, int | None]], event: TraceEvent) -> int | None:
    """Stack position of the call this return closes (by call_id, else by name)."""
    for position in range(len(stack) - 1, -1, -1):
        name, call_id = stack[position]
        if (event.call_id is not None and call_id == event.call_id) or (
            event.call_id is None and name == event.name
        ):
            return position
    return None


def _instant(writer: _Writer, event: TraceEvent) -> None:
    args = {
        k: v
        for k, v in msgspec.structs.asdict(event).items()
        if v is not None and k not in ("tid", "idx", "kind")
    }
    name = event.kind if event.name is None else f"{event.kind} {event.name}"
    writer.emit(
        {
            "ph": "i",
            "s": "t",
            "pid": _PID,
            "tid": event.tid,
            "ts": event.idx,
            "name": name,
            "args": args,
        }
    )


def _thread_name(event: TraceEvent) -> str:
    if event.raw_tid is None:
        return f"tid {event.tid}"
    return f"tid {event.tid} ({event.raw_tid:08X})"
