"""Only what both sides record is compared: canary's log against a full x360k trace.

``fixtures/calls_x360k.jsonl`` is ``x360k run fixtures/calls.yaml --trace``;
``fixtures/calls_canary.log`` is the same calls as canary's log writes them
(level prefix, thread handle, uppercase hex, pointees in parentheses, the
high-frequency NtWaitForSingleObjectEx absent, other messages mixed in).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.diff.compare import DiffResult, run_diff
from x360k.diff.inputs import events_to_columns, load
from x360k.diff.report import build_report
from x360k.trace.event import TraceEvent

FIXTURES = Path(__file__).parent / "fixtures"
CANARY_LOG = FIXTURES / "calls_canary.log"
FULL_TRACE = FIXTURES / "calls_x360k.jsonl"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X360K_CACHE", str(tmp_path / "cache"))


def _diff(a: Path, b: Path) -> DiffResult:
    return run_diff(load(a), load(b))


def _findings(result: DiffResult) -> list[tuple[str, int, int]]:
    return [
        (f.cls, pr.ref_idx(result.ref, f.i0), pr.cand_idx(result.cand, f.j0))
        for pr in result.pairs
        for f in pr.findings
    ]


@pytest.mark.parametrize("order", ["canary-first", "trace-first"])
def test_canary_log_of_the_same_calls_as_a_full_trace_diffs_clean(order: str) -> None:
    a, b = (CANARY_LOG, FULL_TRACE) if order == "canary-first" else (FULL_TRACE, CANARY_LOG)
    result = _diff(a, b)
    assert _findings(result) == []
    assert {pr.verdict for pr in result.pairs} == {"MATCH"}
    report = build_report(result, str(a), str(b))
    assert report.verdict == "MATCH" and report.exit_code == 0
    trace_side = "candidate" if order == "canary-first" else "reference"
    lost = report.projection.events[trace_side]
    # what canary's log cannot hold was projected away from the trace, and said so
    for kind in ("import.call", "kernel.return", "handle.create", "handle.destroy"):
        assert lost[f"kind {kind}"] > 0
    assert lost["export NtWaitForSingleObjectEx"] == 1  # canary's high-frequency mask
    assert {"module", "ordinal", "status"} <= set(report.projection.dropped_fields)
    assert not report.projection.handle_check
    assert any("kinds not compared" in n for n in report.notes)
    assert any("module" in n and "fields not compared" in n for n in report.notes)
    matched = sum(pr.matched for pr in result.pairs)
    assert matched == 10  # every call canary logged, on both threads
    # no thread.create in canary's log: paired by similarity, each with its margin
    assert {t.method for t in report.threads} == {"similarity"}
    for t in report.threads:
        assert t.margin is not None and t.margin > 0.1
        assert t.runner_up is not None and t.runner_up != t.cand_tid


def test_one_changed_call_in_canary_log_is_exactly_that_change(tmp_path: Path) -> None:
    text = CANARY_LOG.read_text(encoding="utf-8")
    old = "NtCreateSemaphore(40000010(00000000), 00000000, 00000001, 00000004)"
    assert text.count(old) == 1
    changed = tmp_path / "changed.log"
    changed.write_text(text.replace(old, old.replace("00000001, 0", "00000002, 0")), "utf-8")
    result = _diff(changed, FULL_TRACE)
    assert _findings(result) == [("changed", 0, 1)]  # canary's idx 0 is the trace's idx 1
    report = build_report(result, "changed.log", "trace")
    (d,) = report.divergences
    assert d.export == "NtCreateSemaphore" and d.fields == ["args"]
    assert "module" not in d.explanation and " - vs -" not in d.explanation
    assert d.explanation.endswith("differs: args[2] 0x00000002 vs 0x00000001")
    assert report.exit_code == 1
    res = CliRunner().invoke(cli, ["diff", "--json", str(changed), str(FULL_TRACE)])
    assert res.exit_code == 1
    rep = msgspec.json.decode(res.stdout)
    assert rep["divergence_count"] == 1
    assert "module" in rep["projection"]["dropped_fields"]


def _call(tid: int, idx: int, args: list[str], **kw: object) -> TraceEvent:
    return TraceEvent(
        tid=tid, idx=idx, kind="kernel.call", name="NtCreateSemaphore", args=args, **kw
    )  # type: ignore[arg-type]


def test_pointees_are_compared_where_both_sides_print_them() -> None:
    ref = [_call(0, 0, ["0x40000010(00000000)", "0x00000000", "0x00000001", "0x00000004"])]
    same = [_call(0, 0, ["0x7000fb44(00000000)", "0x00000000", "0x00000001", "0x00000004"])]
    other = [_call(0, 0, ["0x40000010(F8000010)", "0x00000000", "0x00000001", "0x00000004"])]
    plain = [_call(0, 0, ["0x40000010", "0x00000000", "0x00000001", "0x00000004"])]
    r = events_to_columns(ref)
    assert _findings(run_diff(r, events_to_columns(same))) == []  # pointer masked, pointee equal
    res = run_diff(r, events_to_columns(other))
    assert _findings(res) == [("changed", 0, 0)]
    assert build_report(res, "r", "c").divergences[0].fields == ["args"]
    res = run_diff(r, events_to_columns(plain))
    assert _findings(res) == []  # the candidate has no pointees: not compared, and said so
    assert any("pointer targets not compared" in n for n in build_report(res, "r", "c").notes)


def test_a_field_only_one_side_has_is_never_a_difference() -> None:
    ref = [_call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"], module="xboxkrnl", ordinal=213)]
    cand = [_call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"])]
    res = run_diff(events_to_columns(ref), events_to_columns(cand))
    assert _findings(res) == []
    assert res.projection.dropped_fields == {"module": "candidate", "ordinal": "candidate"}
    # ...but a field both sides have is compared
    cand2 = [_call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"], module="xam", ordinal=213)]
    res2 = run_diff(events_to_columns(ref), events_to_columns(cand2))
    assert _findings(res2) == [("changed", 0, 0)]


def test_exports_masked_by_either_header_are_dropped_on_both_sides(tmp_path: Path) -> None:
    from x360k.trace.header import TraceHeader
    from x360k.trace.jsonl_writer import JsonlWriter

    def call(idx: int, name: str) -> TraceEvent:
        return TraceEvent(tid=0, idx=idx, kind="kernel.call", name=name, args=["0x00000001"])

    full = [call(0, "NtSetEvent"), call(1, "NtClose")]
    masked = [call(0, "NtClose")]
    paths = []
    for name, events, header in (
        ("full.jsonl", full, TraceHeader(emulator="a")),
        ("masked.jsonl", masked, TraceHeader(emulator="b", masked_exports=["NtSetEvent"])),
    ):
        with JsonlWriter(tmp_path / name, header=header) as w:
            for ev in events:
                w.record(ev)
        paths.append(tmp_path / name)
    for a, b in (paths, paths[::-1]):  # whichever side masks it
        res = _diff(a, b)
        assert _findings(res) == [], (a.name, b.name)
        assert "NtSetEvent" in res.projection.dropped_exports


def test_a_module_a_canary_log_reader_infers_for_some_calls_is_not_compared() -> None:
    """Canary's log has no module: one a reader fills in (xam calls only) never differs."""
    log = events_to_columns(
        [
            _call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"]),
            TraceEvent(
                tid=0,
                idx=1,
                kind="kernel.call",
                name="XamInputGetCapabilities",
                module="xam",
                args=["0x00000000"],
            ),
        ]
    )
    log.header = {
        "emulator": "xenia-canary",
        "recorded_kinds": ["kernel.call"],
        "masked_kinds": [],
        "masked_exports": [],
    }
    full = events_to_columns(
        [
            _call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"], module="xboxkrnl", ordinal=213),
            TraceEvent(
                tid=0,
                idx=1,
                kind="kernel.call",
                name="XamInputGetCapabilities",
                module="xam",
                ordinal=400,
                args=["0x00000000"],
            ),
        ]
    )
    res = run_diff(log, full)
    assert _findings(res) == []
    assert {"module", "ordinal"} <= set(res.projection.dropped_fields)


