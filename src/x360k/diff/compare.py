"""The diff from end to end: keys, thread mapping, per-pair alignment, handle checks, verdicts.

This is the one place that knows the order of the steps; each step lives in its
own module. Work is done one thread pair at a time: a pair's keys exist only
while it is aligned, so memory follows the largest thread, not the trace.
With ``first``, keys are built in growing stretches and building stops once the
first divergence is found, so the cost follows the matched prefix.
The result keeps the (memory-mapped) traces so reports can show any event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from x360k.diff.align import AlignParams, Segment, align, first_mismatch
from x360k.diff.classify import DEFAULT_FAIL_ON, Finding, ThreadAlignment, classify
from x360k.diff.inputs import Rows, TraceColumns, events_at
from x360k.diff.keys import KeyBuilder, Normalisation, ThreadKeys
from x360k.diff.mapping import ThreadPair, map_threads, thread_infos
from x360k.diff.origins import HandleIndex, mismatched_handles
from x360k.diff.projection import Projection, project
from x360k.trace.event import KIND_CODE, TraceEvent

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

Progress = Callable[[str, int, int], None]

#: With ``--first``, thread similarity looks at this many events per thread.
FIRST_HISTOGRAM_EVENTS = 1 << 20


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
    bisect: bool = False
    #: Finding classes that make the run fail (exit status 1), see ``--fail-on``.
    fail_on: frozenset[str] = DEFAULT_FAIL_ON
    #: Fetch each divergence's first events while its thread pair's pages are still
    #: resident (for listing every divergence: ``--json``); see PairResult.first_events.
    keep_first_events: bool = False


#: Divergences whose first events a diff keeps at most (beyond, they are fetched later).
KEEP_EVENTS_LIMIT: Final = 100_000
#: A divergence's first event on each side (None: that side has none), by (class, i0, j0).
FirstEvents = dict[tuple[str, int, int], tuple[TraceEvent | None, TraceEvent | None]]


@dataclass(slots=True)
class PairResult:
    """One thread pair: its rows (visible only), findings and verdict."""

    pair: ThreadPair
    ref_rows: Rows
    cand_rows: Rows
    findings: list[Finding]
    segments: list[Segment]
    matched: int = 0
    stopped_early: bool = False
    verdict: str = ""
    skipped: int = 0  # events before the last agreeing checkpoint, not compared (--bisect)
    #: First events of the divergent findings, fetched during the compare (keep_first_events):
    #: listing them later from a trace larger than memory would read it all again, at random.
    first_events: FirstEvents = field(default_factory=dict)

    def ref_idx(self, ref: TraceColumns, pos: int) -> int:
        return _idx_at(ref, self.ref_rows, pos)

    def cand_idx(self, cand: TraceColumns, pos: int) -> int:
        return _idx_at(cand, self.cand_rows, pos)


@dataclass(slots=True)
class DiffResult:
    """The whole comparison; ``pairs`` follows the mapping's order."""

    ref: TraceColumns
    cand: TraceColumns
    options: DiffOptions
    pairs: list[PairResult]
    rule_counts: dict[str, int]
    ref_handles: HandleIndex | None = None
    cand_handles: HandleIndex | None = None
    projection: Projection = field(default_factory=Projection)
    #: Events each side's projection left out, by "kind K" / "export E".
    projected: dict[str, dict[str, int]] = field(default_factory=dict)
    #: One-line facts a report must state (an input with no events, nothing compared, ...).
    notes: list[str] = field(default_factory=list)

    @property
    def divergent(self) -> bool:
        return any(f.divergent for p in self.pairs for f in p.findings)

    @property
    def compared_events(self) -> int:
        """Events the comparison saw, both sides, every thread (0: nothing was compared)."""
        return sum(len(p.ref_rows) + len(p.cand_rows) for p in self.pairs)

    @property
    def unrecorded_events(self) -> int:
        """Events a side lost because the other's ``recorded_exports`` leaves their export out."""
        names = self.projection.unrecorded_exports
        return sum(
            n
            for counts in self.projected.values()
            for label, n in counts.items()
            if label.startswith("export ") and label[7:] in names
        )

    @property
    def partial(self) -> bool:
        """Compared only in part: one side does not record exports the other calls."""
        return self.unrecorded_events > 0

    @property
    def failed(self) -> bool:
        """Whether the run fails: a finding of a ``fail_on`` class, nothing compared, or a
        partial comparison (unless ``fail_on`` leaves out "unrecorded")."""
        fail = self.options.fail_on
        if any(f.cls in fail for p in self.pairs for f in p.findings):
            return True
        if self.partial and "unrecorded" in fail:
            return True
        return self.compared_events == 0 and not self.options.start

    def handles(self, side: str) -> HandleIndex:
        """The handle index of a side ("ref" or "cand"), built on first use."""
        if side == "ref":
            if self.ref_handles is None:
                self.ref_handles = HandleIndex.build(self.ref)
            return self.ref_handles
        if self.cand_handles is None:
            self.cand_handles = HandleIndex.build(self.cand)
        return self.cand_handles


