"""Columnar cache and conversion: read a big reference trace once, then nearly free.

``load_columnar`` turns any trace file into one Arrow table sorted by (tid,
idx) with each thread's row range in the metadata. The first time, it reads
the source through its reader and stores the table as an Arrow IPC file under
the cache directory, named by the xxh3-128 hash of the source's bytes; every
later call for the same bytes memory-maps that file. Parquet and Arrow files
already sorted by ``x360k trace convert`` are read directly.

The cache directory is ``$X360K_CACHE`` if set, else ``.x360k-cache/`` in the
current directory. Entries are written to a temporary name and renamed, so a
crash never leaves a half-written entry behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from x360k.trace.arrow_reader import ArrowFileReader
from x360k.trace.arrow_writer import write_arrow_file
from x360k.trace.columns import SORTED_METADATA_KEY, sort_by_thread
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import SCHEMA_VERSION
from x360k.trace.parquet_reader import ParquetReader
from x360k.trace.parquet_writer import LAYOUT, LAYOUT_METADATA_KEY
from x360k.trace.parquet_writer import write_parquet as write_parquet
from x360k.trace.reader import ReadReport
from x360k.trace.readers import open_trace

CACHE_ENV: Final = "X360K_CACHE"
SOURCE_HASH_KEY: Final = b"x360k.source_hash"
_HASH_CHUNK: Final = 8 << 20


def default_cache_dir() -> Path:
    """``$X360K_CACHE``, or ``.x360k-cache`` in the current directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.cwd() / ".x360k-cache"


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
    entry = directory / f"v{SCHEMA_VERSION}-{digest}{'-lenient' if lenient else ''}.arrow"
    if use_cache and entry.exists():
        try:
            return Loaded(ArrowFileReader(entry).table(), digest, True, ReadReport())
        except TraceFormatError:
            entry.unlink(missing_ok=True)
    reader = open_trace(path, lenient)
    table = sort_by_thread(reader.table())
    metadata = dict(table.schema.metadata or {})
    metadata[SOURCE_HASH_KEY] = digest.encode()
    table = table.replace_schema_metadata(metadata)
    if use_cache:
        directory.mkdir(parents=True, exist_ok=True)
        _atomic(entry, lambda tmp: write_arrow_file(table, tmp))
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


def _atomic(target: Path, write: object) -> None:
    """Write via a temporary file in the same directory, then rename over ``target``."""
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        assert callable(write)
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(slots=True)
class Converted:
    """What ``convert`` did."""

    rows: int
    skipped: bool
    report: ReadReport


def convert(
    source: str | Path,
    target: str | Path,
    *,
    fmt: str | None = None,
    lenient: bool = False,
    cache_dir: str | Path | None = None,
) -> Converted:
    """Write ``source`` as Parquet or an Arrow IPC file, sorted by (tid, idx).

    ``fmt`` is ``parquet`` or ``arrow`` (default: from the target's suffix,
    ``.arrow``/``.feather`` meaning Arrow). A target already made from the
    same source bytes (and, for Parquet, in the current layout) is left alone.
    """
    target = Path(target)
    if fmt is None:
        fmt = "arrow" if target.suffix.lower() in (".arrow", ".feather") else "parquet"
    if fmt not in ("parquet", "arrow"):
        raise TraceFormatError(target, f"cannot convert to {fmt!r}: parquet or arrow")
    if target.exists():
        digest = content_hash(source)
        existing = _source_metadata(target)
        current = existing.get(SOURCE_HASH_KEY) == digest.encode() and (
            fmt != "parquet" or existing.get(LAYOUT_METADATA_KEY) == LAYOUT
        )
        if current:
            return Converted(_row_count(target), True, ReadReport())
    loaded = load(source, lenient=lenient, cache_dir=cache_dir)
    if fmt == "parquet":
        _atomic(target, lambda tmp: write_parquet(loaded.table, tmp))
    else:
        _atomic(target, lambda tmp: write_arrow_file(loaded.table, tmp))
    return Converted(loaded.table.num_rows, False, loaded.report)


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