def _write(path: Path, events: list[TraceEvent], **header: object) -> Path:
    from x360k.trace.header import TraceHeader
    from x360k.trace.jsonl_writer import JsonlWriter

    with JsonlWriter(path, header=TraceHeader(**header)) as w:  # type: ignore[arg-type]
        for ev in events:
            w.record(ev)
    return path


def test_a_side_recording_only_some_exports_is_a_partial_comparison(tmp_path: Path) -> None:
    """Canary at its default log level logs only exports tagged important: never a MATCH."""
    log = load(CANARY_LOG)
    only = [
        TraceEvent(
            tid=0,
            idx=0,
            kind="kernel.call",
            name="ExCreateThread",
            raw_tid=0xF8000008,
            args=[
                "0x40000008",
                "0x00000000",
                "0x4000000c",
                "0x00000000",
                "0x82f00000",
                "0x00000000",
                "0x00000000",
            ],
        ),
    ]
    info = _write(
        tmp_path / "info.jsonl",
        only,
        emulator="xenia-canary",
        recorded_kinds=["kernel.call"],
        masked_kinds=[k for k in log.header["masked_kinds"]],
        recorded_exports=["ExCreateThread", "XamLoaderLaunchTitle"],
    )
    result = _diff(info, FULL_TRACE)
    assert _findings(result) == []
    report = build_report(result, "info", "full")
    assert report.verdict == "PARTIAL" and report.exit_code == 1
    assert result.unrecorded_events == 10  # every call of the full trace but ExCreateThread
    assert any(n.startswith("partial comparison: 10 events") for n in report.notes)
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", str(info), str(FULL_TRACE)])
    assert res.exit_code == 1 and "verdict: PARTIAL" in res.stdout
    loose = "changed,missing,extra,reordered,unmapped"
    res = runner.invoke(cli, ["diff", "--fail-on", loose, str(info), str(FULL_TRACE)])
    assert res.exit_code == 0 and "exit status 0" in res.stdout


