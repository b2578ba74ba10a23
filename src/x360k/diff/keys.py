"""Normalisation rules and the packed 64-bit keys the aligner compares.

Every event becomes two integers: a *shape* key (kind and export name: what
happened) and a *full* key (shape plus every compared field after the
normalisation rules ran). Two events are equal for the diff exactly when their
full keys are equal, so comparing millions of events is one vectorised numpy
comparison. Keys are built for one thread at a time, straight from the Arrow
columns (no widened copies): each present field adds its own mixed hash, a null
adds nothing, so a column that is empty in one trace and absent in the other
compares equal. Strings are hashed once per distinct value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

# the argument table lives in argtable.py; re-exported here, where it was first
from x360k.diff.argtable import DEFAULT_ARG_TABLE as DEFAULT_ARG_TABLE
from x360k.diff.argtable import ArgTable as ArgTable
from x360k.diff.argtable import load_arg_table as load_arg_table
from x360k.diff.argtable import registry_arg_table as registry_arg_table
from x360k.diff.inputs import Rows, TraceColumns
from x360k.diff.rules import IGNORABLE as IGNORABLE
from x360k.diff.rules import RULES
from x360k.trace import arrowfn as af
from x360k.trace.event import KIND_CODE, KINDS

U64 = npt.NDArray[np.uint64]
BoolArr = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Normalisation:
    """Which rules are on, which fields are ignored, and the argument-type table."""

    rules: frozenset[str] = frozenset(RULES)
    ignore: frozenset[str] = frozenset()
    arg_table: ArgTable = field(default_factory=registry_arg_table)

    def on(self, rule: str) -> bool:
        return rule in self.rules

    def columns(self) -> tuple[str, ...]:
        """The trace columns this normalisation compares (the rest are never read)."""
        from x360k.diff.inputs import columns_for

        return columns_for(timestamps=not self.on("timestamps"), volatile=not self.on("volatile"))


@dataclass(slots=True)
class ThreadKeys:
    """Keys of one thread's visible events; ``rows[p]`` is the trace row at position p."""

    shape: U64
    full: U64
    rows: Rows


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def mix(x: U64) -> U64:
    """splitmix64's finaliser, vectorised: a bijection that spreads every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _mix_into(x: U64) -> U64:
    """:func:`mix` in place on an array the caller owns (fewer temporaries)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def fold(h: U64, value: U64, salt: int) -> U64:
    """Fold one field into a running key; the salt keeps fields from cancelling."""
    return mix(h * _GOLD + (value ^ np.uint64(salt)))


def _one(col: pa.ChunkedArray) -> pa.Array:
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], col.type)
    if pa.types.is_dictionary(col.type):
        return pa.table({"c": col}).unify_dictionaries().column("c").combine_chunks()
    return col.combine_chunks()


def _as_dict(col: pa.ChunkedArray) -> pa.DictionaryArray:
    arr = _one(col)
    if not pa.types.is_dictionary(arr.type):
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = af.cast(arr, pa.string())
        arr = af.dictionary_encode(arr)
    return arr


def dictionary_values(col: pa.ChunkedArray) -> list[str]:
    """The distinct strings of a string or dictionary column."""
    return [str(v) for v in _as_dict(col).dictionary.to_pylist()]


def _codes(arr: pa.DictionaryArray) -> npt.NDArray[np.int64]:
    idx = af.fill_null(arr.indices, -1) if arr.null_count else arr.indices
    out: npt.NDArray[np.int64] = idx.to_numpy(zero_copy_only=False).astype(np.int64)
    return out


def _str_hash_lut(values: list[object]) -> U64:
    """xxh64 of every distinct string, and a trailing 0 that code -1 (null) picks."""
    import xxhash

    lut = np.fromiter(
        (xxhash.xxh64_intdigest(str(v).encode()) for v in values), np.uint64, len(values)
    )
    return np.append(lut, np.uint64(0))


def _str_hashes(col: pa.ChunkedArray) -> U64:
    arr = _as_dict(col)
    out: U64 = _str_hash_lut(arr.dictionary.to_pylist())[_codes(arr)]
    return out


