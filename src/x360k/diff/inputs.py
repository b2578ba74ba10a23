"""Open any trace x360k reads as one Arrow table sorted by (tid, idx), without copying it.

The diff never holds a whole trace as numpy columns: at 100M events that alone
would not fit in 4 GiB. It keeps the trace as an Arrow table (memory-mapped
when the file is an Arrow IPC file that ``x360k trace convert`` or our cache
wrote, so nothing is read until a thread is compared) and each step reads the
few columns it needs for one thread at a time.

Sources, fastest first:

* an Arrow IPC file sorted by (tid, idx): memory-mapped, zero copy; the pages of
  a finished thread are handed back to the kernel (:meth:`TraceColumns.release`);
* JSON Lines: streamed by :mod:`x360k.diff.spill` into an Arrow file grouped by
  thread (bounded memory whatever the length), then memory-mapped the same way;
  the reference's file is its cache entry (named by the source's content hash);
* anything else (Parquet, Arrow streams, the seed's text form, canary's log), or
  a JSONL file DuckDB cannot read as typed events: the trace layer's
  ``load_columnar``, which also names a bad line exactly.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from x360k.trace import arrowfn as af
from x360k.trace.event import FIELDS, KIND_CODE, KINDS, TraceEvent

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
I8 = npt.NDArray[np.int8]

#: A thread's rows: a range when contiguous (the usual case), else explicit row numbers.
Rows = range | I64

#: Columns every comparison reads (besides the volatile ones below).
BASE_COLUMNS: Final[tuple[str, ...]] = (
    "tid",
    "idx",
    "kind",
    "name",
    "module",
    "ordinal",
    "status",
    "ret",
    "args",
    "handle",
    "sid",
    "object_type",
    "child_tid",
    "entry",
    "checksum",
    "path",
    "offset",
    "length",
    "text",
)
#: Columns read only when the rule that ignores them is switched off.
TS_COLUMNS: Final[tuple[str, ...]] = ("ts",)
VOLATILE_COLUMNS: Final[tuple[str, ...]] = ("raw_tid", "call_id", "ret_addr", "child_raw_tid")

_THREADS_KEY: Final = b"x360k.threads"
_SORTED_KEY: Final = b"x360k.sorted"
_HEADER_KEY: Final = b"x360k.header"
_SEQ: Final = "__seq"
#: Version of the diff's own cache entries (bump when their columns change, or what the
#: reading makes of a file: 4, signed statuses and handles, non-string args items refused).
CACHE_VERSION: Final = 4


class InputError(Exception):
    """Bad or unreadable input: the message is the one line the user sees."""


def columns_for(*, timestamps: bool = False, volatile: bool = False) -> tuple[str, ...]:
    """The columns a comparison reads: the base set, plus ignored-by-default ones if asked."""
    return (
        BASE_COLUMNS + (TS_COLUMNS if timestamps else ()) + (VOLATILE_COLUMNS if volatile else ())
    )


@dataclass(slots=True)
class TraceColumns:
    """One trace as an Arrow table sorted by (tid, idx), with each thread's row range.

    ``seq`` is each row's emission order when known (traces recorded in memory);
    files sorted by the trace layer no longer know it, and row order stands in.
    """

    path: str
    table: pa.Table
    header: dict[str, Any] = field(default_factory=dict)
    thread_tids: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    thread_starts: I64 = field(default_factory=lambda: np.zeros(1, np.int64))
    seq: I64 | None = None
    mapping: mmap.mmap | None = None
    #: What reading the file skipped or found damaged (a torn last line, ...), for the report.
    read_notes: tuple[str, ...] = ()
    _events: dict[int, list[TraceEvent]] = field(default_factory=dict, repr=False)
    _event_fields: list[str] | None = field(default=None, repr=False)
    _columns: dict[str, pa.ChunkedArray] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.table.num_rows)

    def thread_range(self, tid: int) -> tuple[int, int]:
        k = int(np.searchsorted(self.thread_tids, tid))
        if k >= len(self.thread_tids) or int(self.thread_tids[k]) != tid:
            raise KeyError(tid)
        return int(self.thread_starts[k]), int(self.thread_starts[k + 1])

    def _by_name(self) -> dict[str, pa.ChunkedArray]:
        """The table's columns by name (``table.column_names`` builds a new list each call)."""
        if self._columns is None:
            self._columns = dict(zip(self.table.column_names, self.table.columns, strict=True))
        return self._columns

    def has(self, name: str) -> bool:
        return name in self._by_name()

    def column(self, name: str, lo: int = 0, hi: int | None = None) -> pa.ChunkedArray | None:
        """A column's rows [lo, hi) (zero copy), or None when the trace has no such column."""
        col = self._by_name().get(name)
        if col is None:
            return None
        n = len(col)
        end = n if hi is None else hi
        return col if (lo, end) == (0, n) else col.slice(lo, end - lo)

    def kinds(self, lo: int, hi: int) -> I8:
        """Kind codes (KIND_CODE) of rows [lo, hi)."""
        col = self.column("kind", lo, hi)
        assert col is not None
        return kind_codes(col)

    def take(self, rows: Iterable[int], names: Iterable[str]) -> dict[str, list[Any]]:
        """Python values of a few rows (for display only)."""
        idx = np.fromiter(rows, np.int64)
        present = [n for n in names if self.has(n)]
        with self._scattered():
            out: dict[str, list[Any]] = af.take_rows(self.table.select(present), idx).to_pydict()
        for n in names:
            out.setdefault(n, [None] * len(idx))
        return out

    def value(self, name: str, row: int) -> Any:
        col = self._by_name().get(name)
        if col is None:
            return None
        with self._scattered():
            return _py(name, col[row].as_py())

    def idx_at(self, row: int) -> int:
        with self._scattered():
            return int(self._by_name()["idx"][row].as_py())

    def event(self, row: int) -> TraceEvent:
        """Rebuild one event for display; only called for the few rows a report shows.

        Reports show windows of neighbouring rows, so rows are turned into
        Python a block at a time and the last few blocks are kept: one Arrow
        conversion serves the whole window.
        """
        block = row // _EVENT_BLOCK
        events = self._events.get(block)
        if events is None:
            if self._event_fields is None:  # columns with a value somewhere (the rest are None)
                cols = self.table.column_names
                self._event_fields = [
                    f for f in FIELDS if f in cols and self.table.column(f).null_count < self.n
                ]
            names = self._event_fields
            lo = block * _EVENT_BLOCK
            part = self.table.slice(lo, _EVENT_BLOCK)
            with self._scattered():
                values = {f: _pylist(part.column(f)) for f in names}
            events = [
                _to_event({f: values[f][k] for f in names}, lo + k) for k in range(part.num_rows)
            ]
            if len(self._events) >= _EVENT_BLOCKS_KEPT:
                self._events.pop(next(iter(self._events)))
            self._events[block] = events
        if not 0 <= row - block * _EVENT_BLOCK < len(events):
            raise IndexError(row)
        return events[row - block * _EVENT_BLOCK]

    @contextlib.contextmanager
    def _scattered(self) -> Iterator[None]:
        """Reads of a few rows: the OS reads the pages touched (``MADV_RANDOM``), not the
        8 MB around each, which row after row over every column reads most of a file
        (listing 10,000 divergences of a 100M pair read 9 GB more than comparing it)."""
        mapping = self.mapping
        if mapping is None or not hasattr(mmap, "MADV_RANDOM"):
            yield
            return
        with contextlib.suppress(OSError, ValueError):
            mapping.madvise(mmap.MADV_RANDOM)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                mapping.madvise(mmap.MADV_NORMAL)

    def prefetch(self, lo: int, hi: int, names: Iterable[str]) -> None:
        """Ask the OS to read rows [lo, hi) of these columns ahead (``MADV_WILLNEED``).

        The diff reads a thread pair's columns after the previous pair's compare;
        asking for them first lets the disk read while the CPU compares. It also
        keeps what is read to what is used: a page fault on a file larger than the
        page cache reads around the page (8 MB on this project's machines), which
        drags the neighbouring columns' buffers in, used or not. Columns with no
        value in the range are skipped (their null count is metadata). A hint only:
        nothing fails if the OS ignores it.
        """
        if self.mapping is None or not hasattr(mmap, "MADV_WILLNEED"):
            return
        for start, end in self.file_spans(lo, hi, names):
            with contextlib.suppress(OSError, ValueError):
                self.mapping.madvise(mmap.MADV_WILLNEED, start, end - start)

    def read_ahead(
        self, ranges: Sequence[tuple[int, int]], names: tuple[str, ...]
    ) -> Iterator[int]:
        """0, 1, ... for a pass over these row ranges (a thread each): range 0 and then, as
        k is handed out, range k + 1 of ``names`` are asked for (:meth:`prefetch`), so the
        disk reads the next thread while the CPU works on this one."""
        for k in range(len(ranges)):
            if k == 0:
                self.prefetch(*ranges[0], names)
            if k + 1 < len(ranges):
                self.prefetch(*ranges[k + 1], names)
            yield k

    def file_spans(self, lo: int, hi: int, names: Iterable[str]) -> list[tuple[int, int]]:
        """The byte ranges of the mapped file that hold rows [lo, hi) of these columns'
        buffers: whole chunks' buffers, joined, starting on page boundaries."""
        if self.mapping is None or hi <= lo:
            return []
        base = pa.py_buffer(self.mapping).address
        size = len(self.mapping)
        spans: list[tuple[int, int]] = []
        for name in names:
            col = self.column(name, lo, hi)
            if col is None or col.null_count == len(col):
                continue
            for chunk in col.chunks:
                for buf in chunk.buffers():
                    if buf is not None and buf.size and base <= buf.address < base + size:
                        start = buf.address - base
                        spans.append((start - start % mmap.PAGESIZE, min(size, start + buf.size)))
        return _merged(spans)

    def release(self) -> None:
        """Hand the mapped file's resident pages back: the next thread re-reads what it needs."""
        if self.mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self.mapping.madvise(mmap.MADV_DONTNEED)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte ranges, sorted and with overlapping or touching ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


