"""arrowfn's kernels give what pyarrow.compute's functions of the same name give."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import x360k.trace.arrowfn as arrowfn_module


def _checks(fn: ModuleType) -> None:
    ints = pa.chunked_array([[3, None, 1], [7, 2]], pa.int64())
    texts = pa.array(["0x1", None, "a(b", "0x1"])
    lists = pa.array([["a", "b"], None, [], ["c"]], pa.list_(pa.string()))
    assert fn.take(ints, pa.array([4, 0])).equals(pc.take(ints, pa.array([4, 0])))
    assert fn.cast(ints, pa.float64()).equals(pc.cast(ints, pa.float64()))
    assert fn.cast(ints, pa.int64()) is ints
    assert fn.fill_null(ints, 0).equals(pc.fill_null(ints, 0))
    assert fn.is_valid(texts).equals(pc.is_valid(texts))
    assert fn.dictionary_encode(texts).equals(pc.dictionary_encode(texts))
    assert fn.index_in(texts, pa.array(["0x1"])).equals(pc.index_in(texts, pa.array(["0x1"])))
    assert fn.min_value(ints).as_py() == pc.min(ints).as_py() == 1
    assert fn.any_true(pa.array([False, None, True])) is True
    assert fn.any_true(pa.array([False, None])) is False
    assert fn.match_substring(texts, "(").equals(pc.match_substring(texts, "("))
    assert fn.list_flatten(lists).equals(pc.list_flatten(lists))
    pattern = r"^0x[0-9]$"
    assert fn.match_substring_regex(texts, pattern).equals(pc.match_substring_regex(texts, pattern))
    assert fn.starts_with(texts, "0x").equals(pc.starts_with(texts, "0x"))
    mask = pa.array([True, None, False, True])
    assert fn.invert(mask).equals(pc.invert(mask))
    assert fn.filter_by(texts, mask).equals(pc.filter(texts, mask))
    values = np.array([5, -1, 1 << 40], np.int64)
    assert fn.int64_array(values).equals(pa.array(values, pa.int64()))


def test_kernels_match_pyarrow_compute() -> None:
    _checks(arrowfn_module)


def test_a_pyarrow_without_its_private_module_falls_back_to_the_public_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow._compute", None)  # its import now fails
    monkeypatch.delattr(pa, "_compute", raising=False)
    try:
        fallback = importlib.reload(arrowfn_module)
        assert fallback._c is pc
        _checks(fallback)
    finally:
        monkeypatch.undo()
        importlib.reload(arrowfn_module)


def _chunked_table() -> pa.Table:
    batches = [
        pa.record_batch(
            {
                "n": pa.array(range(start, start + size), pa.int64()),
                "s": pa.array([f"r{i}" if i % 3 else None for i in range(start, start + size)]),
                "a": pa.array([[str(i)] * (i % 3) for i in range(start, start + size)]),
                "d": pa.array(
                    [f"k{i % 2}" for i in range(start, start + size)]
                ).dictionary_encode(),
                "z": pa.nulls(size, pa.int64()),
                "zd": pa.DictionaryArray.from_arrays(pa.nulls(size, pa.int32()), pa.array(["x"])),
            }
        )
        for start, size in ((0, 5), (5, 1), (6, 7), (13, 4))
    ]
    return pa.Table.from_batches(batches)


@pytest.mark.parametrize(
    "rows",
    [[16, 0, 5, 6, 12, 3], [4], [9, 9, 2, 9], list(range(17)), list(range(16, -1, -1))],
)
def test_take_rows_gives_the_rows_in_the_order_asked(rows: list[int]) -> None:
    table = _chunked_table()
    want = pc.take(table, pa.array(rows, pa.int64()))
    got = arrowfn_module.take_rows(table, np.array(rows, np.int64))
    assert got.to_pydict() == want.to_pydict()
    column = table.column("s")
    got_col = arrowfn_module.take_rows(column, np.array(rows, np.int64))
    assert got_col.to_pylist() == pc.take(column, pa.array(rows, pa.int64())).to_pylist()


def test_take_rows_reads_only_the_chunks_its_rows_are_in(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _chunked_table()
    taken: list[int] = []
    real = arrowfn_module.take

    def counting(data: pa.Table, indices: pa.Array) -> pa.Table:
        taken.append(len(data))
        return real(data, indices)

    monkeypatch.setattr(arrowfn_module, "take", counting)
    arrowfn_module.take_rows(table, np.array([14, 6], np.int64))
    # the four columns with values of the two chunks the rows are in (7 and 4 rows), then
    # the 2 gathered rows put in order; the all-null columns answered without a take
    assert taken == [7] * 4 + [4] * 4 + [2]


def test_take_rows_refuses_rows_past_either_end_and_takes_none() -> None:
    table = _chunked_table()
    for bad in ([17], [-1], [3, 40]):
        with pytest.raises(IndexError):
            arrowfn_module.take_rows(table, np.array(bad, np.int64))
    assert arrowfn_module.take_rows(table, np.zeros(0, np.int64)).num_rows == 0
    assert arrowfn_module.take_rows(table.column("n"), np.zeros(0, np.int64)).to_pylist() == []
