"""Compressed traces: what reading one through its plain copy costs, per codec.

``x360k`` reads a compressed trace by streaming it once into a plain copy
(:mod:`x360k.trace.compressed`) and reading that. Baseline, in the same run:
``trace stats``'s columnar read of the plain JSONL file. Each codec's row is
the decompression alone and the whole read (decompress + the same stats), as
a ratio to the baseline, with the compressed size per event.

    python -m benchmarks compressed          # 1M events
    X360K_BENCH_EVENTS=200000 python -m benchmarks compressed
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from benchmarks.gen_trace import generate
from x360k.trace.compressed import decompressed
from x360k.trace.readers import open_trace
from x360k.trace.stats import TraceStats, compute_stats_batches


def _timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` (wall, cpu) seconds."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def _stats(path: Path) -> TraceStats:
    return compute_stats_batches(open_trace(path).batches())


def _through_copy(path: Path) -> TraceStats:
    with decompressed(path) as plain:
        return _stats(plain)


def _copy_only(path: Path) -> None:
    with decompressed(path):
        pass


def _arrow_compress(codec: str) -> Callable[[bytes], bytes]:
    def compress(data: bytes) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, codec) as out:
            out.write(data)
        return bytes(sink.getvalue().to_pybytes())

    return compress


def main() -> None:
    n = int(os.environ.get("X360K_BENCH_EVENTS", "1000000"))
    codecs: dict[str, Callable[[bytes], bytes]] = {
        "gzip (level 6)": lambda b: gzip.compress(b, 6),
        "zstd": _arrow_compress("zstd"),
        "lz4": _arrow_compress("lz4"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TMPDIR"] = tmp  # plain copies beside the inputs, removed with them
        tempfile.tempdir = None
        jsonl = generate(n, 1, root / "t.jsonl", "jsonl")
        data = jsonl.read_bytes()
        want = _stats(jsonl).kinds
        base = _timed(lambda: _stats(jsonl))
        print(
            f"   {n} events ({len(data) / n:.0f} bytes/event as JSONL); "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"   plain JSONL, trace stats read (baseline)   {base[0]:6.2f} s wall "
            f"{base[1]:6.2f} s cpu"
        )
        for label, compress in codecs.items():
            packed = root / f"t.jsonl.{label.split()[0]}"
            packed.write_bytes(compress(data))
            assert _through_copy(packed).kinds == want
            copy = _timed(functools.partial(_copy_only, packed))
            whole = _timed(functools.partial(_through_copy, packed))
            print(
                f"   {label:<16} {packed.stat().st_size / n:5.1f} bytes/event   "
                f"decompress {copy[0]:5.2f} s ({copy[0] / base[0]:4.2f}x baseline)   "
                f"whole read {whole[0]:5.2f} s wall {whole[1]:5.2f} s cpu "
                f"({whole[0] / base[0]:4.2f}x baseline)"
            )
