"""Two traces recorded by x360k itself, one scenario under both kernel profiles.

The scenario creates an event, sets it, duplicates it, closes the duplicate and
then closes the original twice. The only quirk it touches is
``double_close_succeeds`` (canary: the second close returns success; console:
STATUS_INVALID_HANDLE), so the diff must report exactly that status, at the
second close's return, and nothing else, although every handle value differs
between the profiles.
"""

from __future__ import annotations

from typing import Any

from x360k.diff.compare import DiffOptions, run_diff
from x360k.diff.inputs import events_to_columns
from x360k.diff.keys import Normalisation
from x360k.diff.report import build_report
from x360k.kernel import Kernel
from x360k.status import STATUS_INVALID_HANDLE, STATUS_SUCCESS
from x360k.trace.event import TraceEvent
from x360k.trace.recorder import MemoryRecorder


def _record(profile: Any, **quirks: bool) -> list[TraceEvent]:
    rec = MemoryRecorder()
    k = Kernel(profile, quirks=quirks, recorder=rec)
    mem = k.memory

    def out() -> int:
        ptr = mem.alloc(4, 4)
        mem.write_u32(ptr, 0xCCCCCCCC)
        return ptr

    p = out()
    assert k.call("NtCreateEvent", p, 0, 1, 0) == STATUS_SUCCESS
    event = mem.read_u32(p)
    k.call("NtSetEvent", event, 0)
    q = out()
    k.call("NtDuplicateObject", event, q, 0)
    k.call("NtClose", mem.read_u32(q))
    k.call("NtClose", event)
    k.call("NtClose", event)  # the quirk
    return rec.events


def _last_return(events: list[TraceEvent]) -> TraceEvent:
    return [e for e in events if e.kind == "kernel.return"][-1]


def test_profiles_differ_only_in_the_double_close_status() -> None:
    canary, console = _record("canary"), _record("console")
    handles = {e.handle for e in canary if e.handle is not None}
    assert handles.isdisjoint({e.handle for e in console if e.handle is not None})
    assert _last_return(canary).status == STATUS_SUCCESS
    assert _last_return(console).status == STATUS_INVALID_HANDLE
    result = run_diff(events_to_columns(canary, "canary"), events_to_columns(console, "console"))
    findings = [f for pr in result.pairs for f in pr.findings]
    assert len(findings) == 1
    f = findings[0]
    at = _last_return(canary).idx
    assert (f.cls, f.i1 - f.i0, f.j1 - f.j0) == ("changed", 1, 1)
    assert result.pairs[0].ref_idx(result.ref, f.i0) == at
    assert result.pairs[0].cand_idx(result.cand, f.j0) == _last_return(console).idx == at
    report = build_report(result, "canary", "console")
    assert report.divergence_count == 1
    (d,) = report.divergences
    assert d.fields == ["status"]
    assert d.export == "NtClose"
    assert (
        "status STATUS_SUCCESS (0x00000000) vs STATUS_INVALID_HANDLE (0xC0000008)" in d.explanation
    )
    assert report.threads[0].verdict == f"DIVERGED at ref#{at} / cand#{at}"


def test_same_quirks_match_and_raw_handles_would_not() -> None:
    canary = _record("canary")
    console_like_canary = _record("console", double_close_succeeds=True)
    same = run_diff(
        events_to_columns(canary, "canary"), events_to_columns(console_like_canary, "console")
    )
    assert not same.divergent
    assert {pr.verdict for pr in same.pairs} == {"MATCH"}
    raw = run_diff(
        events_to_columns(canary, "canary"),
        events_to_columns(console_like_canary, "console"),
        DiffOptions(norm=Normalisation(rules=frozenset({"pointers", "timestamps", "volatile"}))),
    )
    assert raw.divergent  # handle values do differ: the handles rule is what hides them
