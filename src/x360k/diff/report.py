"""The diff's report: one data model, rendered as text, JSON or a self-contained HTML page.

The model is built once (``build_report``) and every renderer reads only it,
so the three outputs never disagree. JSON carries ``schema`` and
``schema_version``; a consumer should check both. The JSON lists *every*
divergence: :func:`write_json` streams them one by one (the first
``explained_cap`` in full, the rest without window, stacks and handle origins),
so memory does not grow with their number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import IO, Final

import msgspec

from x360k.diff.classify import CLASSES, Finding
from x360k.diff.compare import DiffResult, PairResult
from x360k.diff.explain import Explained, Explainer
from x360k.diff.inputs import Rows, TraceColumns, events_at
from x360k.diff.rules import RULES
from x360k.diff.text_report import margin as _margin
from x360k.diff.text_report import projected_summary as _projected_summary
from x360k.trace.event import TraceEvent

REPORT_SCHEMA: Final = "x360k.diff.report"
REPORT_SCHEMA_VERSION: Final = 2
#: Divergences explained in full (window, open calls, handle origins); JSON lists the
#: rest too, in brief, and the grouped table counts every one.
MAX_EXPLAINED: Final = 200
#: The HTML page stops adding divergence sections past this many bytes.
HTML_CAP_BYTES: Final = 4 << 20


class ThreadRow(msgspec.Struct):
    ref_tid: int | None
    cand_tid: int | None
    method: str
    confidence: float
    verdict: str
    ref_events: int
    cand_events: int
    matched: int
    counts: dict[str, int]
    #: Events before the last agreeing checkpoint, taken as matched unseen (--bisect).
    skipped: int = 0
    #: Similarity over the reference thread's runner-up candidate (None: no other one).
    margin: float | None = None
    runner_up: int | None = None


class ProjectionRow(msgspec.Struct):
    """What both sides were compared on and what was left out (see projection.py)."""

    kinds: list[str]
    dropped_kinds: dict[str, list[str]]
    dropped_exports: list[str]
    dropped_fields: dict[str, str]
    pointees: bool
    handle_check: bool
    #: Events each side lost to the projection, by "kind K" / "export E".
    events: dict[str, dict[str, int]]


class RuleRow(msgspec.Struct):
    name: str
    enabled: bool
    events: int
    description: str


class GroupRow(msgspec.Struct):
    export: str
    cls: str
    count: int
    first: str


class Report(msgspec.Struct):
    schema: str
    schema_version: int
    reference: str
    candidate: str
    mode: str
    verdict: str
    exit_code: int
    fail_on: list[str]
    notes: list[str]
    projection: ProjectionRow
    rules: list[RuleRow]
    ignored: list[str]
    threads: list[ThreadRow]
    groups: list[GroupRow]
    truncations: list[Explained]
    divergence_count: int
    explained_cap: int
    #: The first ``explained_cap`` divergences in full (JSON: every one, see write_json).
    divergences: list[Explained]


def _numbered(result: DiffResult) -> Iterator[tuple[int, PairResult, Finding]]:
    """Every finding with its report number (1, 2, ... in thread-pair order)."""
    number = 0
    for pr in result.pairs:
        for f in pr.findings:
            number += 1
            yield number, pr, f


def build_report(
    result: DiffResult, ref_label: str, cand_label: str, *, explain: int = MAX_EXPLAINED
) -> Report:
    """Explain the first ``explain`` divergences in full and summarise everything else."""
    ex = Explainer(result, ref_label, cand_label)
    threads: list[ThreadRow] = []
    divs: list[Explained] = []
    truncs: list[Explained] = []
    groups: Counter[tuple[str, str]] = Counter()
    first_of: dict[tuple[str, str], str] = {}
    total_div = 0
    for pr in result.pairs:
        counts = Counter(f.cls for f in pr.findings)
        threads.append(
            ThreadRow(
                pr.pair.ref,
                pr.pair.cand,
                pr.pair.method,
                pr.pair.confidence,
                pr.verdict,
                len(pr.ref_rows),
                len(pr.cand_rows),
                pr.matched,
                {c: counts.get(c, 0) for c in CLASSES if counts.get(c)},
                pr.skipped,
                pr.pair.margin,
                pr.pair.runner_up,
            )
        )
    for number, pr, f in _numbered(result):
        if f.divergent:
            total_div += 1
        bucket = divs if f.divergent else truncs
        if len(bucket) >= explain:
            # still count it in the group table, by its own event's export
            key = (_export_of(result, pr, f), f.cls)
            groups[key] += 1
            first_of.setdefault(key, f"ref#{pr.ref_idx(result.ref, f.i0)}")
            continue
        e = ex.explain(number, pr, f)
        bucket.append(e)
        key = (e.export or _export_of(result, pr, f), f.cls)
        groups[key] += 1
        first_of.setdefault(key, f"tid {e.ref_tid} ref#{e.ref_idx} / cand#{e.cand_idx}")
    norm = result.options.norm
    rules = [
        RuleRow(name, norm.on(name), result.rule_counts.get(name, 0), desc)
        for name, desc in RULES.items()
    ]
    mode = (
        "first-occurrence"
        if result.options.first_occurrence
        else "first"
        if result.options.first
        else "all"
    )
    if result.divergent:
        overall = "DIVERGED"
    elif result.compared_events == 0:
        overall = "NOTHING COMPARED"
    elif result.partial:
        overall = "PARTIAL"  # agrees where compared, but a side does not record all calls
    else:
        overall = _overall(threads)
    view = result.projection
    return Report(
        schema=REPORT_SCHEMA,
        schema_version=REPORT_SCHEMA_VERSION,
        reference=ref_label,
        candidate=cand_label,
        mode=mode,
        verdict=overall,
        exit_code=1 if result.failed else 0,
        fail_on=sorted(result.options.fail_on),
        notes=[*result.notes, *view.notes()],
        projection=ProjectionRow(
            kinds=sorted(view.kinds),
            dropped_kinds={k: v for k, v in view.dropped_kinds.items() if v},
            dropped_exports=sorted(view.dropped_exports),
            dropped_fields=dict(sorted(view.dropped_fields.items())),
            pointees=view.pointees,
            handle_check=view.handle_check,
            events=result.projected,
        ),
        rules=rules,
        ignored=sorted(norm.ignore),
        threads=threads,
        groups=[
            GroupRow(exp, cls, n, first_of[(exp, cls)])
            for (exp, cls), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        truncations=truncs,
        divergence_count=total_div,
        explained_cap=explain,
        divergences=divs,
    )


def _export_of(result: DiffResult, pr: PairResult, f: Finding) -> str:
    if f.cls == "unmapped":
        return "(whole thread)"
    side, rows, pos = (
        (result.cand, pr.cand_rows, f.j0) if f.cls == "extra" else (result.ref, pr.ref_rows, f.i0)
    )
    name = side.value("name", int(rows[pos])) if pos < len(rows) else None
    return str(name) if name else "?"


#: Divergences listed in brief per batch (their events are fetched with one ``take``).
BRIEF_BATCH: Final = 1024


def all_divergences(report: Report, result: DiffResult) -> Iterator[Explained]:
    """Every divergence: the ones the report explained, then the rest in brief, a batch
    at a time (memory follows the batch, not the number of divergences)."""
    yield from report.divergences
    ex = Explainer(result, report.reference, report.candidate)
    rest = ((number, pr, f) for number, pr, f in _numbered(result) if f.divergent)
    for _ in range(len(report.divergences)):
        next(rest, None)
    while batch := list(islice(rest, BRIEF_BATCH)):
        kept = [pr.first_events.get((f.cls, f.i0, f.j0)) for _, pr, f in batch]
        if all(k is not None for k in kept):  # fetched during the compare: no re-read
            for (number, pr, f), events in zip(batch, kept, strict=True):
                assert events is not None
                yield ex.explain(number, pr, f, brief=True, events=events)
            continue
        ref_rows = [_row(pr.ref_rows, f.i0) for _, pr, f in batch]
        cand_rows = [_row(pr.cand_rows, f.j0) for _, pr, f in batch]
        r_events = _fetch(result.ref, ref_rows)
        c_events = _fetch(result.cand, cand_rows)
        for k, (number, pr, f) in enumerate(batch):
            yield ex.explain(number, pr, f, brief=True, events=(r_events[k], c_events[k]))
        # A batch's rows are scattered over the whole trace and each page fault maps its
        # neighbours too: hand the mapped pages back, or listing touches every page once.
        result.ref.release()
        result.cand.release()


def _row(rows: Rows, pos: int) -> int | None:
    return int(rows[pos]) if pos < len(rows) else None


def _fetch(cols: TraceColumns, rows: list[int | None]) -> list[TraceEvent | None]:
    wanted = [r for r in rows if r is not None]
    got = iter(events_at(cols, wanted))
    return [None if r is None else next(got) for r in rows]


def write_json(report: Report, result: DiffResult, out: IO[bytes]) -> None:
    """The report as JSON with every divergence, streamed: memory stays that of one entry."""
    enc = msgspec.json.Encoder()
    head = msgspec.to_builtins(report)
    del head["divergences"]
    out.write(b"{\n")
    for key, value in head.items():
        out.write(enc.encode(key) + b": " + enc.encode(value) + b",\n")
    out.write(b'"divergences": [')
    for k, e in enumerate(all_divergences(report, result)):
        out.write((b",\n" if k else b"\n") + enc.encode(e))
    out.write(b"\n]}\n")


def _overall(threads: list[ThreadRow]) -> str:
    """Without a divergence: MATCH, or PREFIX MATCH when a side stopped early."""
    verdicts = {t.verdict for t in threads}
    if "PREFIX MATCH" in verdicts:
        return "PREFIX MATCH"
    return "MATCH"


def to_json(report: Report) -> bytes:
    """The report as one JSON document (only the divergences it explained; see write_json)."""
    return msgspec.json.format(msgspec.json.encode(report), indent=1)


# ------------------------------------------------------------------------- html

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
th{background:#eee;text-align:left}
.win td{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
.m-minus{background:#fde2e2}.m-plus{background:#e2f6e2}.m-tilde{background:#fff6d5}
.m-pct{background:#eef}
mark{background:#f99;font-weight:bold}
.verdict{font-size:1.2em;font-weight:bold}
section{border-top:2px solid #888;margin-top:1em;padding-top:.5em}
code{background:#f4f4f4;padding:1px 3px}
"""

