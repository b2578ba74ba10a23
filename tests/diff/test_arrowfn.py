"""arrowfn's kernels give what pyarrow.compute's functions of the same name give."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import x360k.diff.arrowfn as arrowfn_module


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