def _idx_at(cols: TraceColumns, rows: Rows, pos: int) -> int:
    """The per-thread index at a position; one past the last event at the end."""
    if pos < len(rows):
        return cols.idx_at(int(rows[pos]))
    if len(rows):
        return cols.idx_at(int(rows[-1])) + 1
    return 0


def verdict(p: PairResult, ref: TraceColumns, cand: TraceColumns) -> str:
    """The one-line verdict of a thread pair."""
    if p.pair.ref is None or p.pair.cand is None:
        if not len(p.ref_rows) and not len(p.cand_rows):
            return "UNMAPPED (no comparable events)"
        return "UNMAPPED"
    div = [f for f in p.findings if f.divergent]
    if div:
        f = div[0]
        return f"DIVERGED at ref#{p.ref_idx(ref, f.i0)} / cand#{p.cand_idx(cand, f.j0)}"
    classes = {f.cls for f in p.findings}
    if "truncated" in classes:
        return "PREFIX MATCH"
    if not len(p.ref_rows) and not len(p.cand_rows):
        return "NOTHING COMPARED"
    return "MATCH"


def _first_occurrence(shape: U64, kind: npt.NDArray[np.int8]) -> I64:
    """Positions where each export is called for the first time, in call order."""
    calls = np.flatnonzero(kind == KIND_CODE["kernel.call"])
    _, first = np.unique(shape[calls], return_index=True)
    out: I64 = calls[np.sort(first)].astype(np.int64)
    return out


class _Lazy:
    """One side's keys for a thread, built in growing stretches as the comparison advances."""

    def __init__(self, builder: KeyBuilder, lo: int, hi: int, step: int) -> None:
        self.builder, self.cursor, self.hi = builder, lo, hi
        self.full = np.zeros(0, np.uint64)
        self.shape = np.zeros(0, np.uint64)
        self.step = max(step, 1)

    @property
    def done(self) -> bool:
        return self.cursor >= self.hi

    def ensure(self, positions: int) -> None:
        parts_f, parts_s = [self.full], [self.shape]
        have = len(self.full)
        while have < positions and self.cursor < self.hi:
            end = min(self.hi, self.cursor + max(self.step, positions - have))
            k = self.builder.keys(self.cursor, end)
            parts_f.append(k.full)
            parts_s.append(k.shape)
            have += len(k.full)
            self.cursor = end
            self.step = min(self.step * 2, 1 << 22)
        if len(parts_f) > 1:
            self.full = np.concatenate(parts_f)
            self.shape = np.concatenate(parts_s)


def _first_streaming(
    a: _Lazy, b: _Lazy, start: tuple[int, int], params: AlignParams
) -> ThreadAlignment:
    """Compare until the first divergence, building keys only as far as needed."""
    i, j = start
    segments: list[Segment] = []
    while True:
        a.ensure(i + 1)
        b.ensure(j + 1)
        run = first_mismatch(a.full, b.full, i, j, params.first_chunk)
        if run:
            segments.append(Segment(i, j, run))
            i, j = i + run, j + run
        if i < len(a.full) and j < len(b.full):
            break  # a real mismatch
        if (i >= len(a.full) and a.done) or (j >= len(b.full) and b.done):
            break  # one side ended
    width = max(params.window * 32, 1 << 14)
    while True:
        a.ensure(i + width)
        b.ensure(j + width)
        whole = a.done and b.done
        res = classify(
            align(a.full, b.full, (i, j), params), a.full, b.full, a.shape, b.shape, first=True
        )
        limit_a, limit_b = len(a.full) - width // 2, len(b.full) - width // 2
        div = [f for f in res.findings if f.divergent]
        if whole or (div and div[0].i1 <= limit_a and div[0].j1 <= limit_b):
            res.segments = segments + res.segments
            res.stopped_early = bool(div) or res.stopped_early
            return res
        width *= 4


