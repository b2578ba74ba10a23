"""``x360k trace export --perfetto``: events per second into trace-event JSON and protobuf.

Baseline, measured in the same run: the JSON export of the same events. The
protobuf figure is its ratio to that, and both file sizes are printed (the
reason to pick protobuf for large traces is the size and the UI's load time).

    python -m benchmarks perfetto         # 200k events
    X360K_BENCH_EVENTS=1000000 python -m benchmarks perfetto
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.gen_trace import generate_table
from x360k.trace.columns import batch_to_events
from x360k.trace.perfetto import write_perfetto


def main() -> None:
    n = int(os.environ.get("X360K_BENCH_EVENTS", "200000"))
    events = list(batch_to_events(generate_table(n, 1)))
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for suffix in (".json", ".pftrace"):
            out = Path(tmp) / f"p{suffix}"
            began = time.perf_counter()
            result = write_perfetto(events, out, max_events=10 * n)
            rows.append((suffix, time.perf_counter() - began, out.stat().st_size, result))
    base = rows[0][1]
    print(f"   {n} events; load average {os.getloadavg()[0]:.1f} (2 shared cores: noisy)")
    for suffix, wall, size, result in rows:
        print(
            f"   {suffix:<9} {n / wall / 1e3:7.1f} k events/s  {base / wall:5.2f}x json  "
            f"{size / n:6.1f} bytes/event  ({result.written} records, {result.flows} flows, "
            f"axis {result.time_axis}, {wall:.2f} s)"
        )
