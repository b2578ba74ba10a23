"""``x360k trace``: show, summarise, export, query and convert trace files.

Every subcommand reads any format :func:`~x360k.trace.readers.open_trace`
knows and takes ``--json``. Bad input ends the command with one line on
stderr naming file and line, and exit status 2 (under ``--json`` also a JSON
error object on stdout, the rule of :mod:`x360k.cli.errors`).
"""

from __future__ import annotations

import difflib
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from x360k.cli.allocator import keep_freed_memory
from x360k.cli.errors import fail, guest_binary_hint
from x360k.cli.params import COUNT, POSITIVE
from x360k.trace.atomic_write import same_file
from x360k.trace.compressed import decompressed
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KIND_CODE, TraceEvent
from x360k.trace.reader import TraceReader
from x360k.trace.readers import FORMATS, open_trace

F = TypeVar("F", bound=Callable[..., Any])


def _input_errors(func: F) -> F:
    """Turn TraceFormatError (and unreadable files) into one error line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TraceFormatError as exc:
            fail(None, f"{exc}{guest_binary_hint(exc.path)}")
        except BrokenPipeError:
            raise  # the reader of our output left (`| head`): main() ends quietly
        except OSError as exc:
            fail(None, f"{exc.filename or ''}: {exc.strerror or exc}")

    return wrapper  # type: ignore[return-value]


def _report(reader: TraceReader, path: Path) -> None:
    """What reading skipped or found damaged, about ``path`` (the file given, not a plain copy)."""
    summary = reader.report.summary()
    if summary:
        click.echo(f"x360k trace: {path}: {summary}", err=True)


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


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
    keep_freed_memory()  # every subcommand builds its columns as large arrays


def _parse_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        low = int(start, 0) if start else 0
        high = int(end, 0) if end else 1 << 62
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected A:B (either side may be empty)", param_hint="--range"
        ) from None
    if not sep:
        high = low + 1
    if low < 0 or high <= low:
        raise click.BadParameter(
            f"{text!r}: A:B takes events A to B-1, so B must be above A and A not negative",
            param_hint="--range",
        )
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
@click.option("--tid", "tids", type=COUNT, multiple=True, help="Only this thread (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeatable).")
@click.option("--export", "exports", multiple=True, help="Only events naming this export.")
@click.option("--range", "span", help="Only indices A:B (B excluded; A, A: and :B work).")
@click.option("--sid", "sids", multiple=True, help="Only events with this sid.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON Lines (schema v1).")
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
    as_json: bool,
    lenient: bool,
    fmt: str | None,
) -> None:
    """Print events as `[idx] kind name key=value ...` (or JSON Lines with --json)."""
    from x360k.trace.text_form import format_event

    for kind in kinds:
        if kind not in KIND_CODE:
            near = difflib.get_close_matches(kind, list(KIND_CODE), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise click.BadParameter(f"unknown kind {kind!r}{hint}", param_hint="--kind")
    unknown = [name for name in exports if name not in _known_exports()]
    with decompressed(path) as plain:
        reader = open_trace(plain, lenient, fmt=fmt)
        with_tid = len(tids) != 1
        out = sys.stdout
        seen: set[str] = set()
        events = reader.events()
        if unknown:
            events = _names_seen(events, seen)
        encoder = msgspec.json.Encoder()
        for event in _filtered(events, tids, kinds, exports, _parse_range(span), sids):
            if as_json:
                out.write(encoder.encode(event).decode() + "\n")
            else:
                out.write(format_event(event, with_tid=with_tid) + "\n")
        _report(reader, path)
        missing = [name for name in unknown if name not in seen]
        if missing:
            name = missing[0]
            near = difflib.get_close_matches(name, sorted(_known_exports() | seen), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            fail(None, f"--export {name}: no such export, and no event in {path} names it{hint}")


def _names_seen(events: Iterator[TraceEvent], seen: set[str]) -> Iterator[TraceEvent]:
    for event in events:
        if event.name is not None:
            seen.add(event.name)
        yield event


@functools.cache
def _known_exports() -> frozenset[str]:
    """Every export name x360k implements or the reference list has."""
    from x360k.exports.reference_list import BY_NAME
    from x360k.exports.table import all_exports

    return frozenset(BY_NAME) | frozenset(ex.name for ex in all_exports())


@command.command("stats")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_lenient
@_format
@_input_errors
def stats(path: Path, as_json: bool, lenient: bool, fmt: str | None) -> None:
    """Events per kind, export and thread; leaked handles; thread lifetimes."""
    from x360k.cli.progress import late_bar
    from x360k.trace.parquet_reader import ParquetReader
    from x360k.trace.stats import STATS_COLUMNS, compute_stats_batches

    with decompressed(path) as plain:
        reader = open_trace(plain, lenient, fmt=fmt)
        batches = (
            reader.batches(columns=STATS_COLUMNS)
            if isinstance(reader, ParquetReader)
            else reader.batches()
        )
        with late_bar(f"stats {path.name}", _row_count(reader), enabled=sys.stderr.isatty()) as bar:
            result = compute_stats_batches(batches, progress=bar)
        _report(reader, path)
        if as_json:
            click.echo(msgspec.json.format(msgspec.json.encode(result).decode(), indent=2))
            return
        _print_stats(result)


def _row_count(reader: TraceReader) -> int | None:
    """Events in a columnar file (from its footer), or None when only reading tells."""
    from x360k.trace.parquet_reader import ParquetReader

    if isinstance(reader, ParquetReader):
        return reader.num_rows
    return None


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
    help="Write a Perfetto trace here: .json = Chrome trace-event JSON (also chrome://tracing), "
    ".pftrace/.perfetto-trace/.pb = Perfetto's protobuf format (for large traces).",
)
@click.option(
    "--time",
    "time_axis",
    type=click.Choice(["auto", "virtual", "index"]),
    default="auto",
    show_default=True,
    help="Time axis: the trace's virtual time (ts, 100 ns ticks), each thread's event index "
    "(1 index = 1 µs), or auto (virtual time when the first event has ts).",
)
@click.option(
    "--max-events",
    type=POSITIVE,
    default=2_000_000,
    show_default=True,
    help="Cap on output events.",
)
@click.option("--tid", "tids", type=COUNT, multiple=True, help="Only this thread (repeatable).")
@click.option("--range", "span", help="Only indices A:B.")
@_json
@_lenient
@_format
@_input_errors
def export(
    path: Path,
    out: Path,
    time_axis: str,
    max_events: int,
    tids: tuple[int, ...],
    span: str | None,
    as_json: bool,
    lenient: bool,
    fmt: str | None,
) -> None:
    """Write a Perfetto view of the trace (open it at ui.perfetto.dev: Open trace file).

    Threads are tracks, calls are slices, waits are slices inside them, and
    flow arrows go from a signal to the wait it satisfies and from a
    thread.create to the child thread's first event.
    """
    from x360k.trace.perfetto import output_format, write_perfetto

    out_fmt = output_format(out)
    if same_file(path, out):
        fail(None, f"{out}: is the input: export never writes over its source")
    with decompressed(path) as plain:
        reader = open_trace(plain, lenient, fmt=fmt)
        events = _filtered(reader.events(), tids, (), (), _parse_range(span), ())
        result = write_perfetto(
            events, out, max_events=max_events, time_axis=time_axis, fmt=out_fmt
        )
        _report(reader, path)
        if as_json:
            _print_json({"path": str(out), **msgspec.structs.asdict(result)})
        else:
            click.echo(
                f"{out}: {result.written} trace events from {result.source_events} events "
                f"({result.fmt}, time axis: {result.time_axis}, {result.flows} flow arrows)"
            )
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
@click.option(
    "--json", "as_json", is_flag=True, help="Print each row as a JSON object (JSON Lines)."
)
@_input_errors
def sql(query: str, path: Path, lenient: bool, as_json: bool) -> None:
    """Run a DuckDB QUERY over the trace, visible as the table `events`."""
    import duckdb

    from x360k.trace.cache import load_columnar

    with decompressed(path) as plain:
        table = load_columnar(plain, lenient=lenient)
        connection = duckdb.connect()
        connection.register("events", table)
        try:
            cursor = connection.execute(query)
        except duckdb.Error as exc:
            fail(None, str(exc).splitlines()[0])
        names = [d[0] for d in cursor.description or []]
        if as_json:
            encoder = msgspec.json.Encoder(enc_hook=str)
            while rows := cursor.fetchmany(10_000):
                for row in rows:
                    sys.stdout.write(encoder.encode(dict(zip(names, row, strict=True))).decode())
                    sys.stdout.write("\n")
            return
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
    type=click.Choice(["parquet", "arrow", "jsonl"]),
    default=None,
    help="Output format (default: from TARGET's suffix: .parquet, .arrow/.feather (Arrow IPC "
    "file) or .jsonl; any other suffix needs --to).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the columnar cache of SOURCE goes (default: $X360K_CACHE, else .x360k-cache/ "
    "in the current directory).",
)
@_json
@_lenient
@_input_errors
def convert(
    source: Path,
    target: Path,
    fmt: str | None,
    cache_dir: Path | None,
    as_json: bool,
    lenient: bool,
) -> None:
    """Write SOURCE as Parquet, Arrow or JSONL, sorted by thread then index.

    TARGET is never SOURCE (convert refuses to write over its input) and is
    written to a temporary file first, so a failure leaves TARGET as it was.
    """
    from x360k.trace.cache import convert as run_convert

    with decompressed(source) as plain:
        result = run_convert(plain, target, fmt=fmt, lenient=lenient, cache_dir=cache_dir)
        summary = result.report.summary()
        if summary:
            click.echo(f"x360k trace: {source}: {summary}", err=True)
        state = "up to date" if result.skipped else "written"
        if as_json:
            _print_json(
                {"path": str(target), "format": result.fmt, "events": result.rows, "state": state}
            )
            return
        click.echo(f"{target}: {result.rows} events ({result.fmt}, {state})")