#: Rows turned into events at a time by :meth:`TraceColumns.event`, and blocks kept.
_EVENT_BLOCK: Final = 16
_EVENT_BLOCKS_KEPT: Final = 32


def events_at(cols: TraceColumns, rows: list[int]) -> list[TraceEvent]:
    """Many events at once, for display: one ``take`` instead of a slice per event."""
    if not rows:
        return []
    names = [f for f in FIELDS if cols.has(f)]
    got = cols.take(rows, names)
    out = []
    for k in range(len(rows)):
        kw = {n: got[n][k] for n in names if got[n][k] is not None}
        sid = kw.get("sid")
        if isinstance(sid, int):
            kw["sid"] = f"{sid:016x}"
        for n in ("args", "objects"):
            v = kw.get(n)
            if isinstance(v, list):
                kw[n] = [f"0x{a:08x}" if isinstance(a, int) else str(a) for a in v]
        kw.setdefault("tid", 0)
        kw.setdefault("idx", rows[k])
        kw.setdefault("kind", "marker")
        out.append(msgspec.convert(kw, TraceEvent))
    return out


def _pylist(col: pa.ChunkedArray) -> list[Any]:
    """Python values of a column; dictionary columns looked up by hand (pyarrow's
    decoding costs ~50 us a call, which a report's hundreds of windows notice)."""
    if not pa.types.is_dictionary(col.type):
        return col.to_pylist()  # type: ignore[no-any-return]
    out: list[Any] = []
    for chunk in col.chunks:
        lut = chunk.dictionary.to_pylist()
        out.extend(None if i is None else lut[i] for i in chunk.indices.to_pylist())
    return out


