"""Never a false MATCH: empty sides, missing threads, --fail-on, every divergence in JSON."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.diff.compare import run_diff
from x360k.diff.inputs import events_to_columns
from x360k.diff.report import build_report, render_html
from x360k.trace.event import TraceEvent, hex_arg
from x360k.trace.jsonl_writer import JsonlWriter

from .pairgen import make_pair

FIXTURES = Path(__file__).parent / "fixtures"
CANARY_LOG = FIXTURES / "calls_canary.log"
FULL_TRACE = FIXTURES / "calls_x360k.jsonl"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X360K_CACHE", str(tmp_path / "cache"))


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["diff", *args])
    return res.exit_code, res.stdout, res.stderr


def _jsonl(path: Path, events: list[TraceEvent]) -> str:
    with JsonlWriter(path) as w:
        for ev in events:
            w.record(ev)
    return str(path)


def _twenty() -> list[TraceEvent]:
    out = []
    for k in range(10):
        out.append(
            TraceEvent(
                tid=0,
                idx=2 * k,
                kind="kernel.call",
                name="RtlCompareMemoryUlong",
                args=["0x40000000", hex_arg(k), "0x00000004"],
            )
        )
        out.append(
            TraceEvent(
                tid=0, idx=2 * k + 1, kind="kernel.return", name="RtlCompareMemoryUlong", ret=k
            )
        )
    return out


def test_an_empty_candidate_is_an_unmapped_divergence_in_every_format(tmp_path: Path) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", _twenty())
    cand = _jsonl(tmp_path / "empty.jsonl", [])
    code, out, _ = _run(ref, cand)
    assert code == 1
    assert "verdict: DIVERGED" in out and "MATCH" not in out
    assert "UNMAPPED" in out
    notes = [line for line in out.splitlines() if line.startswith("note:") and "no events" in line]
    assert len(notes) == 1 and "empty.jsonl" in notes[0]
    code, out, err = _run("--json", ref, cand)
    assert code == 1
    rep = msgspec.json.decode(out)
    assert rep["verdict"] == "DIVERGED" and rep["exit_code"] == 1
    assert [t["counts"] for t in rep["threads"]] == [{"unmapped": 1}]
    (d,) = rep["divergences"]
    assert (d["cls"], d["ref_count"], d["cand_count"]) == ("unmapped", 20, 0)
    assert "no events at all" in d["explanation"]
    assert "no events" in err  # said once on stderr too, since stdout is the JSON
    page = tmp_path / "r.html"
    assert _run("--html", str(page), ref, cand)[0] == 1
    text = page.read_text(encoding="utf-8")
    assert "unmapped" in text and "DIVERGED" in text and "no events" in text


def test_two_empty_inputs_are_one_input_error_line(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", [])
    b = _jsonl(tmp_path / "b.jsonl", [])
    code, out, err = _run(a, b)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "neither input yields any events" in err


def test_a_missing_worker_thread_fails_and_fail_on_chooses(tmp_path: Path) -> None:
    pair = make_pair(61, inject=())
    gone = pair.tid_map[3]
    ref = _jsonl(tmp_path / "r.jsonl", pair.ref)
    cand = _jsonl(tmp_path / "c.jsonl", [e for e in pair.cand if e.tid != gone])
    code, out, _ = _run("--json", ref, cand)
    assert code == 1
    rep = msgspec.json.decode(out)
    assert rep["verdict"] == "DIVERGED"
    lone = [d for d in rep["divergences"] if d["cls"] == "unmapped"]
    assert [(d["ref_tid"], d["cand_tid"]) for d in lone] == [(3, -1)]
    code, out, _ = _run("--fail-on", "changed,missing", ref, cand)
    assert code == 0
    assert "verdict: DIVERGED" in out and "exit status 0" in out
    assert _run("--fail-on", "all", ref, cand)[0] == 1


def test_fail_on_rejects_an_unknown_class_in_one_line(tmp_path: Path) -> None:
    ref = _jsonl(tmp_path / "r.jsonl", _twenty())
    code, _, err = _run("--fail-on", "changed,bogus", ref, ref)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "'bogus'" in err


def test_truncated_fails_only_when_asked(tmp_path: Path) -> None:
    events = _twenty()
    ref = _jsonl(tmp_path / "r.jsonl", events)
    cand = _jsonl(tmp_path / "c.jsonl", events[:12])
    code, out, _ = _run(ref, cand)
    assert (code, "verdict: PREFIX MATCH" in out) == (0, True)
    assert _run("--fail-on", "default,truncated", ref, cand)[0] == 1


def test_canary_log_at_the_default_level_never_matches(tmp_path: Path) -> None:
    """Without its 'd>' lines canary's log holds no call of these exports: never a match.

    None of the fixture's exports is tagged important in canary (ExCreateThread is
    logged at level d), so at the default level only thread and module messages remain.
    """
    lines = CANARY_LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    default = tmp_path / "default.log"
    default.write_text("".join(x for x in lines if not x.startswith("d>")), encoding="utf-8")
    code, out, _ = _run(str(default), str(FULL_TRACE))
    assert code == 1 and "verdict: MATCH" not in out
    assert any(x.startswith("note:") and "no events" in x for x in out.splitlines()), out
    none = tmp_path / "none.log"
    none.write_text("".join(x for x in lines if "(" not in x), encoding="utf-8")
    code, out, _ = _run(str(FULL_TRACE), str(none))
    # a side without events is missing every thread (its header's "records nothing"
    # projects nothing away): each thread of the other side is an unmapped divergence
    assert code == 1 and "verdict: DIVERGED" in out
    assert out.count("UNMAPPED  (") == 2
    (note,) = [x for x in out.splitlines() if x.startswith("note:") and "no events" in x]
    assert "none.log" in note and "d>" in note


def test_an_in_thread_swap_fails_through_the_cli(tmp_path: Path) -> None:
    pair = make_pair(21, inject=("reordered",))
    ref = _jsonl(tmp_path / "r.jsonl", pair.ref)
    cand = _jsonl(tmp_path / "c.jsonl", pair.cand)
    code, out, _ = _run(ref, cand)
    assert code == 1
    assert "REORDERED" in out and "verdict: DIVERGED" in out


def _many(n: int, every: int = 6) -> tuple[list[TraceEvent], list[TraceEvent]]:
    """Two single-thread traces with ``n`` one-event changes, ``every`` events apart."""
    ref: list[TraceEvent] = []
    cand: list[TraceEvent] = []
    for k in range(n * every):
        ret = k * 7919 & 0xFFFF
        changed = k % every == every - 1
        for side, value in ((ref, ret), (cand, ret + 1 if changed else ret)):
            side.append(
                TraceEvent(
                    tid=0, idx=k, kind="kernel.return", name="RtlCompareMemoryUlong", ret=value
                )
            )
    return ref, cand


def test_json_lists_every_divergence_past_the_explained_cap(tmp_path: Path) -> None:
    ref_ev, cand_ev = _many(250)
    ref = _jsonl(tmp_path / "r.jsonl", ref_ev)
    cand = _jsonl(tmp_path / "c.jsonl", cand_ev)
    code, out, _ = _run("--json", ref, cand)
    assert code == 1
    rep = msgspec.json.decode(out)
    assert rep["divergence_count"] == 250 == len(rep["divergences"])
    assert [d["number"] for d in rep["divergences"]] == list(range(1, 251))
    assert [d["ref_idx"] for d in rep["divergences"]] == [6 * k + 5 for k in range(250)]
    assert all(d["fields"] == ["ret"] for d in rep["divergences"])
    cap = rep["explained_cap"]
    assert cap == 200
    assert all(d["window"] for d in rep["divergences"][:cap])
    assert not any(d["window"] for d in rep["divergences"][cap:])  # listed in brief
    for d in (rep["divergences"][0], rep["divergences"][-1]):
        k = (d["ref_idx"] - 5) // 6
        ret = (6 * k + 5) * 7919 & 0xFFFF
        assert f"differs: ret 0x{ret:08x} vs 0x{ret + 1:08x}" in d["explanation"]
    assert sum(g["count"] for g in rep["groups"]) == 250
    code, out, _ = _run("--show", "3", ref, cand)
    assert out.count("#") >= 3 and "#4 CHANGED" not in out
    assert "247 more divergences not shown in detail" in out


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k == "id" and v:
                self.ids.add(v)
            if k == "href" and v:
                self.links.append(v)


def test_html_has_an_index_of_divergences_with_anchors_and_named_statuses() -> None:
    ref_ev, cand_ev = _many(5)
    cand_ev[2] = TraceEvent(
        tid=0, idx=2, kind="kernel.return", name="NtCreateEvent", status=0xC0000035
    )
    ref_ev[2] = TraceEvent(tid=0, idx=2, kind="kernel.return", name="NtCreateEvent", status=0)
    result = run_diff(events_to_columns(ref_ev), events_to_columns(cand_ev))
    report = build_report(result, "r", "c")
    page = render_html(report)
    parser = _Ids()
    parser.feed(page)
    assert "index" in parser.ids
    anchors = [link for link in parser.links if link.startswith("#d")]
    assert len(anchors) == report.divergence_count == 6
    assert {a[1:] for a in anchors} <= parser.ids
    assert "STATUS_OBJECT_NAME_COLLISION (0xC0000035)" in page
    first = report.divergences[0]
    assert "STATUS_SUCCESS (0x00000000) vs STATUS_OBJECT_NAME_COLLISION (0xC0000035)" in (
        first.explanation
    )
    assert "margin over runner-up" in page


def test_a_torn_last_line_is_said_in_text_and_json_cache_hit_included(tmp_path: Path) -> None:
    """An emulator killed mid-write leaves half a line: the report says it was ignored."""
    ref = _jsonl(tmp_path / "ref.jsonl", _twenty())
    whole = Path(ref).read_bytes()
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(whole[: whole.rstrip(b"\n").rfind(b"\n") + 1] + b'{"tid":0,"idx":19,"ki')
    for args in ((ref, str(torn)), (str(torn), ref), (str(torn), ref, "--cache")):
        _, out, _ = _run(*args)
        assert "torn.jsonl: partial last line ignored" in out
        assert "TRUNCATED" in out and "verdict: MATCH" not in out  # "how far we got", said
    _, out, _ = _run(str(torn), ref, "--cache", "--json")  # the second read hits the cache
    notes = msgspec.json.decode(out)["notes"]
    assert any("torn.jsonl: partial last line ignored" in n for n in notes)


def test_a_header_of_a_newer_schema_is_refused_not_guessed_at(tmp_path: Path) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", _twenty())
    first, rest = Path(ref).read_text().split("\n", 1)
    header = msgspec.json.decode(first)
    header["schema_version"] = 7
    newer = tmp_path / "newer.jsonl"
    newer.write_text(msgspec.json.encode(header).decode() + "\n" + rest)
    code, out, err = _run(ref, str(newer))
    assert code == 2 and out == ""
    assert err.strip() == f"x360k diff: {newer}:1: bad header: schema_version 7 is not " + (
        "supported (this reader knows 1)"
    )


def test_listing_every_divergence_hands_mapped_pages_back_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows listed in brief are scattered over the trace; pages go back after each batch."""
    import io

    from x360k.diff import report as report_module
    from x360k.diff.inputs import TraceColumns
    from x360k.diff.report import write_json

    ref_ev, cand_ev = _many(230)
    result = run_diff(events_to_columns(ref_ev), events_to_columns(cand_ev))
    rep = build_report(result, "r", "c")
    monkeypatch.setattr(report_module, "BRIEF_BATCH", 8)
    released: list[int] = []
    monkeypatch.setattr(TraceColumns, "release", lambda self: released.append(1))
    out = io.BytesIO()
    write_json(rep, result, out)
    listed = msgspec.json.decode(out.getvalue())["divergences"]
    assert len(listed) == 230
    assert len(released) == 2 * -(-(230 - rep.explained_cap) // 8)  # both sides, each batch


def test_events_kept_during_the_compare_list_the_same_json(tmp_path: Path) -> None:
    """--json keeps each divergence's first events while the pair is compared: same report."""
    import io

    from x360k.diff.compare import DiffOptions
    from x360k.diff.report import write_json

    ref_ev, cand_ev = _many(230)
    ref_ev = ref_ev[:-7]  # a truncated tail too: a finding with no candidate row
    outs = []
    for keep in (False, True):
        result = run_diff(
            events_to_columns(ref_ev),
            events_to_columns(cand_ev),
            DiffOptions(keep_first_events=keep),
        )
        kept = sum(len(p.first_events) for p in result.pairs)
        assert kept == (sum(f.divergent for p in result.pairs for f in p.findings) if keep else 0)
        out = io.BytesIO()
        write_json(build_report(result, "r", "c"), result, out)
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    assert len(msgspec.json.decode(outs[1])["divergences"]) > 200
