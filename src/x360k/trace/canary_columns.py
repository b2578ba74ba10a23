"""Canary kernel-call lines to Arrow columns, a chunk of the log at a time.

The per-line work runs in Arrow's compute kernels (RE2 matching, string
splits and replacements), not in Python: the lines whose arguments are all
``dword``/pointer values, each optionally followed by a hex pointee
(``7005FB44(00000000)``), which is nearly every line canary writes, are
normalised entirely there (pointees kept as printed, after their argument).
Only the rest (strings, ``word_t``, ``int_t``, floats, ``ContextArg``) go through
:func:`~x360k.trace.canary_args.parse_args` one by one. The result is the
same as parsing every line with ``parse_args``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.canary_args import parse_args
from x360k.trace.canary_exports import CanaryExport
from x360k.trace.columns import ARROW_SCHEMA
from x360k.trace.event import KIND_CODE, KINDS

_LINE: Final = r"^[id]> [0-9A-Fa-f]{8} [A-Za-z_][A-Za-z0-9_]*\(.*\)\r?$"
#: The name part of _LINE.
_NAME: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ITEM: Final = r"[0-9A-F]{8}(?:\([0-9A-F]{8}(?:[0-9A-F]{8})?\))?"
#: Arguments that are all dwords, each maybe with a dword or qword pointee.
_HEX_ARGS: Final = rf"^{_ITEM}(?:, {_ITEM})*$"
_KIND_DICTIONARY: Final = pa.array(KINDS, pa.string())
_ARGS_TYPE: Final = ARROW_SCHEMA.field("args").type


class ChunkState:
    """What carries from one chunk to the next: thread numbering and what was seen."""

    def __init__(self, exports: Mapping[str, CanaryExport]) -> None:
        self.exports = exports
        self.export_names = pa.array(sorted(exports), pa.string())
        #: raw thread id text -> tid, in order of first appearance
        self.threads: dict[str, int] = {}
        self.next_idx = np.zeros(0, np.int64)
        self.calls = 0
        self.unknown_names = 0
        self.first_unknown = ""
        self.high_frequency_calls = False

    def _thread_ordinals(self, raw: pa.DictionaryArray | None) -> npt.NDArray[np.int64]:
        assert raw is not None
        values: list[str] = raw.dictionary.to_pylist()
        indices = raw.indices.to_numpy()
        first = np.full(len(values), len(indices), np.int64)
        np.minimum.at(first, indices, np.arange(len(indices)))
        for k in np.argsort(first, kind="stable"):
            self.threads.setdefault(values[k], len(self.threads))
        if len(self.threads) > len(self.next_idx):
            grown = np.zeros(len(self.threads), np.int64)
            grown[: len(self.next_idx)] = self.next_idx
            self.next_idx = grown
        ordinal = np.array([self.threads[v] for v in values], np.int64)
        return np.asarray(ordinal[indices], np.int64)

    def _indices(self, tids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Per-thread running index of each row, continuing from earlier chunks."""
        counts = np.bincount(tids, minlength=len(self.next_idx))
        order = np.argsort(tids, kind="stable")
        ordered = tids[order]
        starts = np.cumsum(counts) - counts
        idx = np.empty(len(tids), np.int64)
        idx[order] = np.arange(len(tids)) - starts[ordered] + self.next_idx[ordered]
        self.next_idx += counts
        return idx

    def number(
        self, parsed: ParsedChunk
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
        """The chunk's ``tid`` and ``idx`` columns, after earlier chunks' (``None``: no calls)."""
        self.unknown_names += parsed.unknown_names
        self.first_unknown = self.first_unknown or parsed.first_unknown
        self.high_frequency_calls = self.high_frequency_calls or parsed.high_frequency_calls
        if parsed.calls == 0:
            return None
        self.calls += parsed.calls
        tids = self._thread_ordinals(parsed.raw)
        return tids, self._indices(tids)

    def batch(self, parsed: ParsedChunk) -> pa.RecordBatch | None:
        """The chunk's calls in ARROW_SCHEMA, numbered after earlier chunks' (or ``None``)."""
        numbered = self.number(parsed)
        if numbered is None:
            return None
        n = parsed.calls
        columns = dict(parsed.columns)
        columns["tid"] = pa.array(numbered[0], pa.int32())
        columns["idx"] = pa.array(numbered[1], pa.int64())
        arrays = [
            columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in ARROW_SCHEMA
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


@dataclass(slots=True)
class ParsedChunk:
    """What one chunk of the log holds, before threads are numbered across chunks."""

    lines: int
    debug_lines: bool
    calls: int = 0
    unknown_names: int = 0
    first_unknown: str = ""
    high_frequency_calls: bool = False
    raw: pa.DictionaryArray | None = None
    columns: dict[str, pa.Array] = field(default_factory=dict)


def _utf8(chunk: bytes) -> bytes:
    """The chunk itself when it is UTF-8, else with bad bytes replaced."""
    try:
        pa.array([chunk], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return chunk.decode("utf-8", errors="replace").encode("utf-8")
    return chunk


def _pieces(data: bytes, offsets: npt.NDArray[np.int64]) -> pa.Array:
    """The strings between consecutive ``offsets`` of ``data``, without copying it."""
    return pa.StringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
    )


#: Bytes that may be a hex digit of the thread id.
_HEX_BYTE: Final = np.zeros(256, bool)
_HEX_BYTE[np.frombuffer(b"0123456789ABCDEFabcdef", np.uint8)] = True
#: Eight true bytes read as one word: all eight thread id characters are hex digits.
_ALL_EIGHT: Final = np.frombuffer(b"\x01" * 8, np.uint64)[0]
#: The shortest call line: ``d> XXXXXXXX N()``.
_SHORTEST: Final = 15


def _call_parts(data: bytes) -> tuple[int, pa.Array, pa.Array, pa.Array]:
    """The number of lines, and thread id, export name and argument text of every line
    shaped like a call but for its name (``_LINE`` with any text before the ``(``).

    Numpy checks the fixed parts of each line (level, ``> ``, eight hex digits,
    the space, a ``(`` after the name's first character, the closing ``)``) on
    the chunk's bytes; the name is checked by the caller, which looks it up
    among the exports and holds the rare others to ``_NAME``. The lines' parts
    are views of the chunk's bytes (string arrays whose offsets cut it at the
    thread id, the name's ``(`` and the closing ``)``), so only the final
    gathers of the parts touch the text.
    """
    buf = np.frombuffer(data, np.uint8)
    marks = np.flatnonzero((buf == 10) | (buf == 40))  # one pass for newlines and "("
    is_newline = buf[marks] == 10
    newlines = marks[is_newline]
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if len(data) and data.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    lines = len(starts)
    empty = pa.array([], pa.string())
    long_enough = np.flatnonzero(ends - starts >= _SHORTEST)
    s, e = starts[long_enough], ends[long_enough]
    head = buf[s[:, None] + np.arange(12)]
    level = head[:, 0]
    shaped = (
        ((level == ord("i")) | (level == ord("d")))
        & (head[:, 1] == ord(">"))
        & (head[:, 2] == ord(" "))
        & (head[:, 11] == ord(" "))
    )
    hex_digits = np.ascontiguousarray(_HEX_BYTE[head[:, 3:11]]).view(np.uint64).ravel()
    shaped &= hex_digits == _ALL_EIGHT
    e = e - (buf[e - 1] == 13)  # a "\r" before the newline
    shaped &= buf[e - 1] == ord(")")
    parens = np.concatenate((marks[~is_newline], [len(data)]))
    p = parens[np.searchsorted(parens, s + 12)]
    shaped &= (p > s + 12) & (p < e - 1)
    calls = np.flatnonzero(shaped)
    if not len(calls):
        return lines, empty, empty, empty
    s, e, p = s[calls], e[calls], p[calls]
    k = len(calls)
    ids = head[calls, 3:11].tobytes()  # the thread ids, eight bytes each
    raw = pa.StringArray.from_buffers(
        k, pa.py_buffer(np.arange(0, 8 * k + 1, 8, dtype=np.int32)), pa.py_buffer(ids)
    )
    # per call: name [s+12, p), "(", args [p+1, e-1), the rest of the line and the next's start
    cuts = np.stack((s + 12, p, p + 1, e - 1), axis=1).ravel()
    pieces = _pieces(data, cuts)
    name = pieces.take(_int64(np.arange(0, 4 * k, 4)))
    text = pieces.take(_int64(np.arange(2, 4 * k, 4)))
    return lines, raw, name, text


def _int64(values: npt.NDArray[np.int64]) -> pa.Array:
    """An int64 array over numpy's memory (``pa.array`` would import ``numpy.ma``)."""
    data = np.ascontiguousarray(values, np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def parse_chunk(
    chunk: bytes,
    exports: Mapping[str, CanaryExport],
    export_names: pa.Array,
    joined_args: bool = False,
) -> ParsedChunk:
    """Everything about a chunk that does not depend on the chunks before it.

    Runs in Arrow's kernels and numpy, which release the GIL, so chunks can be
    parsed on worker threads while the caller numbers and consumes earlier ones.
    ``joined_args``: for building Python events, the ``args`` column holds each
    row's arguments joined by newlines (null for none) rather than lists, and
    ``module``, ``ordinal`` and ``raw_tid`` are dictionary arrays over each
    name's or thread's value (not ARROW_SCHEMA's types; no ``kind``).
    """
    lines, raw_text, name, text = _call_parts(_utf8(chunk))
    parsed = ParsedChunk(lines=lines, debug_lines=chunk.startswith(b"d> ") or b"\nd> " in chunk)
    if len(name) == 0:
        return parsed
    known = pc.is_in(name, value_set=export_names)
    if not pc.all(known).as_py():
        others = name.filter(pc.invert(known))
        called = others.filter(pc.match_substring_regex(others, _NAME))
        if len(called):
            parsed.unknown_names = len(called)
            parsed.first_unknown = called[0].as_py()
        raw_text, name, text = raw_text.filter(known), name.filter(known), text.filter(known)
    n = parsed.calls = len(name)
    if n == 0:
        return parsed
    raw = parsed.raw = raw_text.dictionary_encode()
    raw_values = pa.array([int(v, 16) for v in raw.dictionary.to_pylist()], pa.uint32())
    names = name.dictionary_encode()
    found = [exports[name] for name in names.dictionary.to_pylist()]
    parsed.high_frequency_calls = any(e.high_frequency for e in found)
    args = _arguments(names, text, joined_args)
    modules = pa.array([e.module for e in found])
    ordinals = pa.array([e.ordinal for e in found], pa.uint32())
    if joined_args:
        # for Python values only: per-name (per-thread) lookups, no gathers or re-encoding
        parsed.columns = {
            "name": names,
            "module": pa.DictionaryArray.from_arrays(names.indices, modules),
            "ordinal": pa.DictionaryArray.from_arrays(names.indices, ordinals),
            "args": args,
            "raw_tid": pa.DictionaryArray.from_arrays(raw.indices, raw_values),
        }
        return parsed
    parsed.columns = {
        "kind": pa.DictionaryArray.from_arrays(
            pa.array(np.full(n, KIND_CODE["kernel.call"], np.int8)), _KIND_DICTIONARY
        ),
        "name": names,
        "module": modules.take(names.indices).dictionary_encode(),
        "ordinal": ordinals.take(names.indices),
        "args": args,
        "raw_tid": raw_values.take(raw.indices),
    }
    return parsed


#: Like _HEX_ARGS, but with pointees of digits only, which lowering the whole text keeps.
_DIGIT_POINTEE_ITEM: Final = r"[0-9A-F]{8}(?:\([0-9]{8}(?:[0-9]{8})?\))?"
_SIMPLE_ARGS: Final = rf"^{_DIGIT_POINTEE_ITEM}(?:, {_DIGIT_POINTEE_ITEM})*$"


def _whole_text_args(text: pa.Array, joined: bool) -> pa.Array:
    """Argument texts matching _SIMPLE_ARGS, lowered as a whole and split.

    ``7005FB44(00000000), 00000001`` becomes ``0x7005fb44(00000000)``,
    ``0x00000001``: no pass per argument but the ``0x`` prefix. No pointee
    here holds a letter, so lowering the whole text changes only the values.
    Joined, the same arguments come as one string with newlines between them.
    """
    lowered = pc.ascii_lower(text)
    if joined:
        return pc.binary_join_element_wise("0x", pc.replace_substring(lowered, ", ", "\n0x"), "")
    items = pc.split_pattern(lowered, ", ")
    values = pc.binary_join_element_wise("0x", items.values, "")
    return pa.ListArray.from_arrays(items.offsets, values, type=_ARGS_TYPE)


def _joined(lists: pa.Array, joined: bool) -> pa.Array:
    """``lists`` as they are, or each row joined by newlines (no argument holds one; the
    log was cut into lines at them), null for a row without arguments."""
    if not joined:
        return lists
    text = pc.binary_join(lists, "\n")
    return pc.if_else(pc.equal(pc.list_value_length(lists), 0), pa.scalar(None, pa.string()), text)


def _per_item_args(text: pa.Array) -> pa.Array:
    """Hex-only argument texts, each value lowered and each pointee kept as printed."""
    items = pc.split_pattern(text, ", ")
    flat = items.flatten()
    # "7005FB44(F8000010)" -> "0x7005fb44(F8000010)": the value normalised, the pointee as printed
    values = pc.binary_join_element_wise(
        "0x",
        pc.ascii_lower(pc.utf8_slice_codeunits(flat, 0, 8)),
        pc.utf8_slice_codeunits(flat, 8, 1 << 62),
        "",
    )
    return pa.ListArray.from_arrays(items.offsets, values, type=_ARGS_TYPE)


def _arguments(names: pa.DictionaryArray, text: pa.Array, joined: bool = False) -> pa.Array:
    """The ``args`` column for the argument texts of call lines (joined: see parse_chunk).

    Three routes, merged back in row order: hex-only texts whose pointees are
    digits (nearly all) as a whole; other hex-only texts argument by argument
    (a pointee's letters stay as printed); the rest (strings, ``word_t``,
    ``int_t``, ...) by ``parse_args``.
    """
    simple = pc.match_substring_regex(text, _SIMPLE_ARGS)
    if pc.all(simple).as_py():
        return _whole_text_args(text, joined)
    mask = simple.to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~mask)
    rest_text = text.take(pa.array(rest))
    hexlike = pc.match_substring_regex(rest_text, _HEX_ARGS).to_numpy(zero_copy_only=False)
    routes = [np.flatnonzero(mask), rest[hexlike]]
    slow = rest[~hexlike]
    parts = [
        _whole_text_args(text.take(pa.array(routes[0])), joined),
        _joined(_per_item_args(rest_text.filter(pa.array(hexlike))), joined),
    ]
    if len(slow):
        slow_names = names.take(pa.array(slow)).to_pylist()
        slow_texts = text.take(pa.array(slow)).to_pylist()
        slow_args = [
            parse_args(name, arguments)
            for name, arguments in zip(slow_names, slow_texts, strict=True)
        ]
        parts.append(_joined(pa.array(slow_args, _ARGS_TYPE), joined))
    routes.append(slow)
    order = np.empty(len(text), np.int64)
    at = 0
    for rows in routes:
        order[rows] = at + np.arange(len(rows))
        at += len(rows)
    return pa.concat_arrays(parts).take(pa.array(order))
