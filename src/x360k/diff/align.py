"""Align two key sequences: vectorised fast-forward, rare k-gram anchors, exact Myers in hunks.

Traces of the same program agree on almost everything, so the aligner spends
its time proving equality, and does that with numpy comparisons over growing
chunks (cost proportional to the matched run, so ``--first`` stops early
cheaply). At a mismatch it looks ahead in a bounded window for a k-gram of
keys that occurs exactly once on each side, nearest to the mismatch, and treats
it as the point where the streams meet again; the stretch before it is diffed
exactly with Myers' O(ND) algorithm. Windows grow geometrically up to a cap,
so a long missing stretch is still found, and a hopeless one ends as one hunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]

_P = np.uint64(0x100000001B3)


@dataclass(frozen=True, slots=True)
class Segment:
    """``a[i:i+length] == b[j:j+length]``."""

    i: int
    j: int
    length: int


@dataclass(frozen=True, slots=True)
class Hunk:
    """``a[i0:i1]`` and ``b[j0:j1]`` differ; ``synced`` is False when no anchor was found."""

    i0: int
    i1: int
    j0: int
    j1: int
    synced: bool = True


@dataclass(frozen=True, slots=True)
class AlignParams:
    """Tuning knobs; the defaults suit kernel traces (a k-gram of 8 calls is rarely repeated)."""

    k: int = 8
    window: int = 512
    max_window: int = 1 << 20
    max_d: int = 4000
    first_chunk: int = 1 << 12
    max_tail: int = 20_000
    #: ``--first`` builds keys in stretches starting at this many events (then doubling).
    stream_chunk: int = 1 << 16


def first_mismatch(a: U64, b: U64, i: int, j: int, first_chunk: int = 1 << 12) -> int:
    """Length of the equal run starting at (i, j), reading only as far as it goes."""
    n = min(len(a) - i, len(b) - j)
    pos, step = 0, first_chunk
    while pos < n:
        width = min(step, n - pos)
        d = np.flatnonzero(a[i + pos : i + pos + width] != b[j + pos : j + pos + width])
        if len(d):
            return pos + int(d[0])
        pos += width
        step = min(step * 2, 1 << 22)
    return n


def kgrams(w: U64, k: int) -> U64:
    """Polynomial hash of every run of k consecutive keys."""
    count = len(w) - k + 1
    h = w[:count].copy()
    for t in range(1, k):
        h = h * _P + w[t : t + count]
    return h


def _unique_once(g: U64) -> tuple[U64, npt.NDArray[np.intp]]:
    values, first, counts = np.unique(g, return_index=True, return_counts=True)
    once = counts == 1
    return values[once], first[once]


def find_anchor(a: U64, b: U64, i: int, j: int, width: int, k: int) -> tuple[int, int] | None:
    """Offsets (p, q) of the nearest k-gram unique in both windows with a[i+p:] == b[j+q:]."""
    wa, wb = a[i : i + width], b[j : j + width]
    if len(wa) < k or len(wb) < k:
        return None
    ua, pa = _unique_once(kgrams(wa, k))
    ub, pb = _unique_once(kgrams(wb, k))
    _, xa, xb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    if not len(xa):
        return None
    ppos, qpos = pa[xa], pb[xb]
    for best in np.argsort(ppos + qpos, kind="stable")[:8]:
        p, q = int(ppos[best]), int(qpos[best])
        if np.array_equal(wa[p : p + k], wb[q : q + k]):
            return p, q
    return None


def myers(a: Sequence[int], b: Sequence[int], max_d: int) -> list[Segment] | None:
    """Matched runs of a shortest edit script (Myers 1986), or None if D exceeds max_d."""
    n, m = len(a), len(b)
    limit = min(max_d, n + m)
    off = limit + 1
    v = [0] * (2 * limit + 3)
    trace: list[list[int]] = []
    for d in range(limit + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
                x = v[off + k + 1]
            else:
                x = v[off + k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[off + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, off, n, m)
    return None


def _backtrack(trace: list[list[int]], off: int, x: int, y: int) -> list[Segment]:
    runs: list[Segment] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        if d == 0:
            if x > 0:
                runs.append(Segment(0, 0, x))
            break
        if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
            pk = k + 1
            px = v[off + pk]
            py = px - pk
            mx, my = px, py + 1
        else:
            pk = k - 1
            px = v[off + pk]
            py = px - pk
            mx, my = px + 1, py
        if x > mx:
            runs.append(Segment(mx, my, x - mx))
        x, y = px, py
    runs.reverse()
    return runs


def diff_block(
    a: U64, b: U64, i0: int, i1: int, j0: int, j1: int, max_d: int
) -> Iterator[Segment | Hunk]:
    """Exact diff of a[i0:i1] against b[j0:j1] as matched runs and hunks, in order."""
    runs = myers(a[i0:i1].tolist(), b[j0:j1].tolist(), max_d)
    if runs is None:
        yield Hunk(i0, i1, j0, j1, synced=False)
        return
    x, y = 0, 0
    for r in runs:
        if r.i > x or r.j > y:
            yield Hunk(i0 + x, i0 + r.i, j0 + y, j0 + r.j)
        yield Segment(i0 + r.i, j0 + r.j, r.length)
        x, y = r.i + r.length, r.j + r.length
    if x < i1 - i0 or y < j1 - j0:
        yield Hunk(i0 + x, i1, j0 + y, j1)


def align(
    a: U64, b: U64, start: tuple[int, int] = (0, 0), params: AlignParams | None = None
) -> Iterator[Segment | Hunk]:
    """Matched runs and hunks covering a[start[0]:] and b[start[1]:], in order."""
    prm = params or AlignParams()
    n, m = len(a), len(b)
    i, j = start
    while i < n or j < m:
        run = first_mismatch(a, b, i, j, prm.first_chunk)
        if run:
            yield Segment(i, j, run)
            i += run
            j += run
        if i >= n or j >= m:
            if i < n or j < m:
                yield Hunk(i, n, j, m)
            return
        width = prm.window
        anchor = None
        while True:
            anchor = find_anchor(a, b, i, j, width, prm.k)
            if anchor is not None or (i + width >= n and j + width >= m):
                break
            if width >= prm.max_window:
                break
            width *= 4
        if anchor is not None:
            p, q = anchor
            yield from diff_block(a, b, i, i + p, j, j + q, prm.max_d)
            i += p
            j += q
            continue
        short = min(n - i, m - j)
        if short < 4 * prm.k:
            # Too little left on one side for an anchor: diff it against a bounded
            # stretch of the other; what lies beyond is where one trace ended.
            ea, eb = min(n, i + short + 256), min(m, j + short + 256)
            yield from diff_block(a, b, i, ea, j, eb, prm.max_d)
            if ea < n or eb < m:
                yield Hunk(ea, n, eb, m)
        elif (n - i) + (m - j) <= prm.max_tail:
            yield from diff_block(a, b, i, n, j, m, prm.max_d)
        else:
            yield Hunk(i, n, j, m, synced=False)
        return