def _position(rows: Rows, row: int) -> int:
    if isinstance(rows, range):
        return row - rows.start
    return int(np.searchsorted(rows, row))


def bisect_checkpoints(
    ref: TraceColumns, cand: TraceColumns, rr: tuple[int, int], cr: tuple[int, int]
) -> tuple[int, int] | None:
    """Rows of the last pair of agreeing checkpoints before the first disagreeing one.

    The n-th ``checkpoint`` of one thread is paired with the n-th of its partner;
    their rolling checksums agree up to some n and differ from then on, so a
    binary search reads O(log n) checksums. None when there is nothing to skip.
    """
    code = KIND_CODE["checkpoint"]
    if not (ref.has("checksum") and cand.has("checksum")):
        return None
    pr_ = np.flatnonzero(ref.kinds(*rr) == code) + rr[0]
    pc_ = np.flatnonzero(cand.kinds(*cr) == code) + cr[0]
    n = min(len(pr_), len(pc_))

    def agree(k: int) -> bool:
        a = ref.value("checksum", int(pr_[k]))
        return a is not None and a == cand.value("checksum", int(pc_[k]))

    lo, hi = 0, n  # invariant: checkpoints before lo agree, from hi on they differ
    while lo < hi:
        mid = (lo + hi) // 2
        if agree(mid):
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return None
    return int(pr_[lo - 1]), int(pc_[lo - 1])


def _start_positions(
    ref: TraceColumns, cand: TraceColumns, rrows: Rows, crows: Rows, start: StartPoint
) -> tuple[int, int]:
    out = []
    for cols, rows, want in ((ref, rrows, start.ref_idx), (cand, crows, start.cand_idx)):
        if not len(rows):
            out.append(0)
            continue
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        col = cols.column("idx", lo, hi)
        assert col is not None
        idx = col.to_numpy().astype(np.int64)
        if not isinstance(rows, range):
            idx = idx[rows - lo]
        out.append(int(np.searchsorted(idx, want)))
    return out[0], out[1]


def _align_keys(
    rk: ThreadKeys,
    ck: ThreadKeys,
    opts: DiffOptions,
    start: tuple[int, int],
    ref: TraceColumns,
    cand: TraceColumns,
) -> ThreadAlignment:
    a, b, sa, sb = rk.full, ck.full, rk.shape, ck.shape
    if not opts.first_occurrence:
        return classify(align(a, b, start, opts.params), a, b, sa, sb, first=opts.first)
    kinds = []
    for cols, rows in ((ref, rk.rows), (cand, ck.rows)):
        if len(rows) == 0:
            kinds.append(np.zeros(0, np.int8))
            continue
        lo = int(rows[0])
        k = cols.kinds(lo, int(rows[-1]) + 1)
        kinds.append(k if isinstance(rows, range) else k[np.asarray(rows) - lo])
    fa = _first_occurrence(sa, kinds[0])
    fb = _first_occurrence(sb, kinds[1])
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
    return ThreadAlignment(findings, [], res.stopped_early)


