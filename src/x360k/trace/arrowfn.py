"""The few Arrow compute kernels the diff (and its JSONL spill) call, without ``pyarrow.compute``.

``pyarrow.compute`` builds a Python wrapper with a docstring for every kernel
when imported (~20 ms, a tenth of a small diff); the kernels themselves are
reachable through ``pyarrow._compute.call_function``. Array methods such as
``.cast()``, ``.take()`` and ``.fill_null()`` import ``pyarrow.compute`` too, so
the diff calls these instead. Each does what the ``pyarrow.compute`` function
of the same name does with its default options.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

try:  # the kernels' own (Cython) module, which pyarrow.compute wraps
    from pyarrow import _compute as _c
except ImportError:  # a pyarrow that moves it: the public module has the same names
    import pyarrow.compute as _c

T = TypeVar("T", pa.Array, pa.ChunkedArray, pa.RecordBatch, pa.Table)
ArrayLike = pa.Array | pa.ChunkedArray


def take(data: T, indices: pa.Array | pa.ChunkedArray) -> T:
    out: T = _c.call_function("take", [data, indices], _c.TakeOptions(boundscheck=True))
    return out


TableOrColumn = TypeVar("TableOrColumn", pa.Table, pa.ChunkedArray)


def take_rows(data: TableOrColumn, rows: npt.NDArray[np.int64]) -> TableOrColumn:
    """``take`` of a few rows of a chunked table or column, reading only the chunks they are in.

    Arrow's ``take`` on chunked data concatenates the chunks first (pyarrow 26: 0.24 s for
    a 200M-row int64 column, 4.3 s for a one-column table of it): on a memory-mapped trace
    that reads and copies whole columns to fetch the handful of rows a report shows, and
    at 100M events per side pushes the mapped files out of the page cache.
    """
    rows = np.asarray(rows, np.int64)
    pieces: list[Any] = data.to_batches() if isinstance(data, pa.Table) else data.chunks
    if len(pieces) <= 1 or not len(rows):
        return take(data, int64_array(rows))
    starts = np.concatenate(([0], np.cumsum([len(p) for p in pieces])))
    if rows.min() < 0 or rows.max() >= starts[-1]:
        raise IndexError(f"row out of range: {int(rows.min())}..{int(rows.max())} of {starts[-1]}")
    which = np.searchsorted(starts, rows, "right") - 1
    order = np.argsort(which, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(which[order])) + 1)
    parts = [
        _take_piece(pieces[int(which[g[0]])], int64_array(rows[g] - starts[which[g[0]]]))
        for g in groups
    ]
    gathered: Any = (
        pa.Table.from_batches(parts, data.schema)
        if isinstance(data, pa.Table)
        else pa.chunked_array(parts, data.type)
    )
    back = np.empty(len(order), np.int64)
    back[order] = np.arange(len(order))
    out: TableOrColumn = take(gathered, int64_array(back))
    return out


def _take_piece(piece: pa.Array | pa.RecordBatch, indices: pa.Array) -> Any:
    """``take`` from one chunk, answering a column with no value there without reading it
    (a trace's unused columns are stored as zeroed buffers that a take would fault in)."""
    if isinstance(piece, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(
            [_take_piece(col, indices) for col in piece.columns], schema=piece.schema
        )
    if len(piece) and piece.null_count == len(piece):
        if pa.types.is_dictionary(piece.type):
            nulls = pa.nulls(len(indices), piece.type.index_type)
            return pa.DictionaryArray.from_arrays(nulls, piece.dictionary)
        return pa.nulls(len(indices), piece.type)
    return take(piece, indices)


def cast(arr: Any, target: pa.DataType) -> Any:
    """A safe cast, as ``arr.cast(target)``; a no-op when the type is already ``target``."""
    if arr.type == target:
        return arr
    return _c.call_function("cast", [arr], _c.CastOptions.safe(target))


def fill_null(arr: Any, value: Any) -> Any:
    return _c.call_function("coalesce", [arr, pa.scalar(value, type=arr.type)])


def is_valid(arr: Any) -> Any:
    return _c.call_function("is_valid", [arr])


def dictionary_encode(arr: Any) -> Any:
    return _c.call_function("dictionary_encode", [arr], _c.DictionaryEncodeOptions())


def index_in(arr: Any, value_set: pa.Array) -> Any:
    return _c.call_function("index_in", [arr], _c.SetLookupOptions(value_set=value_set))


def min_value(arr: Any) -> Any:
    """The smallest non-null value (a scalar; null when there is none)."""
    return _c.call_function("min", [arr], _c.ScalarAggregateOptions())


def any_true(arr: Any) -> bool:
    return bool(_c.call_function("any", [arr], _c.ScalarAggregateOptions()).as_py())


def match_substring(arr: Any, pattern: str) -> Any:
    return _c.call_function("match_substring", [arr], _c.MatchSubstringOptions(pattern))


def match_substring_regex(arr: Any, pattern: str) -> Any:
    return _c.call_function("match_substring_regex", [arr], _c.MatchSubstringOptions(pattern))


def starts_with(arr: Any, pattern: str) -> Any:
    return _c.call_function("starts_with", [arr], _c.MatchSubstringOptions(pattern))


def invert(arr: Any) -> Any:
    return _c.call_function("invert", [arr])


def filter_by(arr: Any, mask: Any) -> Any:
    """``arr.filter(mask)``: nulls in the mask drop their rows."""
    return _c.call_function("filter", [arr, mask])


def list_flatten(arr: Any) -> Any:
    """The items of a list array, as ``arr.flatten()``."""
    return _c.call_function("list_flatten", [arr], _c.ListFlattenOptions(False))


def int64_array(values: npt.NDArray[Any]) -> pa.Array:
    """An int64 Arrow array over a numpy array's memory.

    ``pa.array(ndarray)`` checks for numpy masked arrays, which imports
    ``numpy.ma`` (~10 ms) the first time.
    """
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
