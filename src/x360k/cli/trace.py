"""``x360k trace``: show, summarise, export, query and convert trace files.

Every subcommand reads any format :func:`~x360k.trace.readers.open_trace`
knows. Bad input ends the command with one line on stderr naming file and
line, and exit status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KIND_CODE, TraceEvent
from x360k.trace.reader import TraceReader
from x360k.trace.readers import FORMATS, open_trace

F = TypeVar("F", bound=Callable[..., Any])


def _input_errors(func: F) -> F:
    """Turn TraceFormatError (and unreadable files) into one stderr line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TraceFormatError as exc:
            click.echo(f"x360k trace: {exc}", err=True)
            sys.exit(2)
        except BrokenPipeError:
            raise  # the reader of our output left (`| head`): main() ends quietly
        except OSError as exc:
            click.echo(f"x360k trace: {exc.filename or ''}: {exc.strerror or exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def _report(reader: TraceReader) -> None:
    summary = reader.report.summary()
    if summary:
        click.echo(f"x360k trace: {reader.path}: {summary}", err=True)


_lenient = click.option("--lenient", is_flag=True, help="Skip bad lines and count them.")
_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Input format (default: sniffed).",
)


@click.group("trace")
def command() -> None:
    """Show, summarise, convert and query trace files."""


def _parse_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        low = int(start, 0) if start else 0
        high = int(end, 0) if end else 1 << 62
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected A:B (either side may be empty)") from None
    if not sep:
        high = low + 1
    return low, high


def _filtered(
    events: Iterator[TraceEvent],
    tids: tuple[int, ...],
    kinds: tuple[str, ...],
    exports: tuple[str, ...],
    span: tuple[int, int] | None,
    sids: tuple[str, ...],
) -> Iterator[TraceEvent]:
    for event in events:
        if tids and event.tid not in tids:
            continue
        if kinds and event.kind not in kinds:
            continue
        if exports and event.name not in exports:
            continue
        if span is not None and not span[0] <= event.idx < span[1]:
            continue
        if sids and event.sid not in sids:
            continue
        yield event


@command.command("show")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tid", "tids", type=int, multiple=True, help="Only this thread (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable).")
@click.option("--export", "exports", multiple=True, help="Only events naming this export.")
@click.option("--range", "span", help="Only indices A:B (B excluded; A, A: and :B work).")
@click.option("--sid", "sids", multiple=True, help="Only events with this sid.")
@_lenient
@_format
@_input_errors
def show(
    path: Path,
    tids: tuple[int, ...],
    kinds: tuple[str, ...],
    exports: tuple[str, ...],
    span: str | None,
    sids: tuple[str, ...],
    lenient: bool,
    fmt: str | None,
) -> None:
    """Print events as `[idx] kind name key=value ...`."""
    from x360k.trace.text_form import format_event

    for kind in kinds:
        if kind not in KIND_CODE:
            raise click.BadParameter(f"unknown kind {kind!r}", param_hint="--kind")
    reader = open_trace(path, lenient, fmt=fmt)
    with_tid = len(tids) != 1
    out = sys.stdout
    for event in _filtered(reader.events(), tids, kinds, exports, _parse_range(span), sids):
        out.write(format_event(event, with_tid=with_tid) + "\n")
    _report(reader)


@command.command("stats")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_lenient
@_format
@_input_errors
def stats(path: Path, as_json: bool, lenient: bool, fmt: str | None) -> None:
    """Events per kind, export and thread; leaked handles; thread lifetimes."""
    from x360k.trace.stats import compute_stats

    reader = open_trace(path, lenient, fmt=fmt)
    result = compute_stats(reader.events())
    _report(reader)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(result).decode(), indent=2))
        return
    _print_stats(result)


