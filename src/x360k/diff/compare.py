"""The diff from end to end: keys, thread mapping, per-pair alignment, handle checks, verdicts.

This is the one place that knows the order of the steps; each step lives in its
own module. The result keeps the loaded columns so that reports can show any
event without reading the files again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from x360k.diff.align import AlignParams, Segment, align
from x360k.diff.classify import Finding, classify
from x360k.diff.inputs import TraceColumns
from x360k.diff.keys import Normalisation, SideKeys, build_keys, unlogged_exports
from x360k.diff.mapping import ThreadPair, map_threads, thread_infos
from x360k.diff.origins import handle_origins, mismatched_handles, uses_handle
from x360k.trace.event import KIND_CODE

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class StartPoint:
    """``--from``: compare only this thread pair, from these per-thread indices on."""

    ref_tid: int
    ref_idx: int
    cand_tid: int
    cand_idx: int


@dataclass(frozen=True, slots=True)
class DiffOptions:
    """Everything that changes what the diff compares."""

    first: bool = False
    first_occurrence: bool = False
    forced_map: dict[int, int] = field(default_factory=dict)
    norm: Normalisation = field(default_factory=Normalisation)
    start: StartPoint | None = None
    params: AlignParams = field(default_factory=AlignParams)


@dataclass(slots=True)
class PairResult:
    """One thread pair: its rows (global, visible only), findings and verdict."""

    pair: ThreadPair
    ref_rows: I64
    cand_rows: I64
    findings: list[Finding]
    segments: list[Segment]
    matched: int = 0
    stopped_early: bool = False
    verdict: str = ""

    def ref_idx(self, ref: TraceColumns, pos: int) -> int:
        return _idx_at(ref, self.ref_rows, pos)

    def cand_idx(self, cand: TraceColumns, pos: int) -> int:
        return _idx_at(cand, self.cand_rows, pos)


@dataclass(slots=True)
class DiffResult:
    """The whole comparison; ``pairs`` follows the mapping's order."""

    ref: TraceColumns
    cand: TraceColumns
    ref_keys: SideKeys
    cand_keys: SideKeys
    options: DiffOptions
    pairs: list[PairResult]
    rule_counts: dict[str, int]

    @property
    def divergent(self) -> bool:
        return any(f.divergent for p in self.pairs for f in p.findings)


def _idx_at(cols: TraceColumns, rows: I64, pos: int) -> int:
    """The per-thread index at a position; one past the last event at the end."""
    if pos < len(rows):
        return int(cols.ints["idx"][rows[pos]])
    if len(rows):
        return int(cols.ints["idx"][rows[-1]]) + 1
    return 0


def _thread_rows(cols: TraceColumns, keys: SideKeys, tid: int | None) -> I64:
    if tid is None:
        return np.zeros(0, np.int64)
    lo, hi = cols.thread_range(tid)
    vis = keys.visible[lo:hi]
    if bool(vis.all()):
        return np.arange(lo, hi, dtype=np.int64)
    return np.flatnonzero(vis).astype(np.int64) + lo


def _contiguous(rows: I64) -> bool:
    return len(rows) == 0 or int(rows[-1]) - int(rows[0]) + 1 == len(rows)


def _take(arr: U64, rows: I64) -> U64:
    """Key slice for rows: a view when rows are contiguous (the usual case)."""
    if _contiguous(rows):
        return arr[int(rows[0]) : int(rows[0]) + len(rows)] if len(rows) else arr[:0]
    return arr[rows]


def verdict(p: PairResult, ref: TraceColumns, cand: TraceColumns) -> str:
    """The one-line verdict of a thread pair."""
    if p.pair.ref is None or p.pair.cand is None:
        return "UNMAPPED"
    div = [f for f in p.findings if f.divergent]
    if div:
        f = div[0]
        return f"DIVERGED at ref#{p.ref_idx(ref, f.i0)} / cand#{p.cand_idx(cand, f.j0)}"
    classes = {f.cls for f in p.findings}
    if "truncated" in classes:
        return "PREFIX MATCH"
    if "permutation" in classes:
        return "PERMUTATION ONLY"
    return "MATCH"


def _first_occurrence(shape: U64, kind: npt.NDArray[np.int8]) -> I64:
    """Positions where each export is called for the first time, in call order."""
    calls = np.flatnonzero(kind == KIND_CODE["kernel.call"])
    _, first = np.unique(shape[calls], return_index=True)
    out: I64 = calls[np.sort(first)].astype(np.int64)
    return out


