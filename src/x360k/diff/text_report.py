"""The diff's text report: rich on a terminal, the same bytes written directly otherwise.

The report is first laid out as a list of blocks (lines, tables); rich renders
them as it always has. When stdout is not a terminal rich adds no colour, and
for the usual report (printable ASCII, nothing wider than the page, no markup
or emoji codes in the strings) its output is plain text that :func:`plain_text`
writes without importing rich (~20 ms of a small diff) or running its layout
engine (~30 ms). Wherever rich would do more than that (wrap or fold a line,
shrink a column, interpret a ``[tag]`` or ``:emoji:``, draw ASCII boxes for a
non-UTF-8 stream), :func:`plain_text` returns None and rich renders the
report, so the text is the same either way.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from x360k.diff.explain import WindowRow
    from x360k.diff.report import GroupRow, ProjectionRow, Report, ThreadRow

#: Page width of the report when stdout is not a terminal.
PLAIN_WIDTH: Final = 200
_THREADS_MARKUP: Final = (
    "[bold]threads[/bold] (reference -> candidate, how mapped, confidence, "
    "margin over the runner-up)"
)
_THREADS_PLAIN: Final = (
    "threads (reference -> candidate, how mapped, confidence, margin over the runner-up)"
)
_GROUPS_TITLE: Final = "findings by export and class"
_MARK_STYLE: Final = {"-": "red", "+": "green", "%": "yellow"}


class Line(msgspec.Struct, frozen=True):
    """``console.print(text)``: markup and emoji codes apply; wrapped at the page unless soft."""

    text: str
    soft: bool = False


class Bold(msgspec.Struct, frozen=True):
    """A line printed as a bold ``Text`` (no markup, no emoji codes)."""

    text: str


class Window(msgspec.Struct, frozen=True):
    """The side-by-side window of one divergence."""

    rows: list[WindowRow]
    ref_title: str
    cand_title: str


class Groups(msgspec.Struct, frozen=True):
    """The table of findings by export and class."""

    rows: list[GroupRow]


Block = Line | Bold | Window | Groups | None  # None: the threads heading

BLANK: Final = Line("")


def blocks(report: Report, show: int) -> list[Block]:
    """The report's content in print order: mapping, verdicts, rules, divergences, groups."""
    out: list[Block] = [
        Line(f"reference: {report.reference}"),
        Line(f"candidate: {report.candidate}"),
        Line(f"mode: {report.mode}"),
    ]
    out.extend(Line(f"note: {note}", soft=True) for note in report.notes)
    lost = projected_summary(report.projection)
    if lost:
        out.append(Line(f"not compared: {lost}", soft=True))
    out += [BLANK, None]
    for t in report.threads:
        r = "-" if t.ref_tid is None else str(t.ref_tid)
        c = "-" if t.cand_tid is None else str(t.cand_tid)
        out.append(
            Line(
                f"  tid {r:>4} -> {c:<4} {t.method:<17} {t.confidence:4.2f} {margin(t):<14} "
                f"{t.verdict}  ({t.ref_events} / {t.cand_events} events, {t.matched} matched"
                + (f", {t.skipped} skipped by checkpoint" if t.skipped else "")
                + ")"
            )
        )
    out.append(BLANK)
    on = [f"{r.name} ({r.events})" for r in report.rules if r.enabled]
    off = [r.name for r in report.rules if not r.enabled]
    out.append(Line("rules on: " + (", ".join(on) or "none")))
    if off:
        out.append(Line("rules off: " + ", ".join(off)))
    if report.ignored:
        out.append(Line("ignored fields: " + ", ".join(report.ignored)))
    for e in [
        *report.divergences[:show],
        *report.truncations[: max(0, show - len(report.divergences))],
    ]:
        rt, ct = _tid(e.ref_tid), _tid(e.cand_tid)
        out += [
            BLANK,
            Bold(f"#{e.number} {e.cls.upper()}  tid {rt} / {ct}"),
            Line(e.explanation),
            Window(e.window, f"reference tid {rt}", f"candidate tid {ct}"),
        ]
        if e.ref_stack or e.cand_stack:
            out.append(
                Line(
                    "  open calls: ref "
                    + (" > ".join(e.ref_stack) or "-")
                    + " | cand "
                    + (" > ".join(e.cand_stack) or "-")
                )
            )
        out.extend(Line(f"  handle: {h}") for h in e.handles)
        out.append(Line(f"  re-run: {e.rerun}", soft=True))
    if report.groups:
        out += [BLANK, Groups(report.groups)]
    shown = min(show, len(report.divergences))
    if report.divergence_count > shown:
        out.append(
            Line(
                f"({report.divergence_count - shown} more divergences not shown in detail: "
                "--show N, --json (lists every one) or --html)"
            )
        )
    out += [BLANK, Bold(f"verdict: {report.verdict}")]
    if report.verdict in ("DIVERGED", "PARTIAL") and not report.exit_code:
        out.append(
            Line(f"(exit status 0: no finding of a --fail-on class: {', '.join(report.fail_on)})")
        )
    return out


