"""Perfetto output obeys the trace-event format's rules."""

from __future__ import annotations

import json
from pathlib import Path

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
