"""Start-up shortcuts of the diff: solver-free thread pairing, the stored argument table."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from x360k.diff.mapping import _distinct_maxima, best_assignment


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.integers(1, 6).flatmap(
            lambda m: arrays(np.float64, (n, m), elements=st.sampled_from([0.0, 0.2, 0.5, 0.9]))
        )
    )
)
def test_distinct_maxima_is_the_optimum_whenever_it_answers(sim: np.ndarray) -> None:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(sim, maximize=True)
    plain = _distinct_maxima(sim)
    if plain is not None:
        assert plain == ([int(r) for r in rows], [int(c) for c in cols])
    got_rows, got_cols = best_assignment(sim)
    assert sim[got_rows, got_cols].sum() == sim[rows, cols].sum()


def test_clear_similarities_need_no_solver() -> None:
    sim = np.array([[0.1, 0.9, 0.2], [0.8, 0.1, 0.3]])
    assert _distinct_maxima(sim) == ([0, 1], [1, 0])
    assert _distinct_maxima(sim.T) == ([0, 1], [1, 0])
    assert _distinct_maxima(np.array([[0.5, 0.5]])) is None  # a tie: the solver decides


def test_registry_snapshot_is_current() -> None:
    """The stored argument types equal the export registry's; if not, regenerate with
    ``python -m x360k.diff.argtable`` after changing an export's parameters."""
    from x360k.diff.argtable import live_registry_arg_table, registry_arg_table

    assert registry_arg_table() == live_registry_arg_table()
