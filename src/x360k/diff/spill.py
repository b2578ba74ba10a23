"""Stream a JSON Lines trace into an Arrow file grouped by thread, in bounded memory.

The diff compares one thread pair at a time, so it needs each thread's rows
together; a JSONL trace interleaves threads in emission order. Reading a whole
side into memory to sort it costs gigabytes at 10M events, so instead DuckDB's
parallel JSON reader hands over a batch at a time, batches are held until
:data:`SPILL_ROWS` rows have come, and then those rows are grouped by thread
(one stable sort on ``tid``) and written out as one record batch per thread.
The file is then a sequence of per-thread runs in file order; the run list,
kept as the custom metadata of a last empty batch, lets :func:`open_spill`
rebuild the (tid, idx)-ordered table from memory-mapped batches without
copying them. Only a thread whose ``idx`` runs backwards in the file is
copied, to sort it.

String columns that repeat (kind, name, module, object_type) are stored as
integer codes into one dictionary per column for the whole file, grown as the
batches come: the Arrow IPC file format allows a single dictionary per field,
and the codes also make the grouping sort cheaper.

DuckDB parses integer fields written as hex strings (``"status": "0xC0000008"``)
and as decimal strings like JSON numbers, as the trace readers do, and refuses
floats and booleans there as they do (:func:`~x360k.trace.int_text.strict_read_json`).
Anything it cannot read makes :func:`spill_jsonl` return ``None`` and the caller falls back
to the trace layer's reader, which names the bad line.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from x360k.trace import arrowfn as af
from x360k.trace.event import KINDS

#: Rows held in memory before they are grouped by thread and written out.
SPILL_ROWS: Final = 1 << 19
#: Files up to this size are read by Arrow's JSON reader, not DuckDB (see :func:`_small_batches`).
SMALL_BYTES: Final = 4 << 20
#: Rows per batch DuckDB hands over.
BATCH_ROWS: Final = 1 << 17
#: Columns stored as codes into a file-wide dictionary.
DICTIONARY_COLUMNS: Final = ("kind", "name", "module", "object_type")
_INDEX_KEY: Final = b"x360k.spill"
#: The format of the run list; bump when the stored columns change.
SPILL_VERSION: Final = 1

#: DuckDB types of the JSONL fields (schema v1); wide enough never to reject a valid trace.
DUCK_TYPES: Final[dict[str, str]] = {
    "tid": "BIGINT",
    "idx": "BIGINT",
    "kind": "ENUM(" + ", ".join(f"''{k}''" for k in KINDS) + ")",
    "name": "VARCHAR",
    "module": "VARCHAR",
    "ordinal": "UINTEGER",
    "call_id": "BIGINT",
    "ret_addr": "UBIGINT",
    "status": "UINTEGER",
    "ret": "UBIGINT",
    "args": "VARCHAR[]",
    "handle": "UBIGINT",
    "sid": "VARCHAR",
    "object_type": "VARCHAR",
    "raw_tid": "UBIGINT",
    "child_tid": "BIGINT",
    "child_raw_tid": "UBIGINT",
    "entry": "UBIGINT",
    "checksum": "VARCHAR",
    "ts": "BIGINT",
    "path": "VARCHAR",
    "offset": "BIGINT",
    "length": "BIGINT",
    "objects": "VARCHAR[]",
    "text": "VARCHAR",
}


class SpillIndex(msgspec.Struct, frozen=True):
    """What :func:`open_spill` needs: the runs in file order and the dictionaries."""

    version: int
    header: dict[str, Any]
    #: (tid, rows) of each record batch, in file order.
    runs: list[tuple[int, int]]
    dictionaries: dict[str, list[str]]
    #: Threads whose idx is not increasing through the file (sorted when opened).
    unsorted: list[int]


class _Unreadable(Exception):
    """DuckDB could not read the file as a trace; the caller falls back."""


def read_header(first: bytes) -> dict[str, Any] | None:
    """The first line as a header object, or None when it is an event (or not JSON)."""
    try:
        obj = msgspec.json.decode(first)
    except msgspec.DecodeError:
        return None
    if isinstance(obj, dict) and not {"tid", "idx", "kind"} & obj.keys():
        return obj
    return None


def _our_header_valid(first: bytes) -> bool:
    """False for a first line that is an x360k header this reader cannot take (a newer schema)."""
    from x360k.trace.header import decode_header, looks_like_header

    if not looks_like_header(first):
        return True
    try:
        decode_header(first)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return True


def _duck_batches(path: Path, names: tuple[str, ...]) -> Iterator[pa.RecordBatch]:
    import duckdb

    from x360k.trace.columns import SIGNED_WRITTEN
    from x360k.trace.int_text import strict_read_json

    query = strict_read_json(
        {c: DUCK_TYPES[c] for c in names if c in DUCK_TYPES}, "?", SIGNED_WRITTEN
    )
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")  # never on our stdout
        rel = con.sql(query, params=[str(path)])
        yield from rel.to_arrow_reader(BATCH_ROWS)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:  # DuckDB's, through Arrow: OSError
        raise _Unreadable(str(exc)) from None
    finally:
        con.close()


_KIND_VALUES: Final = pa.array(list(KINDS), pa.string())
_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "BIGINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "UINTEGER": pa.uint32(),
    "VARCHAR": pa.string(),
    "VARCHAR[]": pa.list_(pa.field("l", pa.string())),  # as DuckDB names the item
}


def _small_batches(path: Path, names: tuple[str, ...], header: bool) -> list[pa.RecordBatch] | None:
    """A small file's events by Arrow's JSON reader, in DuckDB's types; None if any doubt.

    Under :data:`SMALL_BYTES` DuckDB's import and start-up are most of the cost
    of reading. Arrow's reader is told every column's type and is strict: a
    hex string, a float or a boolean in an integer field, a number among the
    args or a line that is not JSON fails it, as does an unknown kind here,
    and DuckDB reads the file instead (then the trace layer names the line).
    So whatever this returns is what DuckDB would have returned.
    """
    import pyarrow.json as pj

    data = path.read_bytes()
    if header:
        data = data[data.find(b"\n") + 1 :]
    if not data.strip():
        return None
    fields = [
        pa.field(c, pa.string() if c == "kind" else _ARROW_TYPES[DUCK_TYPES[c]]) for c in names
    ]
    options = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
        table.validate(full=True)  # Arrow's JSON reader lets invalid UTF-8 through
    except (pa.ArrowException, ValueError):
        return None
    cols: list[pa.Array] = []
    for c in names:
        col = table.column(c).combine_chunks()
        if c == "kind":
            codes = af.index_in(col, value_set=_KIND_VALUES)
            if codes.null_count:
                return None  # an unknown kind, or none
            col = pa.DictionaryArray.from_arrays(af.cast(codes, pa.uint8()), _KIND_VALUES)
        cols.append(col)
    return [pa.RecordBatch.from_arrays(cols, names=list(names))]


class _Codes:
    """One file-wide dictionary: strings to codes, in order of first appearance."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, arr: pa.Array) -> pa.Array:
        if arr.null_count == len(arr):
            return pa.nulls(len(arr), pa.int32())
        enc = arr if pa.types.is_dictionary(arr.type) else af.dictionary_encode(arr)
        lut = pa.array(
            [self.codes.setdefault(str(v), len(self.codes)) for v in enc.dictionary.to_pylist()],
            pa.int32(),
        )
        # a null index takes a null: no mask to build (which would also import numpy.ma)
        return af.take(lut, enc.indices)

    def values(self) -> list[str]:
        return list(self.codes)


