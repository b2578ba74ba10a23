"""``x360k diff REF CAND``: where two traces part ways, per guest thread.

Exit status: 0 match (or prefix match), 1 a finding of a ``--fail-on`` class (by
default every divergence, ``unmapped`` included) or nothing compared, 2 input
error. Input errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from x360k.cli.allocator import keep_freed_memory
from x360k.cli.errors import fail, guest_binary_hint
from x360k.cli.params import COUNT, check_thread_map
from x360k.diff.rules import FAIL_ON_CLASSES, IGNORABLE, RULES

if TYPE_CHECKING:
    from x360k.diff.compare import StartPoint
    from x360k.diff.inputs import TraceColumns

#: Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]

#: Inputs bigger than this take over a second to read: show a progress bar.
PROGRESS_BYTES = 32 << 20

_FROM = re.compile(r"^(\d+):(\d+)=(\d+):(\d+)$")


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    if not enabled:
        yield lambda _s, _d, _t: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("diff", total=1)

        def step(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=max(total, 1))

        yield step


def parse_fail_on(text: str) -> frozenset[str]:
    """``--fail-on``: a comma list of classes, 'default' or 'all'; ValueError names a bad one."""
    from x360k.diff.classify import DEFAULT_FAIL_ON

    out: set[str] = set()
    for item in filter(None, (t.strip().lower() for t in text.split(","))):
        if item == "default":
            out |= DEFAULT_FAIL_ON
        elif item == "all":
            out |= set(FAIL_ON_CLASSES)
        elif item in FAIL_ON_CLASSES:
            out.add(item)
        else:
            raise ValueError(
                f"--fail-on {item!r}: not a finding class (one of {', '.join(FAIL_ON_CLASSES)}, "
                "default, all)"
            )
    return frozenset(out)


def _check_start(start: StartPoint, ref: TraceColumns, cand: TraceColumns) -> None:
    """Refuse a ``--from`` that names a missing thread or starts past a thread's last event
    (either would compare nothing, which must never read as a match)."""
    for side, cols, tid, idx in (
        ("reference", ref, start.ref_tid, start.ref_idx),
        ("candidate", cand, start.cand_tid, start.cand_idx),
    ):
        tids = cols.thread_tids.tolist()
        if tid not in tids:
            have = ", ".join(map(str, tids[:20])) + (", ..." if len(tids) > 20 else "")
            _fail(f"--from: the {side} trace has no thread {tid} (its threads: {have or 'none'})")
        _, hi = cols.thread_range(tid)
        last = cols.idx_at(hi - 1)
        if idx > last:
            _fail(
                f"--from: the {side}'s thread {tid} ends at #{last}; #{idx} is past its last "
                "event, so nothing would be compared"
            )


def _fail(message: str) -> None:
    fail("diff", message)  # one line on stderr; under --json also a JSON error on stdout


@click.command("diff")
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("cand", type=click.Path(path_type=Path))
@click.option("--first", is_flag=True, help="Stop at the first divergence of each thread pair.")
@click.option(
    "--first-occurrence", is_flag=True, help="Compare only the order exports are first called."
)
@click.option(
    "--bisect",
    is_flag=True,
    help="Skip to the last checkpoint whose checksums agree (binary search); implies --first.",
)
@click.option("--map", "map_", default="", metavar="R=C,...", help="Force thread pairs: 6=1,9=3.")
@click.option(
    "--ignore", multiple=True, type=click.Choice(IGNORABLE), help="Do not compare this field."
)
@click.option(
    "--rule",
    "rules_on",
    multiple=True,
    type=click.Choice(sorted(RULES)),
    help="Turn a normalisation rule on (all are on by default).",
)
@click.option(
    "--no-rule",
    "rules_off",
    multiple=True,
    type=click.Choice(sorted(RULES)),
    help="Turn a normalisation rule off.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_out", type=click.Path(path_type=Path), help="Write an HTML report.")
@click.option(
    "--perfetto",
    "perfetto_out",
    type=click.Path(path_type=Path),
    help="Write a Perfetto excerpt around each divergence.",
)
@click.option(
    "--from",
    "from_",
    default=None,
    metavar="RT:RI=CT:CI",
    help="Compare one thread pair from these indices on (the re-run command uses it).",
)
@click.option(
    "--args-table",
    "args_table",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON/YAML {export: [ptr|handle|value, ...]} overriding the export registry's types.",
)
@click.option(
    "--cache/--no-cache",
    default=True,
    help="Cache the reference as a sorted Arrow file, so the next diff memory-maps it "
    "(default: on; in $X360K_CACHE, else .x360k-cache/).",
)
@click.option(
    "--show", type=COUNT, default=10, show_default=True, help="Divergences shown in detail as text."
)
@click.option(
    "--fail-on",
    "fail_on",
    default="default",
    metavar="CLASS,...",
    help="Finding classes that make the exit status 1: any of "
    + ", ".join(FAIL_ON_CLASSES)
    + "; 'default' (all but truncated) or 'all'.",
)
def command(
    ref: Path,
    cand: Path,
    first: bool,
    first_occurrence: bool,
    bisect: bool,
    map_: str,
    ignore: tuple[str, ...],
    rules_on: tuple[str, ...],
    rules_off: tuple[str, ...],
    as_json: bool,
    html_out: Path | None,
    perfetto_out: Path | None,
    from_: str | None,
    args_table: Path | None,
    cache: bool,
    show: int,
    fail_on: str,
) -> None:
    """Find where CAND parts ways with REF, per guest thread, and explain why."""
    keep_freed_memory()  # before the first array: the keys are built stretch by stretch
    from x360k.diff.compare import DiffOptions, StartPoint, run_diff
    from x360k.diff.inputs import InputError, load_pair
    from x360k.diff.keys import Normalisation, load_arg_table, registry_arg_table
    from x360k.diff.mapping import parse_map
    from x360k.trace.atomic_write import same_file

    for option, out in (("--html", html_out), ("--perfetto", perfetto_out)):
        if out is not None and any(same_file(out, p) for p in (ref, cand)):
            _fail(f"{option} {out}: is an input of this diff; a report never writes over a trace")
    try:
        forced = parse_map(map_)
    except ValueError as exc:
        _fail(str(exc))
    start = None
    if from_:
        m = _FROM.match(from_.strip())
        if not m:
            _fail(
                f"--from {from_!r}: expected REFTID:REFIDX=CANDTID:CANDIDX, e.g. 6:102553=1:102553"
            )
        else:
            start = StartPoint(*(int(g) for g in m.groups()))
    try:
        fail = parse_fail_on(fail_on)
    except ValueError as exc:
        _fail(str(exc))
        return
    rules = (set(RULES) | set(rules_on)) - set(rules_off)
    table = registry_arg_table()
    if args_table is not None:
        try:
            table.update(load_arg_table(args_table))
        except ValueError as exc:
            _fail(str(exc))
    norm = Normalisation(rules=frozenset(rules), ignore=frozenset(ignore), arg_table=table)
    opts = DiffOptions(
        first=first or bisect,
        bisect=bisect,
        first_occurrence=first_occurrence,
        forced_map=forced,
        norm=norm,
        start=start,
        fail_on=fail,
        keep_first_events=as_json,  # JSON lists every divergence
    )
    try:
        size = sum(p.stat().st_size for p in (ref, cand) if p.is_file())
    except OSError:
        size = 0
    show_bar = size > PROGRESS_BYTES and sys.stderr.isatty()
    began = time.perf_counter()
    with _progress(show_bar) as step:
        try:
            step(f"reading {ref.name} and {cand.name}", 0, 1)
            ref_cols, cand_cols = load_pair(ref, cand, cache=cache, columns=norm.columns())
        except InputError as exc:
            hint = next(
                (guest_binary_hint(p) for p in (ref, cand) if str(exc).startswith(str(p))), ""
            )
            _fail(f"{exc}{hint}")
            return
        try:
            check_thread_map(forced, ref_cols.thread_tids.tolist(), cand_cols.thread_tids.tolist())
        except click.BadParameter as exc:
            _fail(exc.format_message())
        if start is not None:
            _check_start(start, ref_cols, cand_cols)
        if ref_cols.n == 0 and cand_cols.n == 0:
            _fail(f"neither input yields any events: {ref}, {cand}; nothing to compare")
        result = run_diff(ref_cols, cand_cols, opts, step)
        from x360k.diff.report import (
            MAX_EXPLAINED,
            build_report,
            render_html,
            write_json,
        )

        report = build_report(result, str(ref), str(cand), explain=max(show, MAX_EXPLAINED))
    if as_json:
        for note in result.notes:
            click.echo(f"x360k diff: {note}", err=True)
        write_json(report, result, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        from x360k.diff.text_report import write_text

        write_text(report, sys.stdout, show=show)
    from x360k.trace.atomic_write import atomic_write

    def write(out: Path, data: bytes) -> None:
        """A report file whole or not at all (a failed write leaves what was there); a
        device or pipe (``/dev/stdout``) is written to as it is."""
        if out.exists() and not out.is_file():
            out.write_bytes(data)
        else:
            atomic_write(out, lambda tmp: tmp.write_bytes(data))

    try:
        if html_out is not None:
            write(html_out, render_html(report).encode())
        if perfetto_out is not None:
            from x360k.diff.perfetto import perfetto_excerpt

            write(perfetto_out, perfetto_excerpt(result))
    except OSError as exc:
        _fail(f"cannot write report: {exc}")
    if show_bar:
        click.echo(f"x360k diff: {time.perf_counter() - began:.1f} s", err=True)
    sys.exit(report.exit_code)
