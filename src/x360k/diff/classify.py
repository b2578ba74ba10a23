"""Name each hunk the aligner found: changed, missing, extra, reordered or truncated.

Classes answer "what should I look at". Threads are compared one pair at a
time, so a different interleaving *across* threads (a scheduling race) never
shows up at all; inside one thread the order is program order, so the same
events in a different order nearby (*reordered*) is a divergence like the
others. *truncated* means one trace simply stopped (how far a run got) and
is not a failure by default. *unmapped* (a thread one side has and the other
lacks, or an empty side) is made by the comparison, not here. Inside a hunk a
second, coarser diff on shape keys (kind + export) separates "same call,
different fields" (changed) from events one side lacks (missing) or has in
addition (extra).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from x360k.diff.align import Hunk, Segment, myers
from x360k.diff.rules import FINDING_CLASSES

U64 = npt.NDArray[np.uint64]

CLASSES = FINDING_CLASSES
#: Classes that are real divergences (the verdict says DIVERGED); the others are reported only.
DIVERGENT = frozenset({"changed", "missing", "extra", "reordered", "unmapped"})
#: Classes that fail the run (exit status 1) unless ``--fail-on`` says otherwise: every
#: divergence, and "unrecorded" (not a finding: the comparison was partial, a side
#: does not record exports the other calls); ``truncated`` (one side stopped early,
#: "how far we got") is benign.
DEFAULT_FAIL_ON = DIVERGENT | {"unrecorded"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One classified stretch: ``ref[i0:i1]`` against ``cand[j0:j1]`` (thread positions)."""

    cls: str
    i0: int
    i1: int
    j0: int
    j1: int
    synced: bool = True
    fields: tuple[str, ...] = ()

    @property
    def divergent(self) -> bool:
        return self.cls in DIVERGENT


@dataclass(slots=True)
class ThreadAlignment:
    """Everything the aligner and classifier learned about one thread pair."""

    findings: list[Finding]
    segments: list[Segment]
    stopped_early: bool = False


def _split_hunk(h: Hunk, a: U64, b: U64, sa: U64, sb: U64, max_d: int) -> list[Finding]:
    if h.i0 == h.i1:
        return [Finding("extra", h.i0, h.i1, h.j0, h.j1, h.synced)]
    if h.j0 == h.j1:
        return [Finding("missing", h.i0, h.i1, h.j0, h.j1, h.synced)]
    runs = myers(sa[h.i0 : h.i1].tolist(), sb[h.j0 : h.j1].tolist(), max_d)
    if runs is None:
        return [Finding("changed", h.i0, h.i1, h.j0, h.j1, synced=False)]
    out: list[Finding] = []
    x, y = 0, 0

    def gap(x0: int, x1: int, y0: int, y1: int) -> None:
        if x1 > x0:
            out.append(Finding("missing", h.i0 + x0, h.i0 + x1, h.j0 + y0, h.j0 + y0, h.synced))
        if y1 > y0:
            out.append(Finding("extra", h.i0 + x1, h.i0 + x1, h.j0 + y0, h.j0 + y1, h.synced))

    for r in runs:
        gap(x, r.i, y, r.j)
        start = None
        for t in range(r.length + 1):
            differs = t < r.length and a[h.i0 + r.i + t] != b[h.j0 + r.j + t]
            if differs and start is None:
                start = t
            elif not differs and start is not None:
                out.append(
                    Finding(
                        "changed",
                        h.i0 + r.i + start,
                        h.i0 + r.i + t,
                        h.j0 + r.j + start,
                        h.j0 + r.j + t,
                        h.synced,
                    )
                )
                start = None
        x, y = r.i + r.length, r.j + r.length
    gap(x, h.i1 - h.i0, y, h.j1 - h.j0)
    return out


def classify(
    stream: Iterable[Segment | Hunk],
    a: U64,
    b: U64,
    sa: U64,
    sb: U64,
    *,
    first: bool = False,
    gap: int = 4,
    max_d: int = 4000,
) -> ThreadAlignment:
    """Consume the aligner's output for one thread pair and classify every hunk.

    Hunks separated by at most ``gap`` matched events form a cluster; a cluster
    whose two sides hold the same multiset of events is one ``reordered`` finding. With
    ``first``, stops at the first real divergence (the aligner is lazy, so the
    rest of the traces is never compared).
    """
    n, m = len(a), len(b)
    result = ThreadAlignment([], [])
    cluster: list[Hunk] = []

    def flush(members: list[Hunk]) -> bool:
        if not members:
            return False
        h0, h1 = members[0], members[-1]
        i0, i1, j0, j1 = h0.i0, h1.i1, h0.j0, h1.j1
        span_a, span_b = a[i0:i1], b[j0:j1]
        if (
            i1 > i0
            and j1 > j0
            and len(span_a) == len(span_b)
            and np.array_equal(np.sort(span_a), np.sort(span_b))
        ):
            result.findings.append(Finding("reordered", i0, i1, j0, j1))
            return True
        found = False
        for h in members:
            if h.i1 == n and h.j1 == m and (h.i0 == h.i1 or h.j0 == h.j1):
                result.findings.append(Finding("truncated", h.i0, h.i1, h.j0, h.j1))
                continue
            for f in _split_hunk(h, a, b, sa, sb, max_d):
                result.findings.append(f)
                found = found or f.divergent
        return found

    for item in stream:
        if isinstance(item, Segment):
            result.segments.append(item)
            if cluster and item.length > gap:
                members = cluster[:]
                cluster.clear()
                if flush(members) and first:
                    result.stopped_early = True
                    return result
            continue
        if cluster and cluster[-1].i1 == item.i0 and cluster[-1].j1 == item.j0:
            last = cluster.pop()
            item = Hunk(last.i0, item.i1, last.j0, item.j1, last.synced and item.synced)
        cluster.append(item)
    flush(cluster)
    return result