def _int_values(col: pa.ChunkedArray) -> tuple[U64, npt.NDArray[np.bool_] | None]:
    """A numeric column as uint64 and its validity (None: no nulls).

    Values under nulls are whatever the buffer holds: callers weight every
    row's contribution by its validity, so they never count.
    """
    arr = _one(col)
    valid = None
    if arr.null_count:
        valid = np.asarray(af.is_valid(arr).to_numpy(zero_copy_only=False), bool)
    if pa.types.is_integer(arr.type) and arr.buffers()[1] is not None:
        width = arr.type.bit_width // 8
        raw = np.frombuffer(arr.buffers()[1], dtype=arr.type.to_pandas_dtype())
        values = raw[arr.offset : arr.offset + len(arr)]
        assert values.itemsize == width
    else:
        values = af.fill_null(arr, 0).to_numpy(zero_copy_only=False)
    return values.astype(np.uint64), valid


_LOW = np.uint64(0x0F0F0F0F0F0F0F0F)
_HIGH = np.uint64(0xF0F0F0F0F0F0F0F0)
_ONES = np.uint64(0x0101010101010101)
_LOWER = np.uint64(0x2020202020202020)


def _parse_hex_fast(flat: pa.Array) -> U64 | None:
    """Parse ``0x%08x`` strings (schema v1's argument form) without a Python loop.

    Each value's eight digits are read in place as one unaligned little-endian
    uint64 (a strided view, no copy), turned into nibbles and packed with
    shifts and masks (SWAR). Validity is checked the same way: the nibbles,
    written back as lowercase hex, must give the digits again. Returns None
    when any value has another shape; the caller then parses each distinct
    value on its own.
    """
    n = len(flat)
    if flat.null_count or n == 0:
        return None if flat.null_count else np.zeros(0, np.uint64)
    if not pa.types.is_string(flat.type):
        return None
    offsets = np.frombuffer(flat.buffers()[1], dtype=np.int32)[flat.offset : flat.offset + n + 1]
    start = int(offsets[0])
    if int(offsets[-1]) - start != 10 * n or not bool(np.all(np.diff(offsets) == 10)):
        return None
    data = flat.buffers()[2]
    prefix = np.ndarray((n,), "<u2", buffer=data, offset=start, strides=(10,))
    if not bool(np.all((prefix | np.uint16(0x2000)) == np.uint16(0x7830))):  # "0x" / "0X"
        return None
    digits = np.ndarray((n,), "<u8", buffer=data, offset=start + 2, strides=(10,))
    low = digits | _LOWER
    x = (low & _LOW) + np.uint64(9) * ((low >> np.uint64(6)) & _ONES)
    above9 = ((x + np.uint64(0x0606060606060606)) >> np.uint64(4)) & _ONES
    back = x + np.uint64(0x3030303030303030) + above9 * np.uint64(0x27)
    if bool(np.any(x & _HIGH)) or not np.array_equal(back, low):
        return None
    x = x.byteswap()
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    out: U64 = (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
    return out


def split_pointee(text: str) -> tuple[str, str | None]:
    """``0x7005fb44(00000000)`` -> ("0x7005fb44", "00000000"): canary's pointer target text."""
    k = text.find("(")
    if k > 0 and text.endswith(")"):
        return text[:k], text[k + 1 : -1]
    return text, None


def _parse_arg(text: str) -> int:
    import xxhash

    try:
        return int(text, 0) & 0xFFFF_FFFF_FFFF_FFFF
    except ValueError:
        return int(xxhash.xxh64_intdigest(text.encode()))


def _arg_values(flat: pa.Array) -> tuple[U64, U64 | None]:
    """Argument values as integers, whether stored as hex strings or as integers, and
    the hash of each argument's pointee text (canary's ``(...)``; None when none has one)."""
    if pa.types.is_integer(flat.type):
        ints = np.asarray(af.fill_null(flat, 0).to_numpy(zero_copy_only=False)).astype(np.uint64)
        return ints, None
    fast = _parse_hex_fast(flat)
    if fast is not None:
        return fast, None
    import xxhash

    enc = af.dictionary_encode(af.cast(flat, pa.string()))
    heads, tails = [], []
    for v in enc.dictionary.to_pylist():
        head, pointee = split_pointee(str(v))
        heads.append(_parse_arg(head))
        tails.append(0 if pointee is None else xxhash.xxh64_intdigest(pointee.encode()) | 1)
    codes = _codes(enc)
    out: U64 = np.append(np.array(heads, np.uint64), np.uint64(0))[codes]
    if not any(tails):
        return out, None
    pointees: U64 = np.append(np.array(tails, np.uint64), np.uint64(0))[codes]
    return out, pointees


_INT_FIELDS = ("status", "ret", "entry", "offset", "length", "ordinal")
_STR_FIELDS = ("object_type", "path", "text", "checksum", "module")
_VOLATILE = ("raw_tid", "call_id", "ret_addr", "child_raw_tid")


#: Rows per stretch when building keys (bounds the temporaries, keeps them in cache).
KEY_CHUNK = 1 << 19


class KeyBuilder:
    """Keys for row ranges of one trace under one normalisation; counts what each rule did.

    One builder per side; call :meth:`keys` per thread (or per stretch of a
    thread when streaming). Only the columns a rule needs are touched.
    """

    def __init__(
        self,
        cols: TraceColumns,
        norm: Normalisation,
        drop_exports: Iterable[str] | None = None,
        *,
        hidden_kinds: Iterable[str] = (),
        skip_fields: Iterable[str] = (),
        pointees: bool = False,
    ) -> None:
        self.cols = cols
        self.norm = norm
        self.drop = set(drop_exports or ())
        self.hidden = np.array(sorted(KIND_CODE[k] for k in hidden_kinds), np.int64)
        self.skip = frozenset(skip_fields)
        self.pointees = pointees
        self.counts: dict[str, int] = {}
        #: Events left out by the projection, by "kind K" / "export E" (see projection.py).
        self.projected: Counter[str] = Counter()

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns whose values :meth:`keys` reads (what to ask the OS to read ahead)."""
        norm, skip = self.norm, self.skip
        unread = norm.ignore | skip
        names = ["kind", "name"]
        names += [n for n in (*_INT_FIELDS, *_STR_FIELDS) if n not in unread]
        if "args" not in unread:
            names.append("args")
        if "handle" not in skip:
            names.append("handle")
        if not norm.on("handles") and "sid" not in skip:
            names.append("sid")
        if not norm.on("timestamps"):
            names.append("ts")
        if not norm.on("volatile"):
            names += _VOLATILE
        return tuple(names)

    def _count(self, rule: str, k: int) -> None:
        self.counts[rule] = self.counts.get(rule, 0) + k

    def _names(self, lo: int, hi: int) -> tuple[npt.NDArray[np.int64], list[str]]:
        col = self.cols.column("name", lo, hi)
        if col is None or col.null_count == len(col):
            return np.full(hi - lo, -1, np.int64), []
        arr = _as_dict(col)
        return _codes(arr), [str(v) for v in arr.dictionary.to_pylist()]

    def _combo(
        self, lo: int, hi: int
    ) -> tuple[npt.NDArray[np.int64], U64, npt.NDArray[np.int64], list[str], BoolArr | None]:
        """Each row's (kind, export) as one small code, the shape key of every code, and
        which rows the projection keeps (None: all)."""
        kind = self.cols.kinds(lo, hi).astype(np.int64)
        codes, values = self._names(lo, hi)
        width = len(values) + 1
        kind_h = mix(np.arange(1, len(KINDS) + 2, dtype=np.uint64))  # code -1 -> last
        name_h = _str_hash_lut(list(values))  # code -1 -> trailing 0
        lut = fold(np.repeat(kind_h, width), np.tile(np.roll(name_h, 1), len(kind_h)), 0x11)
        combo = np.where(kind < 0, len(KINDS), kind) * width + (codes + 1)
        keep: BoolArr | None = None
        if len(self.hidden):
            hidden = np.isin(kind, self.hidden)
            if hidden.any():
                keep = ~hidden
        if self.drop:
            drop = np.array([i for i, v in enumerate(values) if v in self.drop], np.int64)
            if len(drop):
                shown = ~np.isin(codes, drop)
                keep = shown if keep is None else keep & shown
        return combo, lut, codes, values, keep

    def _count_projected(
        self, kind_combo: npt.NDArray[np.int64], width: int, values: list[str], keep: BoolArr
    ) -> None:
        gone = kind_combo[~keep]
        if not len(gone):
            return
        kinds = gone // width
        names = gone % width - 1
        hidden = np.isin(kinds, self.hidden)
        for code, n in zip(*np.unique(kinds[hidden], return_counts=True), strict=True):
            label = KINDS[int(code)] if int(code) < len(KINDS) else "?"
            self.projected[f"kind {label}"] += int(n)
        for code, n in zip(*np.unique(names[~hidden], return_counts=True), strict=True):
            self.projected[f"export {values[int(code)] if code >= 0 else '?'}"] += int(n)
        self._count("unlogged-exports", int(np.count_nonzero(~hidden)))
        self._count("common-view", int(np.count_nonzero(hidden)))

    def shape_histogram(self, lo: int, hi: int) -> tuple[U64, npt.NDArray[np.int64]]:
        """Distinct shape keys of the visible rows in [lo, hi) and how often each occurs."""
        key_parts: list[U64] = []
        count_parts: list[npt.NDArray[np.int64]] = []
        for start in range(lo, max(hi, lo + 1), KEY_CHUNK):
            combo, lut, _, _, keep = self._combo(start, min(hi, start + KEY_CHUNK))
            if keep is not None:
                combo = combo[keep]
            counts = np.bincount(combo, minlength=len(lut))
            nz = np.flatnonzero(counts)
            key_parts.append(lut[nz])
            count_parts.append(counts[nz])
        keys, inverse = np.unique(np.concatenate(key_parts), return_inverse=True)
        weights = np.concatenate(count_parts)
        return keys, np.bincount(inverse, weights=weights, minlength=len(keys)).astype(np.int64)

    def _shape(
        self, lo: int, hi: int, count: bool = True
    ) -> tuple[U64, npt.NDArray[np.int64], list[str], npt.NDArray[np.bool_] | None]:
        combo, lut, codes, values, visible = self._combo(lo, hi)
        shape: U64 = lut[combo]
        if visible is not None and count:
            self._count_projected(combo, len(values) + 1, values, visible)
        return shape, codes, values, visible

    def shapes(self, lo: int, hi: int) -> U64:
        """Shape keys only (kind and export) of the visible rows in [lo, hi)."""
        shape, _, _, visible = self._shape(lo, hi, count=False)
        return shape if visible is None else shape[visible]

    def visible_rows(self, lo: int, hi: int, *, count: bool = False) -> Rows:
        """Rows of [lo, hi) the comparison sees (all of them unless the projection drops some)."""
        if not self.drop and not len(self.hidden):
            return range(lo, hi)
        _, _, _, visible = self._shape(lo, hi, count=count)
        if visible is None:
            return range(lo, hi)
        out: npt.NDArray[np.int64] = np.flatnonzero(visible).astype(np.int64) + lo
        return out

    def keys(self, lo: int, hi: int, *, count: bool = True) -> ThreadKeys:
        """Shape and full keys of the visible rows in [lo, hi).

        Built in stretches of at most KEY_CHUNK rows into preallocated arrays,
        so the temporaries of one stretch (a dozen arrays per row and per
        argument) stay small and in cache whatever the thread's length.
        """
        if hi - lo <= KEY_CHUNK:
            return self._keys(lo, hi, count=count)
        shape = np.empty(hi - lo, np.uint64)
        full = np.empty(hi - lo, np.uint64)
        row_parts: list[Rows] = []
        at = 0
        for start in range(lo, hi, KEY_CHUNK):
            part = self._keys(start, min(hi, start + KEY_CHUNK), count=count)
            k = len(part.full)
            shape[at : at + k] = part.shape
            full[at : at + k] = part.full
            at += k
            row_parts.append(part.rows)
        rows: Rows = range(lo, hi)
        if not all(isinstance(r, range) for r in row_parts):
            rows = np.concatenate(
                [
                    np.arange(r.start, r.stop, dtype=np.int64) if isinstance(r, range) else r
                    for r in row_parts
                ]
            )
        return ThreadKeys(shape[:at], full[:at], rows)

    def _keys(self, lo: int, hi: int, *, count: bool = True) -> ThreadKeys:
        saved, saved_projected = dict(self.counts), Counter(self.projected)
        shape, codes, values, visible = self._shape(lo, hi)
        full = shape.copy()
        norm, cols = self.norm, self.cols

        def add(v: U64, valid: npt.NDArray[np.bool_] | None, salt: int) -> None:
            v ^= np.uint64(salt * 0x9E3779B97F4A7C15 & 0xFFFF_FFFF_FFFF_FFFF)
            c = _mix_into(v)
            if valid is not None:
                c *= valid
            np.add(full, c, out=full)

        def present(col: pa.ChunkedArray | None) -> int:
            return 0 if col is None else len(col) - col.null_count

        def keyed(names: tuple[str, ...], first_salt: int) -> Iterator[tuple[int, pa.ChunkedArray]]:
            """Each field's (salt, column) where it has values and is not ignored (counted)."""
            for salt, name in enumerate(names, first_salt):
                col = cols.column(name, lo, hi)
                if not present(col):
                    continue
                assert col is not None
                if name in norm.ignore:
                    self._count(f"ignore {name}", present(col))
                    continue
                if name in self.skip:
                    continue
                yield salt, col

        for salt, col in keyed(_INT_FIELDS, 0x20):
            add(*_int_values(col), salt)
        for salt, col in keyed(_STR_FIELDS, 0x100):
            h = _str_hashes(col)
            add(h, h != 0, salt)
        self._args(lo, hi, codes, values, add)
        handle = None if "handle" in self.skip else cols.column("handle", lo, hi)
        sid = None if "sid" in self.skip else cols.column("sid", lo, hi)
        if norm.on("handles"):
            if present(handle):
                assert handle is not None
                self._count("handles", present(handle))
                valid = np.asarray(af.is_valid(_one(handle)).to_numpy(zero_copy_only=False), bool)
                add(np.ones(hi - lo, np.uint64), valid, 0x300)
        else:
            if present(handle):
                assert handle is not None
                add(*_int_values(handle), 0x301)
            if present(sid):
                assert sid is not None
                h = _str_hashes(sid)
                add(h, h != 0, 0x302)
        ts = cols.column("ts", lo, hi)
        if norm.on("timestamps"):
            self._count("timestamps", present(ts))
        elif present(ts):
            assert ts is not None
            add(*_int_values(ts), 0x400)
        touched = 0
        for salt, vname in enumerate(_VOLATILE, 0x500):
            col = cols.column(vname, lo, hi)
            if not present(col):
                continue
            assert col is not None
            touched = max(touched, present(col))
            if not norm.on("volatile"):
                add(*_int_values(col), salt)
        if norm.on("volatile"):
            self._count("volatile", touched)
        if not count:
            self.counts, self.projected = saved, saved_projected
        rows: Rows = range(lo, hi)
        if visible is not None:
            shape, full = shape[visible], full[visible]
            rows = np.flatnonzero(visible).astype(np.int64) + lo
        return ThreadKeys(shape, full, rows)

    def _args(
        self,
        lo: int,
        hi: int,
        codes: npt.NDArray[np.int64],
        names: list[str],
        add: object,
    ) -> None:
        norm = self.norm
        col = None if "args" in self.skip else self.cols.column("args", lo, hi)
        if col is None or col.null_count == len(col):
            return
        arr = _one(col)
        offs = arr.offsets.to_numpy().astype(np.int64)
        total = int(offs[-1] - offs[0])
        if "args" in norm.ignore:
            self._count("ignore args", int(np.count_nonzero(np.diff(offs))))
            return
        if total == 0:
            return
        flat = arr.values.slice(int(offs[0]), total)
        offs = offs - offs[0]
        lengths = np.diff(offs)
        values, pointees = _arg_values(flat)
        position = np.arange(total, dtype=np.int64) - np.repeat(offs[:-1], lengths)
        width = int(position.max()) + 1
        lut = np.zeros((len(names) + 1, width), dtype=np.int8)  # 0 value, 1 ptr, 2 handle
        for code, export in enumerate(names):
            types = norm.arg_table.get(export)
            if types:
                for k, t in enumerate(types[:width]):
                    lut[code, k] = 1 if t == "ptr" else 2 if t == "handle" else 0
        if lut.any():
            parent_code = np.repeat(codes, lengths)
            arg_type = lut[parent_code, position]  # code -1 reads the all-value last row
            masked = np.zeros(total, dtype=bool)
            if norm.on("pointers"):
                masked |= arg_type == 1
            if norm.on("handles"):
                masked |= arg_type == 2
            values = np.where(masked, np.uint64(0x5A5A), values)
            for rule_name, code in (("pointers", 1), ("handles", 2)):
                if norm.on(rule_name):
                    parents = np.searchsorted(offs, np.flatnonzero(arg_type == code), "right")
                    if len(parents):
                        self._count(rule_name, int(np.count_nonzero(np.diff(parents))) + 1)
        if pointees is not None and self.pointees:
            values = values ^ mix(pointees)  # what the pointer points at, where both print it
        h = _mix_into(values ^ (position.astype(np.uint64) * _GOLD))
        cs = np.concatenate(([np.uint64(0)], np.cumsum(h, dtype=np.uint64)))
        row_hash = cs[offs[1:]] - cs[offs[:-1]] + lengths.astype(np.uint64)
        assert callable(add)
        add(row_hash, lengths > 0, 0x200)  # no arguments adds nothing, like any null