@dataclass(slots=True)
class _HandleMatches:
    """For each reference handle entry: the matched candidate row, its pair and positions."""

    ref: HandleIndex
    cand: HandleIndex
    match: I64
    pair: I64
    pos: I64
    cand_pos: I64

    @classmethod
    def empty(cls, ref: HandleIndex, cand: HandleIndex) -> _HandleMatches:
        n = len(ref.rows)
        return cls(ref, cand, *(np.full(n, -1, np.int64) for _ in range(4)))

    def record(self, k: int, pr: PairResult) -> None:
        rows = pr.ref_rows
        if not len(rows) or not pr.segments:
            return
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        e0, e1 = np.searchsorted(self.ref.rows, [lo, hi])
        if e0 == e1:
            return
        ents = np.arange(e0, e1)
        r = self.ref.rows[e0:e1]
        if isinstance(rows, range):
            pos = r - lo
            ok = np.ones(len(r), bool)
        else:
            pos = np.searchsorted(rows, r)
            ok = pos < len(rows)
            ok[ok] = rows[pos[ok]] == r[ok]
        si = np.array([s.i for s in pr.segments], np.int64)
        sj = np.array([s.j for s in pr.segments], np.int64)
        sl = np.array([s.length for s in pr.segments], np.int64)
        seg = np.searchsorted(si, pos, "right") - 1
        ok &= seg >= 0
        seg = np.maximum(seg, 0)
        ok &= pos < si[seg] + sl[seg]
        cpos = sj[seg] + pos - si[seg]
        crows = pr.cand_rows
        if isinstance(crows, range):
            crow = cpos + crows.start
        else:
            crow = crows[np.minimum(cpos, len(crows) - 1)]
        sel = ents[ok]
        self.match[sel] = crow[ok]
        self.pair[sel] = k
        self.pos[sel] = pos[ok]
        self.cand_pos[sel] = cpos[ok]

    def findings(self, pairs: list[PairResult], first: bool) -> None:
        bad = mismatched_handles(self.ref, self.match, self.cand)
        for e in bad.tolist():
            pr = pairs[int(self.pair[e])]
            i, j = int(self.pos[e]), int(self.cand_pos[e])
            if first and any(f.divergent and f.i0 <= i for f in pr.findings):
                continue
            pr.findings.append(Finding("changed", i, i + 1, j, j + 1, True, ("handle",)))
        if not len(bad):
            return
        for pr in pairs:
            pr.findings.sort(key=lambda f: (f.i0, f.j0))
            if first:
                div = [f for f in pr.findings if f.divergent]
                if div:
                    cut = div[0]
                    pr.findings = [f for f in pr.findings if f.i0 <= cut.i0]


def _keep_first_events(pr: PairResult, ref: TraceColumns, cand: TraceColumns, room: int) -> int:
    """Fetch the first events of up to ``room`` of ``pr``'s divergences; how many it kept."""
    found = [f for f in pr.findings if f.divergent][:room]
    if not found:
        return 0
    sides = []
    for cols, rows, starts in (
        (ref, pr.ref_rows, [f.i0 for f in found]),
        (cand, pr.cand_rows, [f.j0 for f in found]),
    ):
        at = [int(rows[p]) if p < len(rows) else None for p in starts]
        got = iter(events_at(cols, [r for r in at if r is not None]))
        sides.append([None if r is None else next(got) for r in at])
    for f, r_ev, c_ev in zip(found, sides[0], sides[1], strict=True):
        pr.first_events[f.cls, f.i0, f.j0] = (r_ev, c_ev)
    return len(found)


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
    step("mapping threads", 0, 1)
    view = project(ref, cand, exports=norm.on("unlogged-exports"), common=norm.on("common-view"))
    rb = _builder(ref, norm, view, view.dropped_kinds.get("reference", ()))
    cb = _builder(cand, norm, view, view.dropped_kinds.get("candidate", ()))
    forced = dict(opts.forced_map)
    if opts.start:
        forced[opts.start.ref_tid] = opts.start.cand_tid
    limit = FIRST_HISTOGRAM_EVENTS if opts.first else None
    mapping = map_threads(thread_infos(ref, rb, limit), thread_infos(cand, cb, limit), forced)
    ref.release()
    cand.release()
    if opts.start:
        mapping = [p for p in mapping if p.ref == opts.start.ref_tid]
    check = norm.on("handles") and not opts.first_occurrence and view.handle_check
    ref_limits: dict[int, int] = {}
    cand_limits: dict[int, int] = {}
    result = DiffResult(ref, cand, opts, [], {}, projection=view)
    kept = 0
    ref_ranges = [ref.thread_range(p.ref) if p.ref is not None else (0, 0) for p in mapping]
    cand_ranges = [cand.thread_range(p.cand) if p.cand is not None else (0, 0) for p in mapping]
    order: Iterable[int] = range(len(mapping))
    if not opts.first:  # (--first reads only a prefix of each thread: nothing to read ahead)
        both = zip(
            ref.read_ahead(ref_ranges, rb.key_columns),
            cand.read_ahead(cand_ranges, cb.key_columns),
            strict=True,
        )
        order = (k for k, _ in both)
    for k in order:
        pair = mapping[k]
        step("aligning threads", k, len(mapping))
        rr, cr = ref_ranges[k], cand_ranges[k]
        if pair.ref is None or pair.cand is None:
            pr = PairResult(
                pair, rb.visible_rows(*rr, count=True), cb.visible_rows(*cr, count=True), [], []
            )
            n, m = len(pr.ref_rows), len(pr.cand_rows)
            if n or m:  # a thread only one side has is a divergence of its own
                pr.findings.append(Finding("unmapped", 0, n, 0, m))
            result.pairs.append(pr)
            continue
        if opts.first and not opts.first_occurrence:
            pr = PairResult(pair, rb.visible_rows(*rr), cb.visible_rows(*cr), [], [])
            start = (0, 0)
            if opts.start:
                start = _start_positions(ref, cand, pr.ref_rows, pr.cand_rows, opts.start)
            elif opts.bisect:
                at = bisect_checkpoints(ref, cand, rr, cr)
                if at is not None:
                    start = (_position(pr.ref_rows, at[0]), _position(pr.cand_rows, at[1]))
                    pr.skipped = start[0]
            chunk = opts.params.stream_chunk
            lazy_r, lazy_c = _Lazy(rb, *rr, chunk), _Lazy(cb, *cr, chunk)
            res = _first_streaming(lazy_r, lazy_c, start, opts.params)
            ref_limits[pair.ref] = lazy_r.cursor
            cand_limits[pair.cand] = lazy_c.cursor
        else:
            rk, ck = rb.keys(*rr), cb.keys(*cr)
            pr = PairResult(pair, rk.rows, ck.rows, [], [])
            start = (0, 0)
            if opts.start:
                start = _start_positions(ref, cand, rk.rows, ck.rows, opts.start)
            res = _align_keys(rk, ck, opts, start, ref, cand)
            del rk, ck
        pr.findings, pr.segments, pr.stopped_early = res.findings, res.segments, res.stopped_early
        pr.matched = sum(s.length for s in pr.segments) + pr.skipped
        if opts.keep_first_events and kept < KEEP_EVENTS_LIMIT:
            kept += _keep_first_events(pr, ref, cand, KEEP_EVENTS_LIMIT - kept)
        result.pairs.append(pr)
        ref.release()
        cand.release()
    step("checking handles", 0, 1)
    if check:
        if opts.first and not opts.first_occurrence:
            # only the compared prefixes can hold a use to check (other threads whole)
            result.ref_handles = HandleIndex.build(ref, ref_limits)
            result.cand_handles = HandleIndex.build(cand, cand_limits)
        hm = _HandleMatches.empty(result.handles("ref"), result.handles("cand"))
        for k, pr in enumerate(result.pairs):
            hm.record(k, pr)
        hm.findings(result.pairs, opts.first)
    for pr in result.pairs:
        pr.verdict = verdict(pr, ref, cand)
    counts = {k: rb.counts.get(k, 0) + cb.counts.get(k, 0) for k in {*rb.counts, *cb.counts}}
    result.rule_counts = counts
    result.projected = {
        "reference": dict(sorted(rb.projected.items())),
        "candidate": dict(sorted(cb.projected.items())),
    }
    result.notes = _notes(result)
    step("done", 1, 1)
    return result


