"""Perfetto output obeys the trace-event format's rules."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from benchmarks.gen_trace import generate_table

from x360k.trace.columns import batch_to_events
from x360k.trace.event import TraceEvent
from x360k.trace.perfetto import write_perfetto

PHASES = {"B", "E", "i", "b", "e", "M"}


def _check(records: list[dict[str, object]]) -> None:
    stacks: dict[object, list[object]] = {}
    open_async: dict[object, object] = {}
    for record in records:
        for key in ("ph", "ts", "pid", "tid", "name"):
            assert key in record, (key, record)
        assert record["ph"] in PHASES
        tid = record["tid"]
        if record["ph"] == "B":
            stacks.setdefault(tid, []).append(record["name"])
        elif record["ph"] == "E":
            assert stacks.get(tid), f"E without B on {tid}"
            assert stacks[tid].pop() == record["name"]
        elif record["ph"] == "b":
            assert record["id"] not in open_async
            open_async[record["id"]] = record["ts"]
        elif record["ph"] == "e":
            begun = open_async.pop(record["id"])
            assert isinstance(begun, int) and isinstance(record["ts"], int)
            assert record["ts"] >= begun
    assert all(not s for s in stacks.values())
    assert not open_async


def test_synthetic_trace_follows_the_rules(tmp_path: Path) -> None:
    events = list(batch_to_events(generate_table(3000, 4)))
    out = tmp_path / "p.json"
    result = write_perfetto(events, out, time_axis="index")
    records = json.loads(out.read_text())["traceEvents"]
    assert not result.capped and result.written == len(records)
    _check(records)
    per_thread = {r["tid"] for r in records if r["ph"] == "M"}
    assert per_thread == {e.tid for e in events}
    calls = sum(1 for e in events if e.kind == "kernel.call")
    assert sum(1 for r in records if r["ph"] == "B" and r["name"] != "wait") == calls


def test_cap_keeps_json_valid_and_nested(tmp_path: Path) -> None:
    events = [
        TraceEvent(tid=0, idx=0, kind="kernel.call", name="A", call_id=1),
        TraceEvent(tid=0, idx=1, kind="kernel.call", name="B", call_id=2),
        TraceEvent(tid=0, idx=2, kind="handle.create", sid="s1", object_type="Event"),
    ] + [TraceEvent(tid=0, idx=3 + i, kind="marker") for i in range(50)]
    out = tmp_path / "p.json"
    result = write_perfetto(events, out, max_events=20)
    records = json.loads(out.read_text())["traceEvents"]
    assert result.capped and len(records) <= 20
    _check(records)


# -- virtual time, flow arrows, protobuf -----------------------------------------------------

EXAMPLE = Path(__file__).parents[2] / "examples" / "semaphore_producer_consumer.yaml"


def _scenario_events(wait_events: bool) -> list[TraceEvent]:
    from x360k.scenario import parse_scenario
    from x360k.scenario.runner import run_scenario
    from x360k.trace.recorder import MemoryRecorder

    text = EXAMPLE.read_text()
    if wait_events:
        text = "wait_events: true\n" + text
    recorder = MemoryRecorder()
    run_scenario(parse_scenario(text, str(EXAMPLE)), profile="canary", recorder=recorder)
    return list(recorder.events)


def _flows(records: list[dict[str, object]]) -> dict[object, dict[str, dict[str, object]]]:
    pairs: dict[object, dict[str, dict[str, object]]] = {}
    for r in records:
        if r["ph"] in ("s", "f"):
            pairs.setdefault(r["id"], {})[str(r["ph"])] = r
    return pairs


def _at(events: list[TraceEvent], tid: int, ts_us: float) -> list[TraceEvent]:
    return [e for e in events if e.tid == tid and e.ts is not None and e.ts / 10 == ts_us]


def test_virtual_time_gives_waits_their_length(tmp_path: Path) -> None:
    events = _scenario_events(wait_events=True)
    out = tmp_path / "p.json"
    result = write_perfetto(events, out)
    assert result.time_axis == "virtual"
    records = json.loads(out.read_text())["traceEvents"]
    opened: dict[object, list[float]] = {}
    lengths = []
    for r in records:
        if r["name"] == "wait" and r["ph"] == "B":
            opened.setdefault(r["tid"], []).append(float(r["ts"]))  # type: ignore[arg-type]
        elif r["name"] == "wait" and r["ph"] == "E":
            lengths.append(float(r["ts"]) - opened[r["tid"]].pop())  # type: ignore[arg-type]
    assert lengths and max(lengths) > 0
    last = max(e.ts for e in events if e.ts is not None)
    assert max(float(r["ts"]) for r in records) == last / 10  # type: ignore[arg-type]


def test_flow_arrows_link_signal_to_wait_and_creator_to_child(tmp_path: Path) -> None:
    for wait_events in (True, False):
        events = _scenario_events(wait_events)
        out = tmp_path / f"p{wait_events}.json"
        result = write_perfetto(events, out)
        pairs = _flows(json.loads(out.read_text())["traceEvents"])
        assert len(pairs) == result.flows > 2
        signals = creates = 0
        for pair in pairs.values():
            src, dst = pair["s"], pair["f"]
            assert src["tid"] != dst["tid"]
            assert float(src["ts"]) <= float(dst["ts"])  # type: ignore[arg-type]
            at_source = _at(events, int(src["tid"]), float(src["ts"]))  # type: ignore[call-overload]
            if src["name"] == "signal":
                signals += 1
                assert any(
                    e.name == "NtReleaseSemaphore" for e in at_source if e.kind == "kernel.call"
                )
            else:
                creates += 1
                assert any(
                    e.kind == "thread.create" and e.child_tid == dst["tid"] for e in at_source
                )
        assert signals >= 5 and creates == 2


def test_index_axis_when_the_trace_has_no_time(tmp_path: Path) -> None:
    events = [msgspec.structs.replace(e, ts=None) for e in _scenario_events(wait_events=False)]
    out = tmp_path / "p.json"
    result = write_perfetto(events, out)
    assert result.time_axis == "index"
    records = json.loads(out.read_text())["traceEvents"]
    _check([r for r in records if r["ph"] not in ("s", "f", "X")])
    assert result.flows > 0  # file order still orders signal before wake


def test_protobuf_output_is_perfettos_schema(tmp_path: Path) -> None:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

    events = _scenario_events(wait_events=True)
    out = tmp_path / "p.pftrace"
    result = write_perfetto(events, out)
    assert result.fmt == "proto"
    trace = Trace.FromString(out.read_bytes())
    assert len(trace.packet) == result.written + 1  # + the process descriptor
    threads = {
        p.track_descriptor.uuid: p.track_descriptor.thread.thread_name
        for p in trace.packet
        if p.HasField("track_descriptor") and p.track_descriptor.HasField("thread")
    }
    assert len(threads) == len({e.tid for e in events})
    depth: dict[int, int] = {}
    starts: set[int] = set()
    ends: set[int] = set()
    times = {e.ts * 100 for e in events if e.ts is not None}
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        ev = p.track_event
        assert p.timestamp in times
        assert p.trusted_packet_sequence_id == 1
        if ev.type == TrackEvent.TYPE_SLICE_BEGIN:
            depth[ev.track_uuid] = depth.get(ev.track_uuid, 0) + 1
        elif ev.type == TrackEvent.TYPE_SLICE_END:
            depth[ev.track_uuid] -= 1
            assert depth[ev.track_uuid] >= 0
        starts.update(ev.flow_ids)
        ends.update(ev.terminating_flow_ids)
    assert all(d == 0 for d in depth.values())
    assert starts == ends and len(starts) == result.flows
    json_result = write_perfetto(events, tmp_path / "p.json")
    assert json_result.flows == result.flows


def test_unknown_output_suffix_is_refused(tmp_path: Path) -> None:
    import pytest

    from x360k.trace.errors import TraceFormatError
    from x360k.trace.perfetto import output_format

    with pytest.raises(TraceFormatError, match=r"\.pftrace"):
        output_format(tmp_path / "p.txt")


def test_protobuf_handle_lives_share_lanes_that_never_overlap(tmp_path: Path) -> None:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

    events: list[TraceEvent] = []
    idx = 0

    def add(kind: str, sid: str, ts: int) -> None:
        nonlocal idx
        events.append(TraceEvent(tid=0, idx=idx, kind=kind, sid=sid, object_type="Event", ts=ts))
        idx += 1

    for n, ts in enumerate((1, 2, 3)):
        add("handle.create", f"s{n}", ts)
    for n, ts in enumerate((4, 5, 6)):
        add("handle.destroy", f"s{n}", ts)
    add("handle.create", "s3", 7)
    add("handle.create", "s4", 8)
    out = tmp_path / "h.pftrace"
    write_perfetto(events, out)
    trace = Trace.FromString(out.read_bytes())
    lanes = {
        p.track_descriptor.uuid
        for p in trace.packet
        if p.HasField("track_descriptor") and "handles" in p.track_descriptor.name
    }
    assert len(lanes) == 3  # three lives open at once, then two reuse free lanes
    open_at: dict[int, int] = {}
    for p in trace.packet:
        ev = p.track_event
        if not p.HasField("track_event") or ev.track_uuid not in lanes:
            continue
        if ev.type == TrackEvent.TYPE_SLICE_BEGIN:
            assert ev.track_uuid not in open_at
            open_at[ev.track_uuid] = p.timestamp
        elif ev.type == TrackEvent.TYPE_SLICE_END:
            assert p.timestamp >= open_at.pop(ev.track_uuid)
    assert not open_at