def test_pointees_kept_in_text_are_compared_only_against_the_same_form() -> None:
    def ev(text: str | None) -> list[TraceEvent]:
        return [_call(0, 0, ["0x40000010", "0x0", "0x1", "0x4"], text=text)]

    def cols(text: str | None, style: bool) -> object:
        c = events_to_columns(ev(text))
        if style:
            c.header = {"extra": {"pointees": "text"}}
        return c

    a = cols('["00000000",null,null,null]', True)
    b = cols('["F8000010",null,null,null]', True)
    res = run_diff(a, b)  # type: ignore[arg-type]
    assert _findings(res) == [("changed", 0, 0)]  # both keep pointees in text: compared
    plain = cols(None, False)
    marker = events_to_columns([*ev(None), TraceEvent(tid=0, idx=1, kind="marker", text="x")])
    for other in (plain, marker):
        res = run_diff(a, other)  # type: ignore[arg-type]
        assert [f for f in _findings(res) if f[0] == "changed"] == []
        assert "text" in res.projection.dropped_fields
        assert any("pointer targets not compared" in n for n in build_report(res, "a", "b").notes)


def test_an_empty_side_whose_header_records_nothing_is_still_unmapped(tmp_path: Path) -> None:
    from x360k.trace.event import KINDS

    empty = _write(
        tmp_path / "e.jsonl",
        [],
        emulator="xenia-canary",
        recorded_kinds=[],
        masked_kinds=list(KINDS),
    )
    result = _diff(FULL_TRACE, empty)
    assert {f[0] for f in _findings(result)} == {"unmapped"}
    assert build_report(result, "f", "e").verdict == "DIVERGED"


def test_a_changed_pointee_between_two_canary_logs_is_named(tmp_path: Path) -> None:
    text = CANARY_LOG.read_text(encoding="utf-8")
    other = tmp_path / "other.log"
    other.write_text(text.replace("40000000(00000000)", "40000000(00000001)"), "utf-8")
    result = _diff(CANARY_LOG, other)
    assert _findings(result) == [("changed", 0, 0)]
    (d,) = build_report(result, "a", "b").divergences
    assert d.export == "NtCreateEvent"
    assert d.explanation.endswith("differs: args[0] points at 0x00000000 vs 0x00000001")


def test_kinds_a_header_leaves_out_but_its_file_holds_are_compared(tmp_path: Path) -> None:
    """A header that understates what its file holds never makes one side's events vanish."""
    from x360k.trace.header import TraceHeader
    from x360k.trace.jsonl_writer import JsonlWriter

    def events(status: int) -> list[TraceEvent]:
        return [
            TraceEvent(tid=0, idx=0, kind="kernel.call", name="NtClose", args=["0xf8000010"]),
            TraceEvent(tid=0, idx=1, kind="kernel.return", name="NtClose", status=status),
        ]

    ref, cand = tmp_path / "ref.jsonl", tmp_path / "cand.jsonl"
    for path, evs, header in (
        (ref, events(0), TraceHeader(emulator="a")),
        (cand, events(0xC0000008), TraceHeader(emulator="b", recorded_kinds=["checkpoint"])),
    ):
        with JsonlWriter(path, header=header) as w:
            for ev in evs:
                w.record(ev)
    res = _diff(ref, cand)
    assert {"kernel.call", "kernel.return"} <= res.projection.kinds
    assert [cls for cls, _, _ in _findings(res)] == ["changed"]  # the status, not "truncated"
    notes = build_report(res, "r", "c").notes
    assert any("holds events of kinds its header says it does not record" in n for n in notes)