def _to_event(raw: dict[str, Any], row: int) -> TraceEvent:
    kw = {k: _py(k, v) for k, v in raw.items() if v is not None}
    kw.setdefault("tid", 0)
    kw.setdefault("idx", row)
    kw.setdefault("kind", "marker")
    return msgspec.convert(kw, TraceEvent)


def _py(name: str, v: Any) -> Any:
    """A column value in TraceEvent's types, whatever narrower type a file stored."""
    if v is None:
        return None
    if name == "sid" and isinstance(v, int):
        return f"{v:016x}"
    if name in ("args", "objects") and isinstance(v, list):
        return [f"0x{a:08x}" if isinstance(a, int) else str(a) for a in v]
    return v


def kind_codes(column: pa.ChunkedArray | pa.Array) -> I8:
    """KIND_CODE of every row, whatever the column's dictionary order (-1 for null)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts: list[I8] = []
    for chunk in chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = af.dictionary_encode(af.cast(chunk, pa.string()))
        lut = np.array([KIND_CODE.get(str(k), -1) for k in chunk.dictionary.to_pylist()] + [-1])
        idx = af.fill_null(chunk.indices, -1) if chunk.null_count else chunk.indices
        codes = idx.to_numpy(zero_copy_only=False)
        parts.append(lut.astype(np.int8)[codes])
    if not parts:
        return np.zeros(0, np.int8)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# --------------------------------------------------------------------------- building


def _thread_bounds(table: pa.Table) -> tuple[I64, I64]:
    ranges = _read_thread_ranges(table.schema)
    if ranges is not None:
        items = sorted(ranges.items())
        tids = np.array([t for t, _ in items], np.int64)
        starts = np.array([r[0] for _, r in items] + [table.num_rows], np.int64)
        ends = np.array([r[1] for _, r in items], np.int64)
        if len(items) == 0 or (
            int(starts[0]) == 0
            and bool(np.all(starts[1:] == ends))
            and int(ends[-1]) == table.num_rows
        ):
            return tids, starts
    tid = table.column("tid").to_numpy().astype(np.int64)
    change = np.flatnonzero(tid[1:] != tid[:-1]) + 1
    starts = np.concatenate(([0], change, [len(tid)])).astype(np.int64)
    return (tid[starts[:-1]] if len(tid) else np.zeros(0, np.int64)), starts


def _read_thread_ranges(schema: pa.Schema) -> dict[int, tuple[int, int]] | None:
    raw = (schema.metadata or {}).get(_THREADS_KEY)
    if raw is None:
        return None
    try:
        decoded = msgspec.json.decode(raw)
        return {int(t): (int(s[0]), int(s[1])) for t, s in decoded.items()}
    except (msgspec.DecodeError, ValueError, TypeError, IndexError, AttributeError):
        return None


def _header_from_meta(meta: dict[bytes, bytes] | None) -> dict[str, Any]:
    raw = (meta or {}).get(_HEADER_KEY)
    if raw is None:
        return {}
    try:
        out = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return dict(out) if isinstance(out, dict) else {}


def _check_kinds(path: str, table: pa.Table) -> None:
    col = table.column("kind")
    for chunk in col.chunks:
        enc = chunk if pa.types.is_dictionary(chunk.type) else af.dictionary_encode(chunk)
        values = [str(v) for v in enc.dictionary.to_pylist()]
        bad = [k for k, v in enumerate(values) if v not in KIND_CODE]
        if not bad:
            continue
        codes = enc.indices.to_numpy(zero_copy_only=False)
        hits = np.flatnonzero(np.isin(codes, bad))
        if not len(hits):
            continue
        row = int(hits[0]) + sum(len(c) for c in col.chunks[: col.chunks.index(chunk)])
        raise InputError(
            f"{path}: event tid={table.column('tid')[row].as_py()} "
            f"idx={table.column('idx')[row].as_py()}: unknown kind {values[int(codes[hits[0]])]!r} "
            f"(expected one of {', '.join(KINDS)})"
        )


def sorted_columns(
    table: pa.Table, path: str, header: dict[str, Any], *, keep_seq: bool = False
) -> TraceColumns:
    """Sort rows by (tid, idx) if they are not already, and find each thread's rows."""
    for required in ("tid", "idx", "kind"):
        if required not in table.column_names:
            raise InputError(f"{path}: no '{required}' column; is this an x360k trace?")
    n = table.num_rows
    tid = table.column("tid").to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    idx = table.column("idx").to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    seq: I64 | None = np.arange(n, dtype=np.int64) if keep_seq else None
    if n > 1 and not bool(
        np.all((tid[1:] > tid[:-1]) | ((tid[1:] == tid[:-1]) & (idx[1:] > idx[:-1])))
    ):
        order = np.lexsort((idx, tid))
        table = af.take(table, af.int64_array(order)).replace_schema_metadata(
            {k: v for k, v in (table.schema.metadata or {}).items() if k != _THREADS_KEY}
        )
        if seq is not None:
            seq = seq[order]
    _check_kinds(path, table)
    tids, starts = _thread_bounds(table)
    return TraceColumns(path, table, header, tids, starts, seq)


