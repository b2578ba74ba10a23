"""Which guest thread of the candidate is which thread of the reference.

Thread ids differ between emulators (the seed's main thread is 6 in canary and
1 in the new emulator), so threads are paired by what they are: the main
thread with the main thread, then the n-th thread each paired thread creates
with the n-th its partner creates, accepted when both start at the same entry
point. Threads left over are paired by how alike their event streams are
(cosine similarity of export histograms) with an optimal assignment. The user
can fix any pair with ``--map``.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from x360k.diff.inputs import TraceColumns
from x360k.diff.keys import KeyBuilder
from x360k.trace.event import KIND_CODE

U64 = npt.NDArray[np.uint64]

#: Below this similarity two leftover threads are not paired at all.
MIN_SIMILARITY = 0.3


@dataclass(frozen=True, slots=True)
class ThreadPair:
    """A reference thread and its candidate partner (None: unmapped), with evidence.

    ``margin`` is the pair's similarity minus that of the reference thread's
    runner-up candidate (None when there is no other candidate thread): a small
    margin means the pairing could as well have gone another way.
    """

    ref: int | None
    cand: int | None
    method: str
    confidence: float
    margin: float | None = None
    runner_up: int | None = None


@dataclass(slots=True)
class ThreadInfo:
    """What mapping needs to know about one thread."""

    tid: int
    first_seq: int
    #: (child tid, entry, linked by sid) in creation order; "linked by sid" when the
    #: record is the child's own thread.create, tied to this thread by its handle's sid.
    creates: list[tuple[int | None, int | None, bool]]
    profile: npt.NDArray[np.float64]  # see _profile
    #: Trace row of each entry of ``creates`` (where it sits in the parent).
    create_rows: list[int] = field(default_factory=list)


#: Full-key histograms look at this many events per thread: threads that are the
#: same thread agree from their start, and the cost stays bounded on huge traces.
SIMILARITY_PREFIX = 20_000


#: Histograms are folded into this many buckets (by the keys' low bits, which
#: are well mixed), so comparing every pair of threads is one matrix product.
BUCKETS = 1 << 12


def _unit(keys: U64, weights: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float64]:
    slot = (keys & np.uint64(BUCKETS - 1)).astype(np.int64)
    vec = np.bincount(slot, weights=weights, minlength=BUCKETS).astype(np.float64)
    norm = float(np.sqrt(np.dot(vec, vec)))
    return vec / norm if norm else vec


def _profile(shape: tuple[U64, npt.NDArray[np.int64]], full: U64) -> npt.NDArray[np.float64]:
    """Shape and full-key histograms as one vector whose dot product is their mean cosine."""
    out: npt.NDArray[np.float64] = np.concatenate((_unit(*shape), _unit(full))) * np.sqrt(0.5)
    return out


#: The columns a thread's shape histogram reads.
_SHAPE_COLUMNS: Final = ("kind", "name")


def thread_infos(
    cols: TraceColumns, keys: KeyBuilder, limit: int | None = None
) -> dict[int, ThreadInfo]:
    """Per-thread creation lists and export histograms, one thread at a time.

    ``limit`` bounds the events per thread the shape histogram reads (``--first``
    keeps its cost independent of the traces' length).
    """
    out: dict[int, ThreadInfo] = {}
    tc = KIND_CODE["thread.create"]
    own: list[tuple[int, int, object, object]] = []  # (child tid, entry, sid, handle)
    tids = cols.thread_tids.tolist()
    starts = cols.thread_starts.tolist()
    bounds = list(itertools.pairwise(starts))
    shaped = bounds if limit is None else [(lo, min(hi, lo + limit)) for lo, hi in bounds]
    for k in cols.read_ahead(shaped, _SHAPE_COLUMNS):
        tid = tids[k]
        lo, hi = bounds[k]
        local = np.flatnonzero(cols.kinds(lo, hi) == tc)
        creates: list[tuple[int | None, int | None, bool]] = []
        create_rows: list[int] = []
        if len(local):
            rows = (local + lo).tolist()
            got = cols.take(rows, ("child_tid", "entry", "sid", "handle"))
            for row, child, entry, sid, handle in zip(
                rows, got["child_tid"], got["entry"], got["sid"], got["handle"], strict=True
            ):
                if child is None or child == tid:  # written on the child thread itself
                    own.append((tid, entry, sid, handle))
                else:
                    creates.append((child, entry, False))
                    create_rows.append(row)
        out[tid] = ThreadInfo(
            tid=tid,
            first_seq=int(cols.seq[lo:hi].min()) if cols.seq is not None and hi > lo else lo,
            creates=creates,
            create_rows=create_rows,
            profile=_profile(
                keys.shape_histogram(lo, hi if limit is None else min(hi, lo + limit)),
                keys.keys(lo, min(hi, lo + SIMILARITY_PREFIX), count=False).full,
            ),
        )
    if own:
        _link_own_records(cols, out, own)
    return out


def _link_own_records(
    cols: TraceColumns, infos: dict[int, ThreadInfo], own: list[tuple[int, int, object, object]]
) -> None:
    """Attach thread.create records written on the child to the parent that made its handle.

    The parent is the thread whose ``handle.create`` has the sid (else the handle
    value) the child's record names; the child takes its place among the
    parent's children by the row of that creation. Threads whose handle no
    creation names stay roots.
    """
    hc = KIND_CODE["handle.create"]
    by_sid: dict[object, tuple[int, int]] = {}
    by_handle: dict[object, list[tuple[int, int]]] = {}
    for k, tid in enumerate(cols.thread_tids.tolist()):
        lo, hi = int(cols.thread_starts[k]), int(cols.thread_starts[k + 1])
        rows = (np.flatnonzero(cols.kinds(lo, hi) == hc) + lo).tolist()
        if not rows:
            continue
        got = cols.take(rows, ("sid", "handle"))
        for row, sid, handle in zip(rows, got["sid"], got["handle"], strict=True):
            if sid is not None:
                by_sid[sid] = (tid, row)
            if handle is not None:
                by_handle.setdefault(handle, []).append((tid, row))
    extra: dict[int, list[tuple[int, int, int | None]]] = {}
    for child, entry, sid, handle in own:
        where = by_sid.get(sid) if sid is not None else None
        if where is None and handle is not None:
            found = [w for w in by_handle.get(handle, []) if w[0] != child]
            where = found[0] if len(found) == 1 else None
        if where is None or where[0] == child:
            continue
        extra.setdefault(where[0], []).append((where[1], child, entry))
    for parent, items in extra.items():
        info = infos[parent]
        known = {c for c, _, _ in info.creates}
        items = [it for it in items if it[1] not in known]  # also recorded on the parent
        merged = list(zip(info.create_rows, info.creates, strict=True))
        merged += [(row, (child, entry, True)) for row, child, entry in items]
        merged.sort(key=lambda rc: rc[0])
        info.create_rows = [r for r, _ in merged]
        info.creates = [c for _, c in merged]


def similarity(x: ThreadInfo, y: ThreadInfo) -> float:
    """Mean cosine similarity of the threads' histograms of shape keys and of full keys.

    Shapes say "calls the same exports as often"; full keys (normalised, so
    comparable across emulators) tell apart threads that run the same code on
    different data.
    """
    return float(np.dot(x.profile, y.profile))


def _roots(infos: dict[int, ThreadInfo]) -> list[int]:
    children = {c for info in infos.values() for c, _, _ in info.creates}
    return sorted((t for t in infos if t not in children), key=lambda t: infos[t].first_seq)


def map_threads(
    ref: dict[int, ThreadInfo],
    cand: dict[int, ThreadInfo],
    forced: dict[int, int] | None = None,
) -> list[ThreadPair]:
    """Pair threads: forced pairs, then the creation tree, then similarity; rest unmapped."""
    pairs: dict[int, ThreadPair] = {}
    used: set[int] = set()
    for r, c in (forced or {}).items():
        if r in ref and c in cand:
            pairs[r] = ThreadPair(r, c, "--map", 1.0)
            used.add(c)
    queue: deque[tuple[int, int]] = deque()
    for r, c in (forced or {}).items():
        if r in pairs:
            queue.append((r, c))
    ref_roots, cand_roots = _roots(ref), _roots(cand)
    single_root = len(ref_roots) == 1 and len(cand_roots) == 1
    if single_root and ref_roots[0] not in pairs and cand_roots[0] not in used:
        r, c = ref_roots[0], cand_roots[0]
        pairs[r] = ThreadPair(r, c, "main thread", round(similarity(ref[r], cand[c]), 3))
        used.add(c)
        queue.append((r, c))
    while queue:
        r, c = queue.popleft()
        for (rc, rentry, rsid), (cc, centry, csid) in zip(
            ref[r].creates, cand[c].creates, strict=False
        ):
            if rc is None or cc is None:
                continue
            if rc in pairs or cc in used or rc not in ref or cc not in cand:
                continue
            if rentry != centry and None not in (rentry, centry):
                continue  # different entry points: not the same thread; leave to similarity
            how = "thread.create sid" if rsid or csid else "creation tree"
            pairs[rc] = ThreadPair(rc, cc, how, 1.0)
            used.add(cc)
            queue.append((rc, cc))
    left_r = [t for t in ref if t not in pairs]
    left_c = [t for t in cand if t not in used]
    if left_r and left_c:
        sim = (
            np.stack([ref[r].profile for r in left_r])
            @ np.stack([cand[c].profile for c in left_c]).T
        )
        rows, cols = best_assignment(sim)
        for ri, ci in zip(rows, cols, strict=True):
            if sim[ri, ci] >= MIN_SIMILARITY:
                r, c = left_r[ri], left_c[ci]
                pairs[r] = ThreadPair(r, c, "similarity", round(float(sim[ri, ci]), 3))
                used.add(c)
    margins = _Margins(ref, cand)
    out = [
        margins.of(pairs[r]) if r in pairs else ThreadPair(r, None, "unmapped", 0.0)
        for r in sorted(ref)
    ]
    out.extend(ThreadPair(None, c, "unmapped", 0.0) for c in sorted(cand) if c not in used)
    return out


class _Margins:
    """Each pair's similarity margin over the reference thread's next best candidate.

    All similarities are one matrix product, made on first use (a single
    candidate thread has no runner-up and needs none).
    """

    def __init__(self, ref: dict[int, ThreadInfo], cand: dict[int, ThreadInfo]) -> None:
        self.ref, self.cand = ref, cand
        self.rows = {r: k for k, r in enumerate(ref)}
        self.cols = list(cand)
        self.index = {c: k for k, c in enumerate(self.cols)}
        self.sim: npt.NDArray[np.float64] | None = None

    def of(self, p: ThreadPair) -> ThreadPair:
        assert p.ref is not None and p.cand is not None
        if len(self.cols) < 2:
            return p
        if self.sim is None:
            self.sim = (
                np.stack([i.profile for i in self.ref.values()])
                @ np.stack([i.profile for i in self.cand.values()]).T
            )
        row = self.sim[self.rows[p.ref]].copy()
        mine = float(row[self.index[p.cand]])
        row[self.index[p.cand]] = -np.inf
        best = int(np.argmax(row))
        return ThreadPair(
            p.ref,
            p.cand,
            p.method,
            p.confidence,
            round(mine - float(row[best]), 3),
            self.cols[best],
        )


def best_assignment(sim: npt.NDArray[np.float64]) -> tuple[list[int], list[int]]:
    """Row and column indices of the pairing with the largest total similarity.

    scipy is imported here, not at module level, and only when the answer is not
    plain (:func:`_distinct_maxima`): importing it costs about half a second.
    """
    plain = _distinct_maxima(sim)
    if plain is not None:
        return plain
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(sim, maximize=True)
    return [int(r) for r in rows], [int(c) for c in cols]


def _distinct_maxima(sim: npt.NDArray[np.float64]) -> tuple[list[int], list[int]] | None:
    """The optimal pairing when each row's strict maximum lies in a different column.

    (Columns instead of rows when there are fewer columns.) Every assignment's
    total is then below the sum of those maxima unless it takes each of them,
    so that pairing is the one and only optimum and no solver is needed; with
    a tie or a shared column, None.
    """
    wide = sim.shape[0] <= sim.shape[1]
    s = sim if wide else sim.T
    if s.shape[0] == 0:
        return None
    best = np.argmax(s, axis=1)
    if len(set(best.tolist())) != len(best):
        return None
    if s.shape[1] > 1:
        lines = np.arange(len(best))
        rest = s.copy()
        rest[lines, best] = -np.inf
        if bool(np.any(rest.max(axis=1) >= s[lines, best])):
            return None
    if wide:
        return list(range(len(best))), [int(c) for c in best]
    pairs = sorted((int(r), c) for c, r in enumerate(best.tolist()))
    return [r for r, _ in pairs], [c for _, c in pairs]


def parse_map(text: str) -> dict[int, int]:
    """``6=1,9=3`` -> {6: 1, 9: 3}; raises ValueError naming the bad item."""
    out: dict[int, int] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        left, sep, right = item.partition("=")
        if not sep:
            raise ValueError(f"--map item {item!r} is not REF=CAND")
        try:
            out[int(left, 0)] = int(right, 0)
        except ValueError:
            raise ValueError(f"--map item {item!r}: thread ids must be integers") from None
    return out