def _tid(tid: int) -> str:
    return "-" if tid < 0 else str(tid)


def margin(t: ThreadRow) -> str:
    if t.margin is None:
        return "-"
    return f"+{t.margin:.2f} vs {t.runner_up}"


def projected_summary(view: ProjectionRow) -> str:
    """``reference 12 events (kind import.call 8, ...); candidate none``, or "" if nothing."""
    parts = []
    for side in ("reference", "candidate"):
        counts = view.events.get(side, {})
        total = sum(counts.values())
        if not total:
            continue
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        what = ", ".join(f"{k} {n}" for k, n in top[:6]) + (", ..." if len(top) > 6 else "")
        parts.append(f"{side} {total} events ({what})")
    return "; ".join(parts)


# ------------------------------------------------------------------------- rich


def render_text(report: Report, console: Console, *, show: int = 10) -> None:
    """The report through rich (colours and the terminal's width when on a terminal)."""
    from rich.text import Text

    for block in blocks(report, show):
        if block is None:
            console.print(_THREADS_MARKUP)
        elif isinstance(block, Line):
            if not block.text:
                console.print()
            else:
                console.print(block.text, highlight=False, soft_wrap=block.soft or None)
        elif isinstance(block, Bold):
            console.print(Text(block.text, style="bold"))
        elif isinstance(block, Window):
            console.print(_window_table(block))
        else:
            console.print(_groups_table(block))


def _styled(line: str | None, fields: dict[str, str], differing: list[str]) -> Text:
    from rich.text import Text

    if line is None:
        return Text("")
    t = Text(line)
    for name in differing:
        value = fields.get(name)
        if value is None:
            continue
        token = f"{name}={value}"
        start = line.find(token)
        if start >= 0:
            t.stylize("bold red", start, start + len(token))
    return t


def _window_table(block: Window) -> Table:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column(" ", no_wrap=True)
    table.add_column(block.ref_title, overflow="fold")
    table.add_column(block.cand_title, overflow="fold")
    for row in block.rows:
        style = _MARK_STYLE.get(row.mark, "")
        left = _styled(row.ref, row.ref_fields, row.differing)
        right = _styled(row.cand, row.cand_fields, row.differing)
        if style:
            left.stylize(style)
            right.stylize(style)
        table.add_row(row.mark, left, right)
    return table


def _groups_table(block: Groups) -> Table:
    from rich.table import Table

    table = Table(title=_GROUPS_TITLE, title_justify="left")
    table.add_column("export")
    table.add_column("class")
    table.add_column("count", justify="right")
    table.add_column("first")
    for g in block.rows:
        table.add_row(g.export, g.cls, str(g.count), g.first)
    return table


# ------------------------------------------------------------------------- plain


class _NotPlain(Exception):
    """Rich would do more than write this text as it is."""


def _plain(text: str, limit: int | None = None, *, markup: bool = True) -> str:
    """``text`` as rich prints it when that is the text itself, else _NotPlain.

    Printable ASCII only (one cell a character, no tabs or line breaks), within
    ``limit`` cells when rich would crop it; under markup, no ``[`` that could
    open a tag or is escaped, and no ``:name:`` that rich would turn into an emoji.
    """
    if not (text.isascii() and text.isprintable()):
        raise _NotPlain
    if limit is not None and len(text) > limit:
        raise _NotPlain
    return _unmarked(text) if markup else text


def _unmarked(text: str) -> str:
    if "[" in text and ("\\[" in text or _may_be_tag(text)):
        raise _NotPlain
    if text.count(":") > 1 and not _emoji_free(text):
        raise _NotPlain
    return text


#: Characters in no emoji name rich knows (a test holds rich's table to it).
NOT_IN_EMOJI_NAMES: Final = frozenset("=/,")


def _emoji_free(text: str) -> bool:
    """Whether rich's emoji replacement leaves ``text`` as it is.

    Rich looks up every ``:name:`` (``:name-emoji:``, ``:name-text:``) in its
    table; a name holding a character no emoji name has (``--from 6:1=1:1``)
    is left alone without loading that table.
    """
    for m in re.finditer(r":(\S*?)(?:-(?:emoji|text))?:", text):
        if not NOT_IN_EMOJI_NAMES.intersection(m.group(1)):
            from rich._emoji_replace import _emoji_replace

            return _emoji_replace(text) == text
    return True


def _wrapped(text: str, width: int, *, markup: bool = True) -> list[str]:
    """The lines rich word-wraps a printable ASCII ``text`` into at ``width`` cells.

    Rich breaks before a word (with the spaces in front of it) that does not
    fit what is left of the line, and drops the spaces that would stick out;
    a word longer than a whole line it folds, which is left to rich.
    """
    _plain(text, markup=markup)
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    begin = offset = 0
    for m in re.finditer(r"\s*\S+\s*", text):
        start, word = m.start(), m.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            raise _NotPlain
        elif offset and start:
            lines.append(text[begin:start])
            begin, offset = start, len(word)
    lines.append(text[begin:])
    out = []
    for line in lines:
        if len(line) > width:
            kept = line.rstrip()
            line = line[: max(width, len(kept))]
            if len(line) > width:
                raise _NotPlain
        out.append(line)
    return out