def events_to_columns(events: list[TraceEvent], name: str = "<memory>") -> TraceColumns:
    """Columns from in-memory events (tests, and kernel runs recorded to memory).

    Emission order is known here, so handle origins use it across threads.
    """
    from x360k.trace.columns import events_to_batch

    table = pa.Table.from_batches([events_to_batch(events)]) if events else _empty()
    return sorted_columns(table, name, {}, keep_seq=True)


def _empty() -> pa.Table:
    from x360k.trace.columns import ARROW_SCHEMA

    return ARROW_SCHEMA.empty_table()


# --------------------------------------------------------------------------- readers


def _sniff(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"ARROW1"):
        return "arrow-file"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    return "other"


def _open_sorted_arrow(path: Path, names: tuple[str, ...]) -> TraceColumns | None:
    """A sorted Arrow IPC file, memory-mapped (our own mapping, so pages can be released)."""
    with path.open("rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    reader = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(mm)))
    meta = reader.schema.metadata or {}
    if meta.get(_SORTED_KEY) != b"tid,idx":
        return None
    table = reader.read_all()
    table = table.select([c for c in table.column_names if c in names])
    tids, starts = _thread_bounds(table)
    cols = TraceColumns(str(path), table, _header_from_meta(meta), tids, starts, None, mm)
    _check_kinds(str(path), table)
    return cols


def _cache_dir() -> Path:
    from x360k.trace.cache_store import cache_dir

    return cache_dir()


def _content_hash(path: Path) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return str(h.hexdigest())


def _spill_columns(source: Path | pa.Buffer, names: tuple[str, ...], label: str) -> TraceColumns:
    from x360k.diff.spill import open_spill, thread_counts

    table, index, mm = open_spill(source, names)
    counts = sorted(thread_counts(index).items())
    tids = np.array([t for t, _ in counts], np.int64)
    starts = np.concatenate(([0], np.cumsum([c for _, c in counts], dtype=np.int64)))
    return TraceColumns(label, table, dict(index.header), tids, starts.astype(np.int64), None, mm)


def _load_jsonl(path: Path, names: tuple[str, ...], cache: bool) -> TraceColumns | None:
    """A JSONL trace, streamed into a thread-grouped Arrow file and memory-mapped.

    With ``cache`` the file is kept under the cache directory, named by the
    source's content hash, and the next diff of the same bytes maps it
    directly; without, it is a temporary file removed once mapped. Where no
    file can be written, the same layout is built in memory.
    """
    from x360k.diff.spill import spill_jsonl
    from x360k.trace import cache_store

    entry = None
    limit = 0
    if cache:
        try:
            limit = cache_store.size_limit()
        except ValueError as exc:
            raise InputError(f"${cache_store.SIZE_ENV}: {exc}") from None
        tag = "-".join(sorted(set(names) - set(BASE_COLUMNS))) or "base"
        entry = _cache_dir() / f"diff-v{CACHE_VERSION}-{_content_hash(path)}-{tag}.arrow"
        if entry.is_file():
            try:
                cols = _spill_columns(entry, names, str(path))
                cache_store.touch(entry)  # least recently used goes first when over the bound
                return cols
            except (OSError, ValueError, pa.ArrowException, msgspec.DecodeError):
                pass  # unreadable entry: rebuilt below
    folder = entry.parent if entry is not None else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="x360k-diff-", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError:
        name = None
    tmp = Path(name) if name is not None else None
    try:
        try:
            spilled = spill_jsonl(path, names, tmp)
        except OSError:
            if tmp is None:
                raise
            spilled = spill_jsonl(path, names, None)  # no room on disk: in memory
            tmp.unlink(missing_ok=True)
            tmp = None
        if spilled is None:
            return None
        if spilled.buffer is not None or tmp is None:
            assert spilled.buffer is not None
            return _spill_columns(spilled.buffer, names, str(path))
        cols = _spill_columns(tmp, names, str(path))
        if entry is not None:
            with contextlib.suppress(OSError):  # an unkept cache entry only costs time next run
                tmp.replace(entry)
                cache_store.evict(entry.parent, limit, keep=entry)
        return cols
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _load_trace_layer(path: Path, names: tuple[str, ...], cache: bool) -> TraceColumns:
    from x360k.trace.cache import load as load_cached

    try:
        loaded = load_cached(path, use_cache=cache)
    except ValueError as exc:  # the trace layer's TraceFormatError: already one line
        line = getattr(exc, "one_line", None)
        msg = line() if callable(line) else str(exc).splitlines()[0]
        raise InputError(msg) from None
    table = loaded.table.select([c for c in loaded.table.column_names if c in names])
    cols = sorted_columns(table, str(path), _header_from_meta(table.schema.metadata))
    summary = loaded.report.summary()
    if summary:
        cols.read_notes = (summary,)
    return cols


def not_a_file(p: Path) -> str | None:
    """Why ``p`` cannot be read as a trace at all (None: it can; a pipe can too)."""
    if p.is_dir():
        return f"{p}: is a directory, not a trace file"
    if not p.exists():
        return f"{p}: no such file"
    return None


def load(
    path: str | Path, *, cache: bool = False, columns: tuple[str, ...] = BASE_COLUMNS
) -> TraceColumns:
    """Load a trace file of any supported format, reading only ``columns``.

    A compressed file (gzip, zstd, bz2, lz4, xz) is read as the trace inside it,
    through a temporary plain copy (:mod:`x360k.trace.compressed`).
    """
    from x360k.trace.compressed import compression_of, copy_label, decompressed

    p = Path(path)
    why = not_a_file(p)
    if why is not None:
        raise InputError(why)
    if p.is_file() and compression_of(p) is None:
        return _load_plain(p, cache, columns)
    try:
        with decompressed(p) as plain:  # a compressed file, or a pipe
            try:
                cols = _load_plain(plain, cache, columns)
            except InputError as exc:
                raise InputError(str(exc).replace(str(plain), copy_label(p))) from None
    except ValueError as exc:  # TraceFormatError: the file would not decompress
        raise InputError(str(exc).splitlines()[0]) from None
    cols.path = str(p)
    return cols


def _load_plain(p: Path, cache: bool, columns: tuple[str, ...]) -> TraceColumns:
    try:
        kind = _sniff(p)
        if kind == "arrow-file":
            try:
                direct = _open_sorted_arrow(p, columns)
            except pa.ArrowInvalid:
                direct = None
            if direct is not None:
                return direct
        elif kind == "jsonl":
            got = _load_jsonl(p, columns, cache)
            if got is None:  # DuckDB could not take it: the trace layer reads it (or names why)
                got = _load_trace_layer(p, columns, cache)
            return _with_unknown_fields_noted(got, p)
        return _load_trace_layer(p, columns, cache)
    except InputError:
        raise
    except (OSError, pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{p}: {str(exc).splitlines()[0]}") from None


def _with_unknown_fields_noted(cols: TraceColumns, p: Path) -> TraceColumns:
    """``cols`` with a read note naming the fields its JSONL has that no reader keeps."""
    from x360k.trace.extra_fields import unknown_fields

    names, looked = unknown_fields(p)
    if names:
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} fields)" if len(names) > 8 else "")
        cols.read_notes += (
            f"fields not in the trace schema, not compared: {shown} "
            f"(seen in the first {looked:,} event{'s' if looked != 1 else ''})",
        )
    return cols