def _encode(batch: pa.RecordBatch, dicts: dict[str, _Codes]) -> pa.RecordBatch:
    cols = []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if name == "kind":
            # DuckDB's ENUM of exactly KINDS: its codes are KIND_CODE
            col = af.cast(col.indices, pa.int8())
        elif name in dicts:
            col = dicts[name].encode(col)
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


class _Writer:
    """Groups held rows by thread and appends one batch per thread to the file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: into memory (when no file can be written)
        self.sink: pa.NativeFile | None = None
        self.writer: pa.ipc.RecordBatchFileWriter | None = None
        self.held: list[pa.RecordBatch] = []
        self.rows = 0
        self.runs: list[tuple[int, int]] = []
        self.last_idx: dict[int, int] = {}
        self.unsorted: set[int] = set()
        self.buffer: pa.Buffer | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        at = 0
        while at < batch.num_rows:
            part = batch.slice(at, SPILL_ROWS - self.rows)
            self.held.append(part)
            self.rows += part.num_rows
            at += part.num_rows
            if self.rows >= SPILL_ROWS:
                self.flush()

    def _open(self, schema: pa.Schema) -> pa.ipc.RecordBatchFileWriter:
        if self.writer is None:
            self.sink = (
                pa.BufferOutputStream() if self.path is None else pa.OSFile(str(self.path), "wb")
            )
            self.writer = pa.ipc.new_file(self.sink, schema)
        return self.writer

    def flush(self) -> None:
        if not self.held:
            return
        table = pa.Table.from_batches(self.held)
        self.held, self.rows = [], 0
        tid = table.column("tid").to_numpy().astype(np.int64)
        order = np.argsort(tid, kind="stable")
        stid = tid[order]
        grouped = _take(table, None if bool(np.all(order[1:] > order[:-1])) else order)
        del table
        idx = grouped.column("idx").to_numpy().astype(np.int64)
        bounds = np.concatenate(([0], np.flatnonzero(stid[1:] != stid[:-1]) + 1, [len(stid)]))
        writer = self._open(grouped.schema)
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            t = int(stid[lo])
            run = idx[lo:hi]
            prev = self.last_idx.get(t)
            if (prev is not None and int(run[0]) <= prev) or bool(np.any(run[1:] <= run[:-1])):
                self.unsorted.add(t)
            self.last_idx[t] = int(run[-1])
            writer.write_batch(grouped.slice(lo, hi - lo))
            self.runs.append((t, hi - lo))

    def close(self, index: SpillIndex, schema: pa.Schema) -> None:
        self.flush()
        writer = self._open(schema)
        meta = {_INDEX_KEY: msgspec.json.encode(index)}
        writer.write_batch(_empty(schema), meta)
        writer.close()
        assert self.sink is not None
        if self.path is None:
            assert isinstance(self.sink, pa.BufferOutputStream)
            self.buffer = self.sink.getvalue()
        self.sink.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.sink is not None:
            self.sink.close()


def _take(table: pa.Table, order: npt.NDArray[np.int64] | None) -> pa.RecordBatch:
    """The rows of ``table`` in ``order`` (None: as they are) as one batch.

    Column by column: an all-null column is made afresh rather than gathered,
    and each column is gathered from one contiguous array (a gather across
    chunks is several times slower).
    """
    indices = None if order is None else af.int64_array(order)
    cols = []
    for col in table.columns:
        if col.null_count == len(col):
            cols.append(pa.nulls(len(col), col.type))
            continue
        arr = col.combine_chunks()
        cols.append(arr if indices is None else af.take(arr, indices))
    return pa.RecordBatch.from_arrays(cols, names=table.column_names)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _stored_schema(names: tuple[str, ...]) -> pa.Schema:
    """The schema batches are written with when the file has no events at all."""
    import duckdb

    con = duckdb.connect()
    try:
        cols = ", ".join(
            f'NULL::{DUCK_TYPES[c].replace(chr(39) * 2, chr(39))} AS "{c}"'
            for c in names
            if c in DUCK_TYPES
        )
        schema = con.sql(f"SELECT {cols} LIMIT 0").to_arrow_table().schema
    finally:
        con.close()
    fresh: dict[str, _Codes] = {c: _Codes() for c in DICTIONARY_COLUMNS}
    return _encode(_empty(schema), fresh).schema


@dataclass(frozen=True, slots=True)
class Spilled:
    """A finished spill: its index, and its bytes when it was written to memory."""

    index: SpillIndex
    buffer: pa.Buffer | None


def spill_jsonl(path: Path, names: tuple[str, ...], out: Path | None) -> Spilled | None:
    """Write ``path``'s events (only ``names``) to ``out`` grouped by thread; None if unreadable.

    ``out`` None writes into memory (for when no file can be written). None
    means DuckDB could not read the file as typed events (a bad line, a value
    of the wrong type, a missing or negative tid/idx, an unknown kind): the
    trace layer's reader then reads it and names what is wrong.
    """
    with path.open("rb") as f:
        first = f.readline()
    header = read_header(first)
    if header is not None and not _our_header_valid(first):
        return None  # the trace layer's reader names what is wrong with it
    skip = header is not None
    names = tuple(c for c in names if c in DUCK_TYPES)
    dicts: dict[str, _Codes] = {
        c: _Codes() for c in DICTIONARY_COLUMNS if c in names and c != "kind"
    }
    w = _Writer(out)
    schema: pa.Schema | None = None
    small = _small_batches(path, names, skip) if path.stat().st_size <= SMALL_BYTES else None
    if small is not None:
        skip = False
    try:
        for raw in small if small is not None else _duck_batches(path, names):
            batch = raw.slice(1) if skip and raw.num_rows else raw
            skip = skip and not raw.num_rows
            if not _valid(batch):
                w.abort()
                return None
            enc = _encode(batch, dicts)
            schema = schema or enc.schema
            w.add(enc)
        w.flush()
        index = SpillIndex(
            SPILL_VERSION,
            header or {},
            w.runs,
            {c: d.values() for c, d in dicts.items()},
            sorted(w.unsorted),
        )
        w.close(index, schema or _stored_schema(names))
    except _Unreadable:
        w.abort()
        return None
    except BaseException:
        w.abort()
        raise
    return Spilled(index, w.buffer)


def _valid(batch: pa.RecordBatch) -> bool:
    """Every row has a tid, idx and kind, none negative, and no ``args`` item was a JSON
    value other than a string (what the trace readers demand, or read differently)."""
    if not batch.num_rows:
        return True
    for key in ("tid", "idx", "kind"):
        if batch.column(key).null_count:
            return False
    if int(af.min_value(batch.column("tid")).as_py()) < 0:
        return False
    if int(af.min_value(batch.column("idx")).as_py()) < 0:
        return False
    if "args" in batch.schema.names:
        from x360k.trace.int_text import args_may_not_be_strings

        return not args_may_not_be_strings(af.list_flatten(batch.column("args")))
    return True


def open_spill(
    source: Path | pa.Buffer, names: tuple[str, ...]
) -> tuple[pa.Table, SpillIndex, mmap.mmap | None]:
    """The spilled trace as one (tid, idx)-ordered table over the memory-mapped file.

    Returns the table (zero copy except for threads that had to be sorted),
    the index (thread runs, header) and the mapping, so its pages can be
    handed back while the diff walks the threads. Raises ValueError when the
    file is not a spill this version wrote.
    """
    mm = None
    if isinstance(source, Path):
        with source.open("rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = pa.py_buffer(mm)
    else:
        buf = source
    reader = pa.ipc.open_file(pa.BufferReader(buf))
    n = reader.num_record_batches
    meta = reader.get_batch_with_custom_metadata(n - 1).custom_metadata if n else None
    raw = None if meta is None else meta.get(_INDEX_KEY)
    if raw is None:
        raise ValueError("not a diff spill file")
    index = msgspec.json.decode(raw, type=SpillIndex)
    if index.version != SPILL_VERSION or len(index.runs) != n - 1:
        raise ValueError("diff spill file of another version")
    kinds = pa.array(list(KINDS), pa.string())
    dictionaries = {c: pa.array(v, pa.string()) for c, v in index.dictionaries.items()}
    keep = [c for c in reader.schema.names if c in names]

    def restore(batch: pa.RecordBatch) -> pa.RecordBatch:
        cols = []
        for c in keep:
            col = batch.column(c)
            if c == "kind":
                col = pa.DictionaryArray.from_arrays(col, kinds)
            elif c in dictionaries:
                col = pa.DictionaryArray.from_arrays(col, dictionaries[c])
            cols.append(col)
        return pa.RecordBatch.from_arrays(cols, names=keep)

    by_tid: dict[int, list[int]] = {}
    for k, (tid, _rows) in enumerate(index.runs):
        by_tid.setdefault(tid, []).append(k)
    unsorted = set(index.unsorted)
    batches: list[pa.RecordBatch] = []
    for tid in sorted(by_tid):
        parts = [restore(reader.get_batch(k)) for k in by_tid[tid]]
        if tid in unsorted:
            t = pa.Table.from_batches(parts)
            order = np.argsort(t.column("idx").to_numpy().astype(np.int64), kind="stable")
            parts = af.take(t, af.int64_array(order)).combine_chunks().to_batches()
        batches.extend(parts)
    schema = restore(_empty(reader.schema)).schema
    return pa.Table.from_batches(batches, schema=schema), index, mm


def thread_counts(index: SpillIndex) -> dict[int, int]:
    """Rows of each thread."""
    out: dict[int, int] = {}
    for tid, rows in index.runs:
        out[tid] = out.get(tid, 0) + rows
    return out
