"""A Perfetto-loadable excerpt (Chrome trace-event JSON) around each divergence.

Each divergence gets two processes, its reference and candidate thread, laid
out on the per-thread index as the time axis (1 index = 1 µs), so the two
sides line up and the divergence sits at the same place on both tracks.
Calls become slices, other events instants; slices cut by the excerpt's edges
are closed or dropped so the JSON stays well nested.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from x360k.diff.compare import DiffResult
from x360k.diff.inputs import Rows, TraceColumns

RADIUS: Final = 50
MAX_EXCERPTS: Final = 200


def _track(
    cols: TraceColumns, rows: Rows, lo: int, hi: int, pid: int, tid: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    got = cols.take([int(rows[p]) for p in range(lo, hi)], ("kind", "name", "idx"))
    open_names: list[str] = []
    last_ts = 0
    for k_, n_, i_ in zip(got["kind"], got["name"], got["idx"], strict=True):
        k = str(k_ or "?")
        ts = int(i_)
        last_ts = ts
        label = str(n_ or k)
        if k == "kernel.call":
            out.append({"ph": "B", "name": label, "pid": pid, "tid": tid, "ts": ts, "cat": k})
            open_names.append(label)
        elif k == "kernel.return":
            if open_names:
                open_names.pop()
                out.append({"ph": "E", "pid": pid, "tid": tid, "ts": ts})
        else:
            out.append(
                {
                    "ph": "i",
                    "s": "t",
                    "name": f"{k} {n_ or ''}".strip(),
                    "pid": pid,
                    "tid": tid,
                    "ts": ts,
                    "cat": k,
                }
            )
    for _ in open_names:
        out.append({"ph": "E", "pid": pid, "tid": tid, "ts": last_ts + 1})
    return out


def perfetto_excerpt(result: DiffResult, limit: int = MAX_EXCERPTS) -> bytes:
    """Trace-event JSON with one reference/candidate process pair per divergence."""
    events: list[dict[str, Any]] = []
    number = 0
    for pr in result.pairs:
        if pr.pair.ref is None or pr.pair.cand is None:
            continue
        for f in pr.findings:
            if not f.divergent or number >= limit:
                continue
            number += 1
            for side, cols, rows, pos, tid in (
                ("reference", result.ref, pr.ref_rows, f.i0, pr.pair.ref),
                ("candidate", result.cand, pr.cand_rows, f.j0, pr.pair.cand),
            ):
                pid = number * 2 - (1 if side == "reference" else 0)
                lo, hi = max(0, pos - RADIUS), min(len(rows), pos + RADIUS)
                events.append(
                    {
                        "ph": "M",
                        "name": "process_name",
                        "pid": pid,
                        "tid": tid,
                        "args": {"name": f"#{number} {f.cls} {side}"},
                    }
                )
                events.append(
                    {
                        "ph": "M",
                        "name": "thread_name",
                        "pid": pid,
                        "tid": tid,
                        "args": {"name": f"{side} tid {tid}"},
                    }
                )
                events.extend(_track(cols, rows, lo, hi, pid, tid))
                at = (
                    cols.idx_at(int(rows[pos]))
                    if pos < len(rows)
                    else (cols.idx_at(int(rows[-1])) + 1 if len(rows) else 0)
                )
                events.append(
                    {
                        "ph": "i",
                        "s": "p",
                        "name": f"divergence #{number}: {f.cls}",
                        "pid": pid,
                        "tid": tid,
                        "ts": at,
                        "cat": "x360k.diff",
                    }
                )
    return msgspec.json.encode({"traceEvents": events, "displayTimeUnit": "ns"})