def _print_stats(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result.events}[/] events, {len(result.threads)} thread(s)")
    kinds = Table("kind", "events", title="per kind")
    for kind, count in result.kinds.items():
        kinds.add_row(kind, str(count))
    console.print(kinds)
    exports = Table("export", "calls", title="per export (kernel.call)")
    for name, count in list(result.exports.items())[:40]:
        exports.add_row(name, str(count))
    console.print(exports)
    threads = Table(
        "tid", "raw", "events", "first", "last", "created by", "exited", title="threads"
    )
    for t in result.threads:
        threads.add_row(
            str(t.tid),
            f"{t.raw_tid:08X}" if t.raw_tid is not None else "",
            str(t.events),
            str(t.first_idx),
            str(t.last_idx),
            f"tid {t.created_by} @ {t.created_at}" if t.created_by is not None else "",
            str(t.exited_at) if t.exited_at is not None else "",
        )
    console.print(threads)
    console.print(
        f"handles: {result.handles_created} created, {result.handles_destroyed} destroyed, "
        f"{len(result.leaked)} never destroyed, {result.unmatched_destroys} unmatched destroys"
    )
    leaked = Table("sid", "handle", "type", "tid", "idx", "created by", title="never destroyed")
    for h in result.leaked[:200]:
        leaked.add_row(
            h.sid or "",
            f"{h.handle:08X}" if h.handle is not None else "",
            h.object_type or "",
            str(h.tid),
            str(h.idx),
            h.created_by or "",
        )
    if result.leaked:
        console.print(leaked)


@command.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--perfetto",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Chrome trace-event JSON here.",
)
@click.option("--max-events", default=2_000_000, show_default=True, help="Cap on output events.")
@click.option("--tid", "tids", type=int, multiple=True, help="Only this thread (repeatable).")
@click.option("--range", "span", help="Only indices A:B.")
@_lenient
@_format
@_input_errors
def export(
    path: Path,
    out: Path,
    max_events: int,
    tids: tuple[int, ...],
    span: str | None,
    lenient: bool,
    fmt: str | None,
) -> None:
    """Write a Perfetto / chrome://tracing view of the trace."""
    from x360k.trace.perfetto import write_perfetto

    reader = open_trace(path, lenient, fmt=fmt)
    events = _filtered(reader.events(), tids, (), (), _parse_range(span), ())
    result = write_perfetto(events, out, max_events=max_events)
    _report(reader)
    click.echo(f"{out}: {result.written} trace events from {result.source_events} events")
    if result.capped:
        click.echo(
            f"x360k trace: stopped at the cap of {max_events} trace events (event "
            f"{result.source_events} of the input); narrow with --tid/--range or raise "
            "--max-events",
            err=True,
        )


@command.command("sql")
@click.argument("query")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lenient", is_flag=True, help="Skip bad lines and count them.")
@_input_errors
def sql(query: str, path: Path, lenient: bool) -> None:
    """Run a DuckDB QUERY over the trace, visible as the table `events`."""
    import duckdb

    from x360k.trace.cache import load_columnar

    table = load_columnar(path, lenient=lenient)
    connection = duckdb.connect()
    connection.register("events", table)
    try:
        cursor = connection.execute(query)
    except duckdb.Error as exc:
        click.echo(f"x360k trace sql: {str(exc).splitlines()[0]}", err=True)
        sys.exit(2)
    names = [d[0] for d in cursor.description or []]
    click.echo("\t".join(names))
    while rows := cursor.fetchmany(10_000):
        for row in rows:
            click.echo("\t".join("" if v is None else str(v) for v in row))


@command.command("convert")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "fmt",
    type=click.Choice(["parquet", "arrow"]),
    default=None,
    help="Output format (default: from TARGET's suffix; .arrow or .feather means Arrow IPC "
    "file, anything else Parquet).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the columnar cache of SOURCE goes (default: $X360K_CACHE, else .x360k-cache/ "
    "in the current directory).",
)
@_lenient
@_input_errors
def convert(
    source: Path, target: Path, fmt: str | None, cache_dir: Path | None, lenient: bool
) -> None:
    """Write SOURCE as Parquet or Arrow, sorted by thread then index."""
    from x360k.trace.cache import convert as run_convert

    result = run_convert(source, target, fmt=fmt, lenient=lenient, cache_dir=cache_dir)
    summary = result.report.summary()
    if summary:
        click.echo(f"x360k trace: {source}: {summary}", err=True)
    state = "up to date" if result.skipped else "written"
    click.echo(f"{target}: {result.rows} events ({state})")
