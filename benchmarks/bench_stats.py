"""``x360k trace stats``: events per second on JSONL and on Parquet, per path.

Baseline, measured in the same run: the event path (``compute_stats`` over
``TraceEvent``s) on the JSONL file, which is what ``trace stats`` did before
the columnar path. Every other figure is a ratio to it. The point of the
comparison: the columnar path on Parquet (reading only the columns stats
needs) must be at least as fast as on JSONL; the old event path on Parquet
shows why it was not (every event was rebuilt from columns, ``args`` too).

    python -m benchmarks stats            # 1M events
    X360K_BENCH_EVENTS=200000 python -m benchmarks stats
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.gen_trace import generate
from x360k.trace.cache import convert
from x360k.trace.parquet_reader import ParquetReader
from x360k.trace.readers import open_trace
from x360k.trace.stats import STATS_COLUMNS, TraceStats, compute_stats, compute_stats_batches


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _columnar(path: Path) -> TraceStats:
    reader = open_trace(path)
    if isinstance(reader, ParquetReader):
        return compute_stats_batches(reader.batches(columns=STATS_COLUMNS))
    return compute_stats_batches(reader.batches())


def main() -> None:
    n = int(os.environ.get("X360K_BENCH_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jsonl = generate(n, 1, root / "t.jsonl", "jsonl")
        parquet = root / "t.parquet"
        convert(jsonl, parquet, cache_dir=root / "cache")
        baseline = _timed(lambda: compute_stats(open_trace(jsonl).events()))
        rows = [
            ("event path, jsonl (baseline: the old trace stats)", baseline),
            (
                "event path, parquet (the old trace stats)",
                _timed(lambda: compute_stats(open_trace(parquet).events())),
            ),
            ("columnar path, jsonl (trace stats now)", _timed(lambda: _columnar(jsonl))),
            ("columnar path, parquet (trace stats now)", _timed(lambda: _columnar(parquet))),
        ]
        assert _columnar(jsonl).kinds == _columnar(parquet).kinds
    print(f"   {n} events; load average {os.getloadavg()[0]:.1f} (2 shared cores: noisy)")
    for label, (wall, cpu) in rows:
        print(
            f"   {label:<52} {n / wall / 1e6:6.2f} M events/s  {baseline[0] / wall:5.2f}x "
            f"baseline  ({wall:.2f} s wall, {cpu:.2f} s cpu)"
        )