def _align_pair(
    ref_rows: I64,
    cand_rows: I64,
    rk: SideKeys,
    ck: SideKeys,
    opts: DiffOptions,
    start: tuple[int, int],
    ref_kind: npt.NDArray[np.int8],
    cand_kind: npt.NDArray[np.int8],
) -> tuple[list[Finding], list[Segment], bool]:
    a, b = _take(rk.full, ref_rows), _take(ck.full, cand_rows)
    sa, sb = _take(rk.shape, ref_rows), _take(ck.shape, cand_rows)
    if not opts.first_occurrence:
        res = classify(align(a, b, start, opts.params), a, b, sa, sb, first=opts.first)
        return res.findings, res.segments, res.stopped_early
    fa = _first_occurrence(sa, ref_kind[ref_rows])
    fb = _first_occurrence(sb, cand_kind[cand_rows])
    oa, ob = sa[fa], sb[fb]
    res = classify(align(oa, ob, (0, 0), opts.params), oa, ob, oa, ob, first=opts.first)

    def at(pos_arr: I64, k: int, total: int) -> int:
        return int(pos_arr[k]) if k < len(pos_arr) else total

    findings = [
        Finding(
            f.cls,
            at(fa, f.i0, len(a)),
            at(fa, f.i1 - 1, len(a)) + 1 if f.i1 > f.i0 else at(fa, f.i0, len(a)),
            at(fb, f.j0, len(b)),
            at(fb, f.j1 - 1, len(b)) + 1 if f.j1 > f.j0 else at(fb, f.j0, len(b)),
            f.synced,
            ("export order",),
        )
        for f in res.findings
    ]
    return findings, [], res.stopped_early


def run_diff(
    ref: TraceColumns,
    cand: TraceColumns,
    opts: DiffOptions | None = None,
    progress: Progress | None = None,
) -> DiffResult:
    """Compare two loaded traces thread pair by thread pair."""
    opts = opts or DiffOptions()
    norm = opts.norm
    step = progress or (lambda _s, _d, _t: None)
    step("normalising", 0, 1)
    rk = build_keys(ref, norm)
    drop = (
        unlogged_exports(ref.header, cand.strs["name"].values)
        if norm.on("unlogged-exports")
        else set()
    )
    ck = build_keys(cand, norm, drop)
    counts = {k: rk.counts.get(k, 0) + ck.counts.get(k, 0) for k in {*rk.counts, *ck.counts}}
    counts["unlogged-exports"] = ck.counts.get("unlogged-exports", 0)
    forced = dict(opts.forced_map)
    if opts.start:
        forced[opts.start.ref_tid] = opts.start.cand_tid
    mapping = map_threads(
        thread_infos(ref, rk.shape, rk.full), thread_infos(cand, ck.shape, ck.full), forced
    )
    if opts.start:
        mapping = [p for p in mapping if p.ref == opts.start.ref_tid]
    ref_kind, cand_kind = ref.kind_codes(), cand.kind_codes()
    pairs: list[PairResult] = []
    for k, pair in enumerate(mapping):
        step("aligning threads", k, len(mapping))
        ref_rows = _thread_rows(ref, rk, pair.ref)
        cand_rows = _thread_rows(cand, ck, pair.cand)
        pr = PairResult(pair, ref_rows, cand_rows, [], [])
        if pair.ref is not None and pair.cand is not None:
            start = (0, 0)
            if opts.start:
                start = (
                    int(np.searchsorted(ref.ints["idx"][ref_rows], opts.start.ref_idx)),
                    int(np.searchsorted(cand.ints["idx"][cand_rows], opts.start.cand_idx)),
                )
            pr.findings, pr.segments, pr.stopped_early = _align_pair(
                ref_rows, cand_rows, rk, ck, opts, start, ref_kind, cand_kind
            )
            pr.matched = sum(s.length for s in pr.segments)
        pairs.append(pr)
    step("checking handles", 0, 1)
    if norm.on("handles") and not opts.first_occurrence:
        _check_handles(ref, cand, pairs, opts.first)
    for pr in pairs:
        pr.verdict = verdict(pr, ref, cand)
    step("done", 1, 1)
    return DiffResult(ref, cand, rk, ck, opts, pairs, counts)


def _check_handles(
    ref: TraceColumns, cand: TraceColumns, pairs: list[PairResult], first: bool
) -> None:
    """Add a 'changed: handle' finding wherever matched events use non-corresponding handles."""
    ref_uses = uses_handle(ref)
    cand_uses = uses_handle(cand)
    if not ref_uses.any() and not cand_uses.any():
        return
    match = np.full(ref.n, -1, dtype=np.int64)
    pos_of = np.full(ref.n, -1, dtype=np.int64)
    owner = np.full(ref.n, -1, dtype=np.int64)
    for k, pr in enumerate(pairs):
        pos_of[pr.ref_rows] = np.arange(len(pr.ref_rows))
        owner[pr.ref_rows] = k
        for s in pr.segments:
            match[pr.ref_rows[s.i : s.i + s.length]] = pr.cand_rows[s.j : s.j + s.length]
    bad = mismatched_handles(match, handle_origins(ref), handle_origins(cand), ref_uses)
    if not len(bad):
        return
    cand_pos = np.full(cand.n, -1, dtype=np.int64)
    for pr in pairs:
        cand_pos[pr.cand_rows] = np.arange(len(pr.cand_rows))
    for r in bad.tolist():
        pr = pairs[int(owner[r])]
        i, j = int(pos_of[r]), int(cand_pos[match[r]])
        if first and any(f.divergent and f.i0 <= i for f in pr.findings):
            continue
        pr.findings.append(Finding("changed", i, i + 1, j, j + 1, True, ("handle",)))
    for pr in pairs:
        pr.findings.sort(key=lambda f: (f.i0, f.j0))
        if first:
            div = [f for f in pr.findings if f.divergent]
            if div:
                cut = div[0]
                pr.findings = [f for f in pr.findings if f.i0 <= cut.i0]