def load_pair(
    ref: str | Path,
    cand: str | Path,
    *,
    cache: bool = False,
    columns: tuple[str, ...] = BASE_COLUMNS,
) -> tuple[TraceColumns, TraceColumns]:
    """Both sides of a diff, the candidate read on a second thread while the reference is.

    Reading JSON Lines is DuckDB's parallel parse followed by single-threaded
    grouping by thread (:mod:`x360k.diff.spill`); reading both sides at once
    lets one side's grouping run while the other's parse does, instead of
    leaving a core idle. Only the reference is cached. A reference that cannot
    be read is reported first, as when the two are read one after the other.
    """
    import threading

    why = not_a_file(Path(ref))
    if why is not None:  # at once, not after the candidate has been read
        raise InputError(why)
    got: list[TraceColumns | BaseException] = []

    def read_candidate() -> None:
        try:
            got.append(load(cand, columns=columns))
        except BaseException as exc:  # handed to the caller's thread below
            got.append(exc)

    # a plain thread: concurrent.futures would import logging on the way (~3 ms)
    worker = threading.Thread(target=read_candidate, name="x360k-diff-candidate", daemon=True)
    worker.start()
    try:
        first = load(ref, cache=cache, columns=columns)
    finally:
        worker.join()  # also when the reference failed: let the candidate clean up first
    second = got[0]
    if isinstance(second, BaseException):
        raise second
    return first, second