_MARK_CLASS = {"-": "m-minus", "+": "m-plus", "~": "m-tilde", "%": "m-pct", "=": ""}


def _html_line(line: str | None, fields: dict[str, str], differing: list[str]) -> str:
    if line is None:
        return ""
    from html import escape

    out = escape(line)
    for name in differing:
        value = fields.get(name)
        if value is None:
            continue
        token = escape(f"{name}={value}")
        out = out.replace(token, f"<mark>{token}</mark>", 1)
    return out


def render_html(report: Report, cap_bytes: int = HTML_CAP_BYTES) -> str:
    """One HTML page, no scripts, no external resources, at most about ``cap_bytes``."""
    from html import escape as e

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>x360k diff: {e(report.verdict)}</title><style>{_CSS}</style></head><body>",
        "<h1>x360k diff</h1>",
        f"<p>reference <code>{e(report.reference)}</code><br>"
        f"candidate <code>{e(report.candidate)}</code><br>mode {e(report.mode)}</p>",
        f"<p class='verdict' id='verdict'>{e(report.verdict)} (exit status "
        f"{report.exit_code}; fails on {e(', '.join(report.fail_on))})</p>",
    ]
    if report.notes:
        parts.append(
            "<ul id='notes'>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>"
        )
    lost = _projected_summary(report.projection)
    if lost:
        parts.append(f"<p id='projected'>not compared: {e(lost)}</p>")
    parts.append(
        "<h2>Threads</h2><table id='threads'><tr><th>ref tid</th><th>cand tid</th>"
        "<th>mapped by</th><th>confidence</th><th>margin over runner-up</th><th>verdict</th>"
        "<th>events</th><th>matched</th></tr>"
    )
    for t in report.threads:
        parts.append(
            f"<tr><td>{t.ref_tid if t.ref_tid is not None else '-'}</td>"
            f"<td>{t.cand_tid if t.cand_tid is not None else '-'}</td><td>{e(t.method)}</td>"
            f"<td>{t.confidence:.2f}</td><td>{e(_margin(t))}</td><td>{e(t.verdict)}</td>"
            f"<td>{t.ref_events} / {t.cand_events}</td><td>{t.matched}</td></tr>"
        )
    parts.append(
        "</table><h2>Normalisation</h2><table id='rules'><tr><th>rule</th><th>on</th>"
        "<th>events changed</th><th>what</th></tr>"
    )
    for r in report.rules:
        parts.append(
            f"<tr><td>{e(r.name)}</td><td>{'yes' if r.enabled else 'no'}</td>"
            f"<td>{r.events}</td><td>{e(r.description)}</td></tr>"
        )
    parts.append("</table>")
    if report.groups:
        parts.append(
            "<h2>By export and class</h2><table id='groups'><tr><th>export</th>"
            "<th>class</th><th>count</th><th>first</th></tr>"
        )
        parts.extend(
            f"<tr><td>{e(g.export)}</td><td>{e(g.cls)}</td><td>{g.count}</td>"
            f"<td>{e(g.first)}</td></tr>"
            for g in report.groups
        )
        parts.append("</table>")
    sections = []
    size = sum(len(p) for p in parts)
    omitted = 0
    for d in [*report.divergences, *report.truncations]:
        sec = _html_section(d)
        link = (
            f"<li><a href='#d{d.number}'>#{d.number} {e(d.cls)} {e(d.export or '')} "
            f"tid {d.ref_tid} / {d.cand_tid} ref#{d.ref_idx} / cand#{d.cand_idx}</a></li>"
        )
        if size + len(sec) + len(link) > cap_bytes:
            omitted += 1
            continue
        sections.append((link, sec))
        size += len(sec) + len(link)
    if sections:
        parts.append("<h2>Divergences</h2><ul id='index'>")
        parts.extend(link for link, _ in sections)
        parts.append("</ul>")
        if report.divergence_count > len(report.divergences):
            parts.append(
                f"<p>{report.divergence_count - len(report.divergences)} more divergences "
                "are not explained here (see --json, which lists every one).</p>"
            )
        parts.extend(sec for _, sec in sections)
    if omitted:
        parts.append(
            f"<p id='omitted'>{omitted} sections omitted to keep this page under "
            f"{cap_bytes >> 20} MiB; use --json for all of them.</p>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _html_section(d: Explained) -> str:
    from html import escape as e

    rows = "".join(
        f"<tr class='{_MARK_CLASS.get(w.mark, '')}'><td>{e(w.mark)}</td>"
        f"<td>{_html_line(w.ref, w.ref_fields, w.differing)}</td>"
        f"<td>{_html_line(w.cand, w.cand_fields, w.differing)}</td></tr>"
        for w in d.window
    )
    handles = "".join(f"<li>{e(h)}</li>" for h in d.handles)
    return (
        f"<section class='divergence' id='d{d.number}'><h3>#{d.number} {e(d.cls)} "
        f"(tid {d.ref_tid} / {d.cand_tid})</h3><p class='explanation'>{e(d.explanation)}</p>"
        f"<table class='win'><tr><th></th><th>reference tid {d.ref_tid}</th>"
        f"<th>candidate tid {d.cand_tid}</th></tr>{rows}</table>"
        f"<p>open calls: reference {e(' > '.join(d.ref_stack) or '-')}; "
        f"candidate {e(' > '.join(d.cand_stack) or '-')}</p>"
        + (f"<ul class='handles'>{handles}</ul>" if handles else "")
        + f"<p>re-run: <code>{e(d.rerun)}</code></p></section>"
    )
