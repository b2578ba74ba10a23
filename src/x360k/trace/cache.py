"""Columnar cache and conversion: read a big reference trace once, then nearly free.

``load_columnar`` turns any trace file into one Arrow table sorted by (tid,
idx) with each thread's row range in the metadata. The first time, it reads
the source through its reader and stores the table as an Arrow IPC file under
the cache directory, named by the xxh3-128 hash of the source's bytes; every
later call for the same bytes memory-maps that file. Parquet and Arrow files
already sorted by ``x360k trace convert`` are read directly.

The cache directory is ``$X360K_CACHE`` if set, else ``.x360k-cache/`` in the
current directory, bounded by ``$X360K_CACHE_SIZE`` with least-recently-used
eviction (:mod:`x360k.trace.cache_store`). Entries are written to a temporary
name and renamed, so a crash never leaves a half-written entry behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from x360k.trace import cache_store
from x360k.trace.arrow_reader import ArrowFileReader, header_from_schema
from x360k.trace.arrow_writer import write_arrow_file
from x360k.trace.atomic_write import atomic_write, same_file
from x360k.trace.columns import SORTED_METADATA_KEY, batch_to_events, sort_by_thread
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import SCHEMA_VERSION
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.parquet_reader import ParquetReader
from x360k.trace.parquet_writer import LAYOUT, LAYOUT_METADATA_KEY
from x360k.trace.parquet_writer import write_parquet as write_parquet
from x360k.trace.reader import ReadReport
from x360k.trace.readers import open_trace

CACHE_ENV: Final = cache_store.CACHE_ENV
SOURCE_HASH_KEY: Final = b"x360k.source_hash"
#: What the readers make of a file, in entry names: bump when that changes, so entries
#: read the old way are not served (2: signed statuses and handles read, non-string
#: args items refused by the bulk path too).
READER_REVISION: Final = 2
#: What the first read of the source reported (a torn last line, ...), kept for cache hits.
READ_REPORT_KEY: Final = b"x360k.read_report"
_HASH_CHUNK: Final = 8 << 20


def default_cache_dir() -> Path:
    """``$X360K_CACHE``, or ``.x360k-cache`` in the current directory."""
    return cache_store.cache_dir()


def content_hash(path: str | Path) -> str:
    """xxh3-128 of the file's bytes, read in chunks (hex)."""
    digest = xxhash.xxh3_128()
    try:
        with Path(path).open("rb") as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise TraceFormatError(path, exc.strerror or str(exc)) from None
    return str(digest.hexdigest())


@dataclass(slots=True)
class Loaded:
    """A columnar trace and how it was obtained."""

    table: pa.Table
    source_hash: str | None
    from_cache: bool
    report: ReadReport


def _already_sorted(path: Path) -> pa.Table | None:
    """The table of a Parquet/Arrow file that convert wrote sorted, else ``None``."""
    reader = open_trace(path)
    if isinstance(reader, ArrowFileReader | ParquetReader):
        metadata = reader.schema.metadata or {}
        if metadata.get(SORTED_METADATA_KEY) == b"tid,idx":
            return reader.table()
    return None


