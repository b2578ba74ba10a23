"""Turn any trace x360k reads into per-thread column arrays, the only shape the diff works on.

The diff never touches TraceEvent objects on its hot path: a 100M-event trace
as Python objects would not fit in memory. Everything is loaded as an Arrow
table (through the trace layer when it offers a bulk loader, otherwise through
small readers kept here), sorted by (tid, idx), and split into numpy columns.
String columns stay dictionary-encoded: a code per row plus the distinct
strings, so hashing a column costs one hash per distinct value.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from x360k.trace.event import KIND_CODE, KINDS, TraceEvent

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

#: Stand-in for a missing integer field; far from any value a trace can carry.
NULL_INT = np.int64(-0x7FFF_FFFF_FFFF_FF00)

#: Integer columns the diff reads (missing ones become all-null).
INT_COLUMNS = ("tid", "idx", "call_id", "ret_addr", "status", "ret", "handle", "raw_tid")
INT_COLUMNS_2 = ("child_tid", "child_raw_tid", "entry", "ts", "offset", "length", "ordinal")
#: String columns kept dictionary-encoded.
STR_COLUMNS = ("kind", "name", "module", "sid", "object_type", "checksum", "path", "text")

ARROW_SCHEMA = pa.schema(
    [pa.field(c, pa.int64()) for c in (*INT_COLUMNS, *INT_COLUMNS_2)]
    + [pa.field(c, pa.string()) for c in STR_COLUMNS]
    + [pa.field("args", pa.list_(pa.string())), pa.field("objects", pa.list_(pa.string()))]
)


class InputError(Exception):
    """Bad or unreadable input: the message is the one line the user sees."""


@dataclass(slots=True)
class StrColumn:
    """A dictionary-encoded string column: ``codes[i]`` indexes ``values`` (-1 = null)."""

    codes: I32
    values: list[str]

    def get(self, row: int) -> str | None:
        code = int(self.codes[row])
        return None if code < 0 else self.values[code]

    def hashes(self) -> U64:
        """One 64-bit hash per row (0 for null), equal across traces for equal strings."""
        table = np.fromiter(
            (xxhash.xxh64_intdigest(v.encode()) for v in self.values),
            dtype=np.uint64,
            count=len(self.values),
        )
        table = np.append(table, np.uint64(0))
        return table[self.codes]  # code -1 picks the trailing 0


@dataclass(slots=True)
class TraceColumns:
    """One trace as columns, rows sorted by (tid, idx); ``seq`` keeps emission order."""

    path: str
    n: int
    ints: dict[str, I64]
    strs: dict[str, StrColumn]
    arg_offsets: I64
    arg_values: U64
    arg_text: pa.Array
    header: dict[str, Any] = field(default_factory=dict)
    thread_tids: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    thread_starts: I64 = field(default_factory=lambda: np.zeros(1, np.int64))

    def thread_range(self, tid: int) -> tuple[int, int]:
        k = int(np.searchsorted(self.thread_tids, tid))
        if k >= len(self.thread_tids) or int(self.thread_tids[k]) != tid:
            raise KeyError(tid)
        return int(self.thread_starts[k]), int(self.thread_starts[k + 1])

    def kind_codes(self) -> npt.NDArray[np.int8]:
        """Kind as the schema's dictionary code (KIND_CODE), -1 for an unknown kind."""
        col = self.strs["kind"]
        lut = np.array([KIND_CODE.get(v, -1) for v in col.values] + [-1], dtype=np.int8)
        return lut[col.codes]

    def args_of(self, row: int) -> list[str]:
        lo, hi = int(self.arg_offsets[row]), int(self.arg_offsets[row + 1])
        return [str(v) for v in self.arg_text.slice(lo, hi - lo).to_pylist()]

    def event(self, row: int) -> TraceEvent:
        """Rebuild one event for display; only called for the few rows a report shows."""
        kw: dict[str, Any] = {}
        for name, col in self.ints.items():
            if name == "seq":
                continue
            v = int(col[row])
            if v != NULL_INT:
                kw[name] = v
        for name, scol in self.strs.items():
            s = scol.get(row)
            if s is not None:
                kw[name] = s
        args = self.args_of(row)
        if args:
            kw["args"] = args
        kw.setdefault("tid", 0)
        kw.setdefault("idx", row)
        kw.setdefault("kind", "marker")
        return TraceEvent(**kw)


def _trace_module(name: str) -> Any:
    """The trace layer's module ``name`` if it exists yet (it is built alongside the diff)."""
    try:
        return importlib.import_module(f"x360k.trace.{name}")
    except ImportError:
        return None