def _may_be_tag(text: str) -> bool:
    """A ``[`` followed by what may start a rich markup tag (a letter, ``#``, ``/``, ``@``)."""
    at = text.find("[")
    while at >= 0:
        nxt = text[at + 1 : at + 2]
        if nxt and (("a" <= nxt <= "z") or nxt in "#/@"):
            return True
        at = text.find("[", at + 1)
    return False


def plain_text(report: Report, *, show: int = 10, width: int = PLAIN_WIDTH) -> str | None:
    """The report as rich writes it to a non-terminal ``width`` cells wide, or None.

    None when rich would lay some part out differently from the text as it
    is (see the module docstring); the caller then renders with rich.
    """
    out: list[str] = []
    try:
        for block in blocks(report, show):
            if block is None:
                out.append(_THREADS_PLAIN)
            elif isinstance(block, Line):
                if block.soft:
                    out.append(_plain(block.text))
                else:
                    out.extend(_wrapped(block.text, width))
            elif isinstance(block, Bold):
                out.extend(_wrapped(block.text, width, markup=False))
            elif isinstance(block, Window):
                out.extend(_plain_window(block, width))
            else:
                out.extend(_plain_groups(block, width))
    except _NotPlain:
        return None
    out.append("")
    return "\n".join(out)


def _plain_window(block: Window, width: int) -> list[str]:
    """Rich's borderless three-column table, when every column fits at its widest."""
    marks = [_plain(r.mark) for r in block.rows]
    refs = [_plain(r.ref or "", markup=False) for r in block.rows]
    cands = [_plain(r.cand or "", markup=False) for r in block.rows]
    heads = (" ", _plain(block.ref_title), _plain(block.cand_title))
    columns = zip(heads, (marks, refs, cands), strict=True)
    w0, w1, w2 = (max(len(v) for v in (h, *col)) or 1 for h, col in columns)
    # padding (0, 1) without the outer edges: 1 + 2 + 1 cells between and around the columns
    if w0 + w1 + w2 + 4 > width:
        raise _NotPlain
    lines = [f"{heads[0]:<{w0}}  {heads[1]:<{w1}}  {heads[2]:<{w2}}"]
    lines.extend(
        f"{m:<{w0}}  {r:<{w1}}  {c:<{w2}}" for m, r, c in zip(marks, refs, cands, strict=True)
    )
    return lines


def _plain_groups(block: Groups, width: int) -> list[str]:
    """Rich's default (heavy-headed) box table with a left-justified title."""
    cols = [
        ("export", [_plain(g.export) for g in block.rows], False),
        ("class", [_plain(g.cls) for g in block.rows], False),
        ("count", [str(g.count) for g in block.rows], True),
        ("first", [_plain(g.first) for g in block.rows], False),
    ]
    widths = [max(len(v) for v in (head, *values)) for head, values, _ in cols]
    total = sum(widths) + 2 * len(widths) + len(widths) + 1
    if total > width:
        raise _NotPlain

    def row(cells: list[str], edge: str, sep: str) -> str:
        parts = []
        for (_, _, right), w, cell in zip(cols, widths, cells, strict=True):
            parts.append(f" {cell:>{w}} " if right else f" {cell:<{w}} ")
        return edge + sep.join(parts) + edge

    lines = [
        f"{_GROUPS_TITLE:<{total}}",
        "┏" + "┳".join("━" * (w + 2) for w in widths) + "┓",
        row([head for head, _, _ in cols], "┃", "┃"),
        "┡" + "╇".join("━" * (w + 2) for w in widths) + "┩",
    ]
    lines.extend(row(list(cells), "│", "│") for cells in zip(*(v for _, v, _ in cols), strict=True))
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return lines


def rich_would_style(stream: IO[str]) -> bool:
    """Whether rich may do more than write text to ``stream``, as its Console decides:
    a terminal (escape codes), or anything under IPython (which rich renders for itself)."""
    import builtins

    if hasattr(builtins, "get_ipython"):
        return True
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except ValueError:
        return False


def write_text(report: Report, stream: IO[str], *, show: int = 10) -> None:
    """The text report on ``stream``: written directly where rich would add nothing, else rich."""
    on_terminal = stream.isatty()
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower()
    if (
        not on_terminal
        and not rich_would_style(stream)
        and encoding.startswith("utf")
        and sys.platform != "win32"
    ):
        text = plain_text(report, show=show)
        if text is not None:
            stream.write(text)
            stream.flush()
            return
    from rich.console import Console

    console = Console(file=stream, highlight=False, width=None if on_terminal else PLAIN_WIDTH)
    render_text(report, console, show=show)