def load(
    path: str | Path,
    *,
    lenient: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> Loaded:
    """Like :func:`load_columnar`, also saying whether the cache answered."""
    path = Path(path)
    direct = _already_sorted(path)
    if direct is not None:
        return Loaded(direct, None, False, ReadReport())
    digest = content_hash(path)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = directory / (
        f"v{SCHEMA_VERSION}r{READER_REVISION}-{digest}{'-lenient' if lenient else ''}.arrow"
    )
    if use_cache and entry.exists():
        try:
            cached = ArrowFileReader(entry).table()
        except TraceFormatError:
            entry.unlink(missing_ok=True)
        else:
            cache_store.touch(entry)
            said = (cached.schema.metadata or {}).get(READ_REPORT_KEY, b"").decode()
            return Loaded(cached, digest, True, ReadReport(notes=[said] if said else []))
    reader = open_trace(path, lenient)
    table = sort_by_thread(reader.table())
    metadata = dict(table.schema.metadata or {})
    metadata[SOURCE_HASH_KEY] = digest.encode()
    summary = reader.report.summary()
    if summary:
        metadata[READ_REPORT_KEY] = summary.encode()
    table = table.replace_schema_metadata(metadata)
    if use_cache:
        limit = cache_store.size_limit()
        directory.mkdir(parents=True, exist_ok=True)
        _atomic(entry, lambda tmp: write_arrow_file(table, tmp))
        cache_store.evict(directory, limit, keep=entry)
    return Loaded(table, digest, False, reader.report)


def load_columnar(
    path: str | Path,
    *,
    lenient: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> pa.Table:
    """Any trace file as one Arrow table in ARROW_SCHEMA, rows sorted by (tid, idx).

    Metadata carries the header (``x360k.header``), each thread's row range
    (``x360k.threads``, see :func:`~x360k.trace.columns.read_thread_ranges`)
    and the sort order. Raises :class:`TraceFormatError` for bad input.
    """
    return load(path, lenient=lenient, cache_dir=cache_dir, use_cache=use_cache).table


def _atomic(target: Path, write: Callable[[Path], object]) -> None:
    atomic_write(target, write)


#: Output formats of ``convert``, by target suffix.
TARGET_FORMATS: Final[dict[str, str]] = {
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
CONVERT_FORMATS: Final = ("parquet", "arrow", "jsonl")


@dataclass(slots=True)
class Converted:
    """What ``convert`` did."""

    rows: int
    skipped: bool
    report: ReadReport
    fmt: str = "parquet"


def target_format(target: Path, fmt: str | None) -> str:
    """The output format for ``target``: ``fmt``, else its suffix; TraceFormatError if neither.

    A suffix that names one format and an ``fmt`` naming another is refused too,
    so ``o.csv`` is never silently Parquet and ``o.jsonl`` never holds Parquet bytes.
    """
    by_suffix = TARGET_FORMATS.get(target.suffix.lower())
    if fmt is None:
        if by_suffix is None:
            raise TraceFormatError(
                target,
                f"cannot tell the output format from {target.suffix or 'no suffix'!r}: name it "
                ".parquet, .arrow, .feather or .jsonl, or give --to parquet|arrow|jsonl",
            )
        return by_suffix
    if fmt not in CONVERT_FORMATS:
        raise TraceFormatError(target, f"cannot convert to {fmt!r}: {', '.join(CONVERT_FORMATS)}")
    if by_suffix is not None and by_suffix != fmt:
        raise TraceFormatError(
            target, f"the suffix {target.suffix!r} means {by_suffix}, not {fmt}: rename the target"
        )
    return fmt


def convert(
    source: str | Path,
    target: str | Path,
    *,
    fmt: str | None = None,
    lenient: bool = False,
    cache_dir: str | Path | None = None,
) -> Converted:
    """Write ``source`` as Parquet, an Arrow IPC file or JSONL, sorted by (tid, idx).

    ``fmt`` is ``parquet``, ``arrow`` or ``jsonl`` (default: from the target's
    suffix; an unknown suffix is refused). The target is never the source
    (same path or the same file by another name). A columnar target already
    made from the same source bytes (and, for Parquet, in the current layout)
    is left alone. The target is written to a temporary file and renamed, so
    a failed write leaves whatever was there before.
    """
    source, target = Path(source), Path(target)
    fmt = target_format(target, fmt)
    if same_file(source, target):
        raise TraceFormatError(target, "is the input: convert never writes over its source")
    if target.exists() and fmt != "jsonl":
        digest = content_hash(source)
        existing = _source_metadata(target)
        current = existing.get(SOURCE_HASH_KEY) == digest.encode() and (
            fmt != "parquet" or existing.get(LAYOUT_METADATA_KEY) == LAYOUT
        )
        if current:
            return Converted(_row_count(target), True, ReadReport(), fmt)
    loaded = load(source, lenient=lenient, cache_dir=cache_dir)
    table = loaded.table
    if fmt == "parquet":
        _atomic(target, lambda tmp: write_parquet(table, tmp))
    elif fmt == "arrow":
        _atomic(target, lambda tmp: write_arrow_file(table, tmp))
    else:
        _atomic(target, lambda tmp: _write_jsonl(table, tmp))
    return Converted(table.num_rows, False, loaded.report, fmt)


def _write_jsonl(table: pa.Table, path: Path) -> None:
    header = header_from_schema(path, table.schema)
    with JsonlWriter(path, header, lines_per_write=4096) as writer:
        for batch in table.to_batches(max_chunksize=65_536):
            for event in batch_to_events(batch):
                writer.record(event)


def _source_metadata(path: Path) -> dict[bytes, bytes]:
    """Schema metadata of a columnar file we may have written, else empty."""
    try:
        reader = open_trace(path)
    except TraceFormatError:
        return {}
    if isinstance(reader, ArrowFileReader | ParquetReader):
        return dict(reader.schema.metadata or {})
    return {}


def _row_count(path: Path) -> int:
    reader = open_trace(path)
    if isinstance(reader, ParquetReader):
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    return int(reader.table().num_rows)
