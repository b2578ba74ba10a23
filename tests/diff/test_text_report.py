"""The plain text report is byte for byte what rich writes to a non-terminal, or not used."""

from __future__ import annotations

import io
import random
from pathlib import Path

import msgspec
import pytest
from rich.console import Console

from x360k.diff.compare import DiffOptions, run_diff
from x360k.diff.explain import Explained, WindowRow
from x360k.diff.inputs import events_to_columns, load
from x360k.diff.keys import Normalisation
from x360k.diff.report import GroupRow, Report, build_report
from x360k.diff.text_report import (
    NOT_IN_EMOJI_NAMES,
    PLAIN_WIDTH,
    _wrapped,
    plain_text,
    render_text,
    write_text,
)

from .pairgen import make_pair

FIXTURES = Path(__file__).parent / "fixtures"


def _rich(report: Report, show: int = 10) -> str:
    out = io.StringIO()
    render_text(report, Console(file=out, highlight=False, width=PLAIN_WIDTH), show=show)
    return out.getvalue()


def _pair_report(seed: int, **kw: object) -> Report:
    pair = make_pair(seed)
    opts = DiffOptions(norm=Normalisation(), **kw)  # type: ignore[arg-type]
    ref, cand = events_to_columns(pair.ref, "ref"), events_to_columns(pair.cand, "cand")
    result = run_diff(ref, cand, opts)
    return build_report(result, "ref.jsonl", "cand.jsonl")


def _seed_report() -> Report:
    ref = load(FIXTURES / "seed_canary_tid6.txt")
    cand = load(FIXTURES / "seed_ours_tid1.txt")
    result = run_diff(ref, cand, DiffOptions(norm=Normalisation()))
    return build_report(result, "seed_canary_tid6.txt", "seed_ours_tid1.txt")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("show", [0, 3, 10, 50])
def test_generated_reports_are_written_as_rich_writes_them(seed: int, show: int) -> None:
    report = _pair_report(seed, first=seed % 2 == 1)
    plain = plain_text(report, show=show)
    assert plain is not None  # the usual report takes the direct path
    assert plain == _rich(report, show)


def test_the_seed_report_and_a_match_are_written_as_rich_writes_them() -> None:
    seed = _seed_report()
    pair = make_pair(3, inject=())
    result = run_diff(
        events_to_columns(pair.ref, "r"),
        events_to_columns(pair.cand, "c"),
        DiffOptions(norm=Normalisation()),
    )
    match = build_report(result, "r", "c")
    assert match.verdict == "MATCH"
    for report in (seed, match):
        plain = plain_text(report)
        assert plain is not None
        assert plain == _rich(report)


def _edited(report: Report, **changes: object) -> Report:
    return msgspec.structs.replace(report, **changes)


def _first_divergence(report: Report, **changes: object) -> Report:
    first: Explained = msgspec.structs.replace(report.divergences[0], **changes)
    return _edited(report, divergences=[first, *report.divergences[1:]])


def _window_row(text: str) -> WindowRow:
    return WindowRow("~", text, None, {}, {}, [])


@pytest.mark.parametrize(
    "case",
    [
        {"reference": "[bold]ref[/bold].jsonl"},
        {"reference": "ref:smile:.jsonl"},
        {"reference": "r\u00e9f\u4e2d.jsonl"},
        {"reference": "ref\t.jsonl"},
        {"reference": "x" * 300},
        {"notes": ["a note far longer than the page " * 12]},
        {"notes": ["[red]marked up[/red] note"]},
        {"groups": [GroupRow("Nt" + "X" * 190, "changed", 7, "tid 1 ref#2 / cand#2")]},
        {"groups": [GroupRow("NtClose", "changed", 123456789, "tid 1 ref#2 / cand#2")]},
        {"groups": [GroupRow("NtClose [x]", "changed:heart:", 1, "tid 1 ref#2 / cand#2")]},
        {"verdict": "D" * 250},
        {"fail_on": []},
    ],
)
def test_what_rich_would_lay_out_itself_falls_back_to_rich(case: dict[str, object]) -> None:
    report = _edited(_seed_report(), **case)
    out = io.StringIO()
    write_text(report, out)
    assert out.getvalue() == _rich(report)


@pytest.mark.parametrize(
    "change",
    [
        {"explanation": "args[0] points at 0x00000000 vs 0x00000001 " * 6},
        {"explanation": "e" * 201},
        {"explanation": "exactly the page " + "e" * (PLAIN_WIDTH - 17)},
        {"explanation": "a [bold]tag[/bold], a [0] index and an escaped \\[x] here"},
        {"explanation": "args \\[0] differ"},
        {"window": [_window_row("w" * 150), _window_row("v" * 60)]},
        {"window": [_window_row("w" * 260)]},
        {"window": [_window_row("tab\there")]},
        {"window": []},
        {"rerun": "x360k diff " + "a" * 300 + " --from 1:2=3:4"},
        {"handles": ["0x1000 created by NtCreateEvent at ref#3 :thumbs_up:"]},
        {"handles": ["0x1000 at :1=2: and then :red_heart-emoji: here"]},
        {"handles": ["0x1000 at :1=2: and :not_an_emoji_name: here"]},
        {"ref_stack": ["A" * 120, "B" * 120]},
    ],
)
def test_divergence_sections_match_rich_whichever_path(change: dict[str, object]) -> None:
    report = _first_divergence(_seed_report(), **change)
    out = io.StringIO()
    write_text(report, out)
    assert out.getvalue() == _rich(report)


def test_a_terminal_or_forced_colour_is_left_to_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _seed_report()
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    write_text(report, out)
    assert "\x1b[" in out.getvalue()
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    out = io.StringIO()
    write_text(report, out)
    assert "\x1b[" in out.getvalue()


def test_word_wrapping_is_rich_s_on_random_lines() -> None:
    rng = random.Random(12)
    for _ in range(500):
        words = [
            "x" * rng.choice([1, 2, 5, 9, 30, 60]) + " " * rng.choice([1, 1, 1, 2, 3])
            for _ in range(rng.randrange(1, 40))
        ]
        line = " " * rng.choice([0, 0, 2]) + "".join(words)
        if rng.random() < 0.5:
            line = line.rstrip()
        out = io.StringIO()
        Console(file=out, highlight=False, width=64).print(line)
        assert "\n".join(_wrapped(line, 64)) + "\n" == out.getvalue()


def test_no_emoji_name_holds_the_characters_the_check_skips_on() -> None:
    from rich._emoji_codes import EMOJI

    assert not [name for name in EMOJI if NOT_IN_EMOJI_NAMES.intersection(name)]
