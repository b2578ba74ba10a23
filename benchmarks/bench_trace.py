"""Trace I/O throughput: events per second per path, bytes per event per format.

Baseline, measured in the same run: a plain ``bytes.count(b"\\n")`` pass over
the JSONL file (the least any line reader must do). Every figure is printed
as events/s and as a ratio to that baseline.

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


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    n = int(os.environ.get("X360K_BENCH_EVENTS", "1000000"))
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

        results: list[tuple[str, float]] = []
        results.append(("jsonl write (1 line per write)", _timed(write_jsonl)))
        results.append(("jsonl write (1024 lines per write)", _timed(write_jsonl_batched)))
        baseline = _timed(lambda: jsonl.read_bytes().count(b"\n"))
        results.append(
            (
                "jsonl read, msgspec typed",
                _timed(lambda: sum(1 for _ in JsonlReader(jsonl).events())),
            )
        )
        results.append(
            ("jsonl read, bulk (duckdb) to table", _timed(lambda: JsonlReader(jsonl).table()))
        )
        parquet = root / "t.parquet"
        arrow = root / "t.arrow"
        stream = root / "t.arrows"
        cache = root / "cache"
        results.append(
            (
                "convert jsonl -> parquet (cold)",
                _timed(lambda: convert(jsonl, parquet, cache_dir=cache)),
            )
        )
        results.append(
            (
                "convert jsonl -> arrow (cached)",
                _timed(lambda: convert(jsonl, arrow, cache_dir=cache)),
            )
        )
        write_arrow_stream(table, stream)
        results.append(("load_columnar parquet", _timed(lambda: load_columnar(parquet))))
        results.append(("load_columnar arrow file", _timed(lambda: load_columnar(arrow))))
        results.append(
            (
                "load_columnar jsonl (cache hit)",
                _timed(lambda: load_columnar(jsonl, cache_dir=cache)),
            )
        )
        results.append(("pq.read_table raw", _timed(lambda: pq.read_table(parquet))))
        results.append(
            (
                "arrow stream read_all raw",
                _timed(lambda: pa.ipc.open_stream(str(stream)).read_all()),
            )
        )
        print(f"   {n} events; baseline newline count {n / baseline / 1e6:.1f} M lines/s")
        for label, seconds in results:
            rate = n / seconds
            print(
                f"   {label:40s} {rate / 1e6:8.2f} M events/s ({baseline / seconds:6.3f}x baseline)"
            )
        for label, path in (
            ("jsonl", jsonl),
            ("parquet", parquet),
            ("arrow file", arrow),
            ("arrow stream", stream),
        ):
            print(f"   bytes/event {label:12s} {path.stat().st_size / n:8.1f}")


if __name__ == "__main__":
    main()