def _builder(
    cols: TraceColumns, norm: Normalisation, view: Projection, hidden: Iterable[str]
) -> KeyBuilder:
    return KeyBuilder(
        cols,
        norm,
        view.dropped_exports,
        hidden_kinds=hidden,
        skip_fields=view.dropped_fields,
        pointees=view.pointees,
    )


def describe_empty(cols: TraceColumns, label: str) -> str:
    """The one line for an input that yields no events, with the likely reason."""
    line = f"{label} {cols.path}: no events"
    if str(cols.header.get("emulator", "")) == "xenia-canary":
        line += (
            " (canary writes most kernel calls as 'd>' lines, only at its debug log level; "
            "see docs/trace-format.md)"
        )
    return line


def _notes(result: DiffResult) -> list[str]:
    sides = ((result.ref, "reference"), (result.cand, "candidate"))
    notes = [f"{label} {cols.path}: {note}" for cols, label in sides for note in cols.read_notes]
    notes += [describe_empty(cols, label) for cols, label in sides if cols.n == 0]
    if result.partial:
        names = sorted(
            {
                label[7:]
                for counts in result.projected.values()
                for label in counts
                if label[7:] in result.projection.unrecorded_exports
            }
        )
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} exports)" if len(names) > 5 else "")
        notes.append(
            f"partial comparison: {result.unrecorded_events} events of exports one side does not "
            f"record (not in its header's recorded_exports) were not compared: {shown}"
        )
    if result.compared_events == 0 and result.ref.n and result.cand.n:
        notes.append(
            "nothing compared: no event of either side is in the view both record "
            "(see what was projected away)"
        )
    return notes
