"""Canary kernel-call lines to Arrow columns, a chunk of the log at a time.

The per-line work runs in Arrow's compute kernels (RE2 matching, string
splits and replacements), not in Python: the lines whose arguments are all
``dword``/pointer values, each optionally followed by a hex pointee
(``7005FB44(00000000)``), which is nearly every line canary writes, are
normalised entirely there. Only the rest (strings, ``word_t``, ``int_t``,
floats, ``ContextArg``) go through
:func:`~x360k.trace.canary_args.parse_args` one by one. The result is the
same as parsing every line with ``parse_args``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.canary_args import parse_args
from x360k.trace.canary_exports import CanaryExport
from x360k.trace.columns import ARROW_SCHEMA
from x360k.trace.event import KIND_CODE, KINDS

_LINE: Final = r"^[id]> [0-9A-Fa-f]{8} [A-Za-z_][A-Za-z0-9_]*\(.*\)\r?$"
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

    def batch(self, parsed: ParsedChunk) -> pa.RecordBatch | None:
        """The chunk's calls in ARROW_SCHEMA, numbered after earlier chunks' (or ``None``)."""
        self.unknown_names += parsed.unknown_names
        self.first_unknown = self.first_unknown or parsed.first_unknown
        self.high_frequency_calls = self.high_frequency_calls or parsed.high_frequency_calls
        n = parsed.calls
        if n == 0:
            return None
        self.calls += n
        tids = self._thread_ordinals(parsed.raw)
        columns = dict(parsed.columns)
        columns["tid"] = pa.array(tids, pa.int32())
        columns["idx"] = pa.array(self._indices(tids), pa.int64())
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


def _text(chunk: bytes) -> pa.Array:
    """The chunk's lines as an Arrow string array (bytes that are not UTF-8 replaced)."""
    try:
        whole = pa.array([chunk], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        whole = pa.array([chunk.decode("utf-8", errors="replace")], pa.string())
    return pc.split_pattern(whole, "\n").flatten()


def parse_chunk(
    chunk: bytes, exports: Mapping[str, CanaryExport], export_names: pa.Array
) -> ParsedChunk:
    """Everything about a chunk that does not depend on the chunks before it.

    Runs in Arrow's kernels, which release the GIL, so chunks can be parsed
    on worker threads while the caller numbers and consumes earlier ones.
    """
    parsed = ParsedChunk(
        lines=chunk.count(b"\n") + (not chunk.endswith(b"\n")),
        debug_lines=chunk.startswith(b"d> ") or b"\nd> " in chunk,
    )
    lines = _text(chunk)
    calls = lines.filter(pc.match_substring_regex(lines, _LINE))
    if len(calls) == 0:
        return parsed
    # the line's shape is known now: thread id at 3..11, the name from 12 to "("
    parts = pc.split_pattern(pc.utf8_rtrim(calls, "\r"), "(", max_splits=1)
    name = pc.utf8_slice_codeunits(pc.list_element(parts, 0), 12, 1 << 62)
    known = pc.is_in(name, value_set=export_names)
    unknown = len(calls) - pc.sum(known.cast(pa.int64())).as_py()
    if unknown:
        parsed.unknown_names = unknown
        parsed.first_unknown = name.filter(pc.invert(known))[0].as_py()
        calls, parts, name = calls.filter(known), parts.filter(known), name.filter(known)
    n = parsed.calls = len(calls)
    if n == 0:
        return parsed
    raw = parsed.raw = pc.utf8_slice_codeunits(calls, 3, 11).dictionary_encode()
    raw_values = pa.array([int(v, 16) for v in raw.dictionary.to_pylist()], pa.uint32())
    names = name.dictionary_encode()
    found = [exports[name] for name in names.dictionary.to_pylist()]
    parsed.high_frequency_calls = any(e.high_frequency for e in found)
    args, text = _arguments(names, pc.utf8_slice_codeunits(pc.list_element(parts, 1), 0, -1))
    parsed.columns = {
        "kind": pa.DictionaryArray.from_arrays(
            pa.array(np.full(n, KIND_CODE["kernel.call"], np.int8)), _KIND_DICTIONARY
        ),
        "name": names,
        "module": pa.array([e.module for e in found]).take(names.indices).dictionary_encode(),
        "ordinal": pa.array([e.ordinal for e in found], pa.uint32()).take(names.indices),
        "args": args,
        "raw_tid": raw_values.take(raw.indices),
        "text": text,
    }
    return parsed


def _arguments(names: pa.DictionaryArray, text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``args`` and ``text`` (pointees) columns for the argument texts of call lines."""
    hexlike = pc.match_substring_regex(text, _HEX_ARGS)
    hex_text = text.filter(hexlike)
    items = pc.split_pattern(hex_text, ", ")
    flat = items.flatten()
    values = pc.binary_join_element_wise(
        "0x", pc.ascii_lower(pc.utf8_slice_codeunits(flat, 0, 8)), ""
    )
    fast_args = pa.ListArray.from_arrays(items.offsets, values, type=_ARGS_TYPE)
    has_pointee = pc.match_substring(hex_text, "(")
    fast_text = pa.nulls(len(items), pa.string())
    if pc.any(has_pointee).as_py():
        with_pointee = items.filter(has_pointee)
        pointed = with_pointee.flatten()
        inner = pc.ascii_lower(pc.utf8_slice_codeunits(pointed, 9, -1))
        quoted = pc.if_else(
            pc.greater(pc.utf8_length(pointed), 8),
            pc.binary_join_element_wise('"0x', inner, '"', ""),
            "null",
        )
        joined = pc.binary_join(pa.ListArray.from_arrays(with_pointee.offsets, quoted), ",")
        fast_text = pc.replace_with_mask(
            fast_text, has_pointee, pc.binary_join_element_wise("[", joined, "]", "")
        )
    mask = hexlike.to_numpy(zero_copy_only=False)
    slow = np.flatnonzero(~mask)
    slow_args: list[list[str]] = []
    slow_text: list[str | None] = []
    if len(slow):
        slow_names = names.take(pa.array(slow)).to_pylist()
        for name, arguments in zip(slow_names, text.take(pa.array(slow)).to_pylist(), strict=True):
            parsed, pointees = parse_args(name, arguments)
            slow_args.append(parsed)
            slow_text.append(None if pointees is None else msgspec.json.encode(pointees).decode())
        fast = np.flatnonzero(mask)
        order = np.empty(len(mask), np.int64)
        order[fast] = np.arange(len(fast))
        order[slow] = len(fast) + np.arange(len(slow))
        take = pa.array(order)
        fast_args = pa.concat_arrays([fast_args, pa.array(slow_args, _ARGS_TYPE)]).take(take)
        fast_text = pa.concat_arrays([fast_text, pa.array(slow_text, pa.string())]).take(take)
    return fast_args, fast_text
