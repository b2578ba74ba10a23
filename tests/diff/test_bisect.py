"""Checkpoint bisection: skip to the last agreeing checkpoint, find the same first divergence."""

from __future__ import annotations

import xxhash

from x360k.diff.compare import DiffOptions, bisect_checkpoints, run_diff
from x360k.diff.inputs import events_to_columns
from x360k.trace.event import TraceEvent


def _thread(tid: int, statuses: list[int], every: int = 10) -> list[TraceEvent]:
    """Calls and returns, with a checkpoint carrying a rolling checksum every few events."""
    out: list[TraceEvent] = []
    digest = xxhash.xxh64()
    for n, status in enumerate(statuses):
        for kind, extra in (("kernel.call", {}), ("kernel.return", {"status": status})):
            out.append(TraceEvent(tid=tid, idx=len(out), kind=kind, name="KeTlsGetValue", **extra))
            digest.update(f"{kind}{status if extra else ''}".encode())
        if n % every == every - 1:
            out.append(
                TraceEvent(tid=tid, idx=len(out), kind="checkpoint", checksum=digest.hexdigest())
            )
    return out


def test_bisect_skips_the_agreeing_prefix_and_finds_the_same_divergence() -> None:
    ref_status = [0] * 400
    cand_status = list(ref_status)
    cand_status[257] = 0xC0000008
    ref = events_to_columns(_thread(0, ref_status), "ref")
    cand = events_to_columns(_thread(0, cand_status), "cand")
    at = bisect_checkpoints(ref, cand, ref.thread_range(0), cand.thread_range(0))
    assert at is not None
    assert ref.value("kind", at[0]) == "checkpoint"
    plain = run_diff(ref, cand, DiffOptions(first=True))
    fast = run_diff(ref, cand, DiffOptions(first=True, bisect=True))
    (pf,), (pb,) = plain.pairs, fast.pairs
    div_plain = [f for f in pf.findings if f.divergent]
    div_fast = [f for f in pb.findings if f.divergent]
    assert div_fast[:1] == div_plain[:1]
    assert pb.ref_idx(fast.ref, div_fast[0].i0) == 2 * 257 + 1 + 257 // 10
    # the checkpoint after call 249 is the last one that agrees: everything before it is skipped
    assert pb.skipped == at[0] == 250 * 2 + 24
    assert pb.skipped > 0 and pf.skipped == 0


def test_bisect_without_checkpoints_compares_from_the_start() -> None:
    ref = events_to_columns(
        [TraceEvent(tid=0, idx=i, kind="marker", text=str(i)) for i in range(20)]
    )
    assert bisect_checkpoints(ref, ref, ref.thread_range(0), ref.thread_range(0)) is None
    res = run_diff(ref, ref, DiffOptions(first=True, bisect=True))
    assert res.pairs[0].verdict == "MATCH" and res.pairs[0].skipped == 0
