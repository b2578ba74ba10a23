"""Trace I/O throughput: events per second per path, bytes per event per format.

Baseline, measured in the same run: a plain ``bytes.count(b"\\n")`` pass over
the JSONL file (the least any line reader must do). Every figure is printed
as events/s and as a ratio to that baseline. Each path is timed
``X360K_BENCH_REPEAT`` times (default 3) and the best run kept; the CPU time of
that path (all threads) is printed beside it, because on a shared machine the
wall time of a multi-threaded reader depends on what else is running.

Two Parquet layouts are compared in the same run: layout 1 (every column as
its schema v1 type, Parquet's default encodings; what the first trace layer
wrote and what any tool writes) and layout 2 (``write_parquet``: compact hex
columns, per-column encodings; what ``x360k trace convert`` writes now).

    python -m benchmarks trace            # 1M events
    X360K_BENCH_EVENTS=10000000 python -m benchmarks trace
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.gen_trace import generate_table
from x360k.trace.arrow_writer import write_arrow_stream
from x360k.trace.cache import convert, load_columnar
from x360k.trace.columns import batch_to_events
from x360k.trace.jsonl_reader import JsonlReader
from x360k.trace.jsonl_writer import JsonlWriter


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time of ``repeat`` runs, and the CPU time (all threads) of that run."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        run = (time.perf_counter() - wall, time.process_time() - cpu)
        best = min(best, run)
    return best


def main() -> None:
    n = int(os.environ.get("X360K_BENCH_EVENTS", "1000000"))
    repeat = int(os.environ.get("X360K_BENCH_REPEAT", "3"))
    table = generate_table(n, 1)
    events = list(batch_to_events(table))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jsonl = root / "t.jsonl"

        def write_jsonl() -> None:
            with JsonlWriter(jsonl, lines_per_write=1) as writer:
                for event in events:
                    writer.record(event)

        def write_jsonl_batched() -> None:
            with JsonlWriter(root / "b.jsonl", lines_per_write=1024) as writer:
                for event in events:
                    writer.record(event)

        results: list[tuple[str, tuple[float, float]]] = []
        results.append(("jsonl write (1 line per write)", _timed(write_jsonl, 1)))
        results.append(("jsonl write (1024 lines per write)", _timed(write_jsonl_batched, 1)))
        events.clear()
        baseline, _ = _timed(lambda: jsonl.read_bytes().count(b"\n"), repeat)
        results.append(
            (
                "jsonl read, msgspec typed",
                _timed(lambda: sum(1 for _ in JsonlReader(jsonl).events()), 1),
            )
        )
        results.append(
            (
                "jsonl read, bulk (duckdb) to table",
                _timed(lambda: JsonlReader(jsonl).table(), repeat),
            )
        )
        parquet = root / "t.parquet"
        parquet_v1 = root / "t1.parquet"
        arrow = root / "t.arrow"
        stream = root / "t.arrows"
        cache = root / "cache"
        results.append(
            (
                "convert jsonl -> parquet (cold)",
                _timed(lambda: convert(jsonl, parquet, cache_dir=cache), 1),
            )
        )
        results.append(
            (
                "convert jsonl -> arrow (cached)",
                _timed(lambda: convert(jsonl, arrow, cache_dir=cache), 1),
            )
        )
        sorted_table = load_columnar(parquet)
        pq.write_table(sorted_table, parquet_v1, compression="zstd", row_group_size=1 << 20)
        del sorted_table
        write_arrow_stream(table, stream)
        del table
        results.append(
            (
                "load_columnar parquet layout 1 (v1 types)",
                _timed(lambda: load_columnar(parquet_v1), repeat),
            )
        )
        results.append(
            ("load_columnar parquet layout 2", _timed(lambda: load_columnar(parquet), repeat))
        )
        results.append(("load_columnar arrow file", _timed(lambda: load_columnar(arrow), repeat)))
        results.append(
            (
                "load_columnar jsonl (cache hit)",
                _timed(lambda: load_columnar(jsonl, cache_dir=cache), repeat),
            )
        )
        results.append(
            ("pq.read_table raw, layout 1", _timed(lambda: pq.read_table(parquet_v1), repeat))
        )
        results.append(
            (
                "pq.read_table raw, layout 2 (compact)",
                _timed(lambda: pq.read_table(parquet), repeat),
            )
        )
        results.append(
            (
                "arrow stream read_all raw",
                _timed(lambda: pa.ipc.open_stream(str(stream)).read_all(), repeat),
            )
        )
        print(
            f"   {n} events, best of {repeat}; baseline newline count "
            f"{n / baseline / 1e6:.1f} M lines/s; load average {os.getloadavg()[0]:.1f}"
        )
        for label, (seconds, cpu) in results:
            rate = n / seconds
            print(
                f"   {label:42s} {rate / 1e6:8.2f} M events/s ({baseline / seconds:6.3f}x baseline)"
                f"  cpu {cpu * 1000:7.0f} ms"
            )
        for label, path in (
            ("jsonl", jsonl),
            ("parquet layout 1", parquet_v1),
            ("parquet layout 2", parquet),
            ("arrow file", arrow),
            ("arrow stream", stream),
        ):
            print(f"   bytes/event {label:17s} {path.stat().st_size / n:8.1f}")


if __name__ == "__main__":
    main()
