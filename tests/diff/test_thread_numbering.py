"""Handle origins and thread pairing do not depend on how a trace numbers its threads.

Canary's thread ids are handles and other emulators reuse ids, so a child
thread may sort before its parent. A file sorted by thread then holds the
child's use of a handle before the parent's creation of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from x360k.diff.compare import DiffResult, run_diff
from x360k.diff.inputs import load
from x360k.diff.report import build_report
from x360k.trace.event import TraceEvent, make_sid
from x360k.trace.jsonl_writer import JsonlWriter


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X360K_CACHE", str(tmp_path / "cache"))


def _program(
    main: int, child: int, base: int, *, on_child: bool, set_value: int = 1
) -> list[TraceEvent]:
    """Main creates an event and a thread; the thread sets the event (a cross-thread use)."""
    ev_h, th_h = base + 0x10, base + 0x14
    ev_sid, th_sid = make_sid(main, 1), make_sid(main, 4)
    m = [
        TraceEvent(
            tid=main,
            idx=0,
            kind="kernel.call",
            name="NtCreateEvent",
            args=["0x40000000", "0x00000000", "0x00000000", "0x00000000"],
        ),
        TraceEvent(
            tid=main, idx=1, kind="handle.create", handle=ev_h, sid=ev_sid, object_type="event"
        ),
        TraceEvent(tid=main, idx=2, kind="kernel.return", name="NtCreateEvent", status=0),
        TraceEvent(
            tid=main,
            idx=3,
            kind="kernel.call",
            name="ExCreateThread",
            args=["0x40000008", "0x00000000", "0x4000000c", "0x00000000", "0x82f00000"],
        ),
        TraceEvent(
            tid=main, idx=4, kind="handle.create", handle=th_h, sid=th_sid, object_type="thread"
        ),
    ]
    if not on_child:
        m.append(
            TraceEvent(
                tid=main,
                idx=5,
                kind="thread.create",
                child_tid=child,
                entry=0x82F00000,
                handle=th_h,
                sid=th_sid,
            )
        )
    n = len(m)
    m += [
        TraceEvent(tid=main, idx=n, kind="kernel.return", name="ExCreateThread", status=0),
        TraceEvent(
            tid=main,
            idx=n + 1,
            kind="kernel.call",
            name="NtClose",
            args=[hex(th_h)],
            handle=th_h,
            sid=th_sid,
        ),
        TraceEvent(tid=main, idx=n + 2, kind="handle.destroy", handle=th_h, sid=th_sid),
        TraceEvent(tid=main, idx=n + 3, kind="kernel.return", name="NtClose", status=0),
    ]
    c: list[TraceEvent] = []
    if on_child:
        c.append(
            TraceEvent(
                tid=child, idx=0, kind="thread.create", entry=0x82F00000, handle=th_h, sid=th_sid
            )
        )
    k = len(c)
    c += [
        TraceEvent(
            tid=child,
            idx=k,
            kind="kernel.call",
            name="NtSetEvent",
            args=[hex(ev_h), "0x40000020"],
            handle=ev_h,
            sid=ev_sid,
        ),
        TraceEvent(
            tid=child, idx=k + 1, kind="kernel.return", name="NtSetEvent", status=0, ret=set_value
        ),
    ]
    return m + c


def _write(path: Path, events: list[TraceEvent]) -> Path:
    with JsonlWriter(path) as w:
        for ev in events:
            w.record(ev)
    return path


def _diff(tmp_path: Path, ref: list[TraceEvent], cand: list[TraceEvent]) -> DiffResult:
    return run_diff(
        load(_write(tmp_path / "r.jsonl", ref)), load(_write(tmp_path / "c.jsonl", cand))
    )


@pytest.mark.parametrize("on_child", [False, True])
def test_child_sorting_before_its_parent_gets_no_false_handle_finding(
    tmp_path: Path, on_child: bool
) -> None:
    # the reference numbers like canary (ids are handles: the child sorts first)
    ref = _program(main=0xF8000008 & 0xFFFF, child=0x0004, base=0xF8000000, on_child=on_child)
    cand = _program(main=0, child=1, base=0x100, on_child=on_child)
    result = _diff(tmp_path, ref, cand)
    report = build_report(result, "r", "c")
    assert [d.explanation for d in report.divergences] == []
    assert report.verdict == "MATCH" and report.exit_code == 0
    pairs = {(t.ref_tid, t.cand_tid): t.method for t in report.threads}
    assert set(pairs) == {(0x0008, 0), (0x0004, 1)}
    expected = "thread.create sid" if on_child else "creation tree"
    assert pairs[(0x0004, 1)] == expected


def test_a_wrong_handle_across_threads_is_still_found(tmp_path: Path) -> None:
    ref = _program(main=8, child=4, base=0xF8000000, on_child=True)
    cand = _program(main=0, child=1, base=0x100, on_child=True)
    # the candidate's worker sets the thread's handle instead of the event's
    k = next(i for i, e in enumerate(cand) if e.name == "NtSetEvent" and e.kind == "kernel.call")
    th = next(e for e in cand if e.object_type == "thread")
    cand[k] = TraceEvent(
        tid=1,
        idx=cand[k].idx,
        kind="kernel.call",
        name="NtSetEvent",
        args=[hex(th.handle or 0), "0x40000020"],
        handle=th.handle,
        sid=th.sid,
    )
    result = _diff(tmp_path, ref, cand)
    report = build_report(result, "r", "c")
    (d,) = report.divergences
    assert (d.cls, d.fields, d.ref_tid, d.ref_idx) == ("changed", ["handle"], 4, 1)
    assert "refers to a different handle" in d.explanation
    assert "unknown origin" not in d.explanation
