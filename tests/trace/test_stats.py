"""Stats on a synthetic trace agree with counts computed here independently."""

from __future__ import annotations

from collections import Counter

from benchmarks.gen_trace import generate_table

from x360k.trace.columns import batch_to_events
from x360k.trace.stats import compute_stats


def test_counts_match_independent_computation() -> None:
    events = list(batch_to_events(generate_table(5000, 7)))
    stats = compute_stats(events)
    assert stats.events == len(events)
    assert stats.kinds == Counter(e.kind for e in events)
    assert stats.exports == Counter(e.name for e in events if e.kind == "kernel.call")
    assert {t.tid: t.events for t in stats.threads} == Counter(e.tid for e in events)
    created = {e.sid for e in events if e.kind == "handle.create"}
    destroyed = {e.sid for e in events if e.kind == "handle.destroy"}
    leaked = created - destroyed
    assert {h.sid for h in stats.leaked} == leaked
    assert leaked, "the synthetic trace should leave some handles open"
    assert stats.handles_created == len(created)
    for handle in stats.leaked:
        prior = [
            e
            for e in events
            if e.tid == handle.tid and e.idx < handle.idx and e.kind == "kernel.call"
        ]
        assert handle.created_by == prior[-1].name
    exits = {e.tid: e.idx for e in events if e.kind == "thread.exit"}
    assert {t.tid: t.exited_at for t in stats.threads if t.exited_at is not None} == exits