def _str_column(arr: pa.ChunkedArray | pa.Array) -> StrColumn:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type.value_type) else arr
    if not pa.types.is_dictionary(arr.type):
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        arr = pc.dictionary_encode(arr)
    codes = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return StrColumn(codes, [str(v) for v in arr.dictionary.to_pylist()])


def _int_column(arr: pa.ChunkedArray, n: int) -> I64:
    if arr.null_count == n:
        return np.full(n, NULL_INT, dtype=np.int64)
    if not pa.types.is_int64(arr.type):
        arr = arr.cast(pa.int64())
    out: I64 = pc.fill_null(arr, int(NULL_INT)).to_numpy()
    return np.ascontiguousarray(out, dtype=np.int64)


def _parse_arg(text: str) -> int:
    try:
        return int(text, 0) & 0xFFFF_FFFF_FFFF_FFFF
    except ValueError:
        return xxhash.xxh64_intdigest(text.encode())


_HEX_LUT = np.full(256, 255, dtype=np.uint8)
for _k, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _k
for _k, _c in enumerate(b"ABCDEF"):
    _HEX_LUT[_c] = 10 + _k
_SHIFTS = np.arange(28, -1, -4, dtype=np.uint64)


def _parse_hex_fast(flat: pa.Array) -> U64 | None:
    """Parse ``0x%08x`` strings (schema v1's argument form) without a Python loop.

    Returns None when any value has another shape; the caller then parses each
    distinct value on its own.
    """
    if flat.null_count or len(flat) == 0:
        return None if flat.null_count else np.zeros(0, np.uint64)
    offsets = np.frombuffer(flat.buffers()[1], dtype=np.int32)[
        flat.offset : flat.offset + len(flat) + 1
    ]
    if not bool(np.all(np.diff(offsets) == 10)):
        return None
    data = np.frombuffer(flat.buffers()[2], dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    chars = data.reshape(-1, 10)
    if not (
        bool(np.all(chars[:, 0] == ord("0"))) and bool(np.all((chars[:, 1] | 0x20) == ord("x")))
    ):
        return None
    digits = _HEX_LUT[chars[:, 2:]]
    if bool(np.any(digits == 255)):
        return None
    out: U64 = np.bitwise_or.reduce(digits.astype(np.uint64) << _SHIFTS, axis=1)
    return out


def columns_from_table(table: pa.Table, path: str, header: dict[str, Any]) -> TraceColumns:
    """Sort by (tid, idx), split per thread and encode every column the diff reads."""
    n = table.num_rows
    for required in ("tid", "idx", "kind"):
        if required not in table.column_names:
            raise InputError(f"{path}: no '{required}' column; is this an x360k trace?")
    table = table.append_column("seq", pa.array(np.arange(n, dtype=np.int64)))
    tid = _int_column(table.column("tid"), n)
    idx = _int_column(table.column("idx"), n)
    bad = np.flatnonzero((tid == NULL_INT) | (idx == NULL_INT))
    if len(bad):
        raise InputError(f"{path}: event #{int(bad[0])} has no tid or idx")
    if n > 1 and not bool(
        np.all((tid[1:] > tid[:-1]) | ((tid[1:] == tid[:-1]) & (idx[1:] > idx[:-1])))
    ):
        order = np.lexsort((idx, tid))
        table = table.take(pa.array(order))
    ints: dict[str, I64] = {}
    for c in (*INT_COLUMNS, *INT_COLUMNS_2, "seq"):
        ints[c] = (
            _int_column(table.column(c), n)
            if c in table.column_names
            else np.full(n, NULL_INT, np.int64)
        )
    strs: dict[str, StrColumn] = {}
    for c in STR_COLUMNS:
        if c in table.column_names:
            strs[c] = _str_column(table.column(c))
        else:
            strs[c] = StrColumn(np.full(n, -1, np.int32), [])
    kinds = strs["kind"]
    unknown = [v for v in kinds.values if v not in KIND_CODE]
    if unknown:
        row = int(np.flatnonzero(kinds.codes == kinds.values.index(unknown[0]))[0])
        raise InputError(
            f"{path}: event tid={int(ints['tid'][row])} idx={int(ints['idx'][row])}: "
            f"unknown kind {unknown[0]!r} (expected one of {', '.join(KINDS)})"
        )
    if "args" in table.column_names:
        col = table.column("args")
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if isinstance(arr, pa.LargeListArray):
            arr = arr.cast(pa.list_(pa.string()))
        offsets = arr.offsets.to_numpy().astype(np.int64)
        flat = arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        offsets = offsets - offsets[0]
        if not pa.types.is_string(flat.type):
            flat = flat.cast(pa.string())
        text = flat
        values = _parse_hex_fast(flat)
        if values is None:
            enc = _str_column(flat)
            parsed = np.fromiter(
                (_parse_arg(v) for v in enc.values), dtype=np.uint64, count=len(enc.values)
            )
            values = parsed[enc.codes] if len(enc.codes) else np.zeros(0, np.uint64)
    else:
        offsets = np.zeros(n + 1, np.int64)
        values = np.zeros(0, np.uint64)
        text = pa.array([], pa.string())
    tids_sorted = ints["tid"]
    change = np.flatnonzero(tids_sorted[1:] != tids_sorted[:-1]) + 1
    starts = np.concatenate(([0], change, [n])).astype(np.int64)
    thread_tids = tids_sorted[starts[:-1]] if n else np.zeros(0, np.int64)
    return TraceColumns(
        path=path,
        n=n,
        ints=ints,
        strs=strs,
        arg_offsets=offsets,
        arg_values=values,
        arg_text=text,
        header=header,
        thread_tids=np.asarray(thread_tids, dtype=np.int64),
        thread_starts=starts,
    )


# --------------------------------------------------------------------------- readers


def _first_line(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.readline()


def _is_header(record: Any) -> bool:
    return isinstance(record, dict) and "kind" not in record and "idx" not in record


def _jsonl_table(path: Path) -> tuple[pa.Table, dict[str, Any]]:
    """Bulk-read JSON Lines with Arrow's multi-threaded parser; the header row is split off."""
    import pyarrow.json as pj

    header: dict[str, Any] = {}
    first = _first_line(path)
    try:
        rec = msgspec.json.decode(first) if first.strip() else {}
    except msgspec.DecodeError as exc:
        raise InputError(f"{path}: line 1: not JSON ({exc})") from None
    if _is_header(rec):
        header = dict(rec)
    try:
        table = pj.read_json(
            path,
            read_options=pj.ReadOptions(block_size=16 << 20),
            parse_options=pj.ParseOptions(
                explicit_schema=ARROW_SCHEMA, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _jsonl_table_slow(path, header)
    if header:
        table = table.slice(1)
    return table, header


def _jsonl_table_slow(path: Path, header: dict[str, Any]) -> tuple[pa.Table, dict[str, Any]]:
    """Line-by-line typed decoding: slower, but names the first bad line exactly."""
    decoder = msgspec.json.Decoder(TraceEvent)
    events: list[TraceEvent] = []
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or (lineno == 1 and header):
                continue
            try:
                events.append(decoder.decode(line))
            except msgspec.ValidationError as exc:
                raise InputError(f"{path}: line {lineno}: {exc}") from None
            except msgspec.DecodeError as exc:
                if not line.endswith(b"\n"):
                    break  # a crash's partial last line: keep what came before
                raise InputError(f"{path}: line {lineno}: not JSON ({exc})") from None
    return table_from_events(events), header


def table_from_events(events: list[TraceEvent]) -> pa.Table:
    """Events as an Arrow table with the diff's column set (small inputs only)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in ARROW_SCHEMA}
    for ev in events:
        for name in cols:
            cols[name].append(getattr(ev, name))
    return pa.table(cols, schema=ARROW_SCHEMA)


_SEED_LINE = re.compile(r"^\s*\[(\d+)\]\s+(\S+)(?:\s+(.*?))?\s*(?:←.*)?$")
_INT_FIELDS = {f for f in (*INT_COLUMNS, *INT_COLUMNS_2)}


def parse_seed_text(path: Path) -> pa.Table:
    """The seed's display form: ``[idx] kind [name] key=value ...`` one event a line.

    The thread comes from a ``tid=`` field on the line, else from a ``# tid=N``
    comment line, else from a number in the file name (one thread per file).
    """
    events: list[TraceEvent] = []
    m = re.search(r"(\d+)", path.stem)
    tid = int(m.group(1)) if m else 0
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("```"):
            continue
        if line.startswith("#"):
            tm = re.search(r"tid\s*=\s*(\d+)", line)
            if tm:
                tid = int(tm.group(1))
            continue
        lm = _SEED_LINE.match(line)
        if not lm:
            raise InputError(f"{path}: line {lineno}: expected '[idx] kind name key=value ...'")
        kw: dict[str, Any] = {"tid": tid, "idx": int(lm.group(1)), "kind": lm.group(2)}
        if kw["kind"] not in KIND_CODE:
            raise InputError(f"{path}: line {lineno}: unknown kind {kw['kind']!r}")
        for tok in (lm.group(3) or "").split():
            if "=" not in tok:
                if "name" in kw:
                    raise InputError(f"{path}: line {lineno}: unexpected word {tok!r}")
                kw["name"] = tok
                continue
            key, _, value = tok.partition("=")
            try:
                if key in _INT_FIELDS:
                    kw[key] = int(value, 0)
                elif key in ("args", "objects"):
                    kw[key] = [v for v in value.split(",") if v]
                elif key == "type":
                    kw["object_type"] = value
                else:
                    kw[key] = value
            except ValueError:
                raise InputError(
                    f"{path}: line {lineno}: {key}={value!r} is not a number"
                ) from None
        try:
            events.append(msgspec.convert(kw, TraceEvent))
        except msgspec.ValidationError as exc:
            raise InputError(f"{path}: line {lineno}: {exc}") from None
    return table_from_events(events)


def _sniff(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow-file"
    if head.startswith(b"\xff\xff\xff\xff"):
        return "arrow-stream"
    first = _first_line(path).lstrip()
    if first.startswith(b"{"):
        return "jsonl"
    if first.startswith(b"[") or first.startswith(b"#"):
        return "seed-text"
    return "unknown"


def _read_table(path: Path) -> tuple[pa.Table, dict[str, Any]]:
    kind = _sniff(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
        header = _header_from_meta(meta)
        return pf.read(), header
    if kind == "arrow-file":
        with pa.memory_map(str(path)) as src:
            t = pa.ipc.open_file(src).read_all()
        return t, _header_from_meta(t.schema.metadata or {})
    if kind == "arrow-stream":
        with pa.memory_map(str(path)) as src:
            reader = pa.ipc.open_stream(src)
            batches: list[pa.RecordBatch] = []
            # a truncated stream reads up to the break
            with contextlib.suppress(pa.ArrowInvalid):
                batches.extend(reader)
            t = pa.Table.from_batches(batches, schema=reader.schema)
        return t, _header_from_meta(t.schema.metadata or {})
    if kind == "jsonl":
        return _jsonl_table(path)
    if kind == "seed-text":
        return parse_seed_text(path), {}
    raise InputError(f"{path}: line 1: not a trace x360k reads (JSONL, Arrow, Parquet, seed text)")


def _header_from_meta(meta: dict[bytes, bytes]) -> dict[str, Any]:
    for key in (b"x360k.header", b"header"):
        if key in meta:
            try:
                out = msgspec.json.decode(meta[key])
                return dict(out) if isinstance(out, dict) else {}
            except msgspec.DecodeError:
                return {}
    return {}


def content_key(path: Path) -> str:
    """Hash of the file's content (xxh3-128), the cache key for its columnar copy."""
    h = xxhash.xxh3_128()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("X360K_CACHE", Path.home() / ".cache" / "x360k" / "diff"))


def load_table(
    path: Path, *, cache: bool = False, progress: Callable[[str], None] | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """Read a trace in any format as an Arrow table, caching JSONL/text as Arrow IPC if asked.

    The trace layer's ``load_columnar`` is preferred when it exists; the cache
    kept here is a fallback keyed by content hash (file name: hash + ``.arrow``).
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    cache_mod = _trace_module("cache")
    loader = getattr(cache_mod, "load_columnar", None) if cache_mod else None
    if loader is not None:
        try:
            t = loader(path, use_cache=cache)
        except ValueError as exc:  # the trace layer's TraceFormatError: already one line
            line = getattr(exc, "one_line", None)
            msg = line() if callable(line) else str(exc).splitlines()[0]
            raise InputError(msg) from None
        return t, _header_from_meta(t.schema.metadata or {})
    kind = _sniff(path)
    if cache and kind in ("jsonl", "seed-text"):
        key = content_key(path)
        cached = cache_dir() / f"{key}.arrow"
        if cached.is_file():
            if progress:
                progress(f"{path.name}: columnar cache hit")
            with pa.memory_map(str(cached)) as src:
                t = pa.ipc.open_file(src).read_all()
            return t, _header_from_meta(t.schema.metadata or {})
        table, header = _read_table(path)
        meta = {b"x360k.header": msgspec.json.encode(header), b"source": str(path).encode()}
        table = table.replace_schema_metadata(meta)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        tmp.replace(cached)
        return table, header
    return _read_table(path)


def load(path: str | Path, *, cache: bool = False) -> TraceColumns:
    """Load a trace file of any supported format as sorted per-thread columns."""
    p = Path(path)
    try:
        table, header = load_table(p, cache=cache)
    except InputError:
        raise
    except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: {str(exc).splitlines()[0]}") from None
    return columns_from_table(table, str(p), header)


def events_to_columns(events: list[TraceEvent], name: str = "<memory>") -> TraceColumns:
    """Columns from in-memory events (tests, and kernel runs recorded to memory)."""
    return columns_from_table(table_from_events(events), name, {})


def file_digest(path: Path) -> str:
    """A short stable id of a file for report headers."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
