"""Reading canary's log against reading JSONL of the same events, in the same run.

A synthetic canary log of ``X360K_BENCH_EVENTS`` lines (default 1M) shaped
like one written at ``log_level=3``: about 95% kernel-call lines over 8 guest
threads (8-digit hex arguments, some with a pointee, as canary's shims print
``lpdword_t``), the rest other messages. The JSONL file holds exactly the
events the canary reader makes of that log (written by ``JsonlWriter``), so
both readers produce the same events; the figure that matters is the ratio
of the canary reader's time per event to the JSONL reader's (target <= 1). The
two are timed alternately, best of ``X360K_BENCH_REPEAT`` (default 3) each, wall
and CPU time (all threads: both readers use worker threads).

    python -m benchmarks canary_log
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np

from x360k.trace.canary_log import CanaryLogReader
from x360k.trace.jsonl_reader import JsonlReader
from x360k.trace.jsonl_writer import JsonlWriter

# (export, argument count, first argument printed with a pointee)
_CALLS: Final = (
    ("NtCreateEvent", 4, True),
    ("NtClose", 1, False),
    ("NtAllocateVirtualMemory", 5, True),
    ("RtlInitAnsiString", 2, False),
    ("NtQueryInformationFile", 5, False),
    ("ExCreateThread", 7, True),
    ("NtCreateFile", 9, True),
    ("KeResumeThread", 1, False),
    ("RtlInitializeCriticalSection", 1, False),
    ("XamUserGetSigninInfo", 3, False),
)
_NOISE: Final = "i> 00001F40 GPU: frame {0} presented, {1} draws\n"


def write_log(path: Path, lines: int, seed: int = 1) -> int:
    """A canary-style log of ``lines`` lines; returns how many are kernel calls."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, len(_CALLS), lines)
    threads = rng.integers(0, 8, lines)
    noise = rng.random(lines) < 0.05
    values = rng.integers(0, 1 << 32, (lines, 9), dtype=np.uint64)
    calls = 0
    with path.open("w") as out:
        chunk: list[str] = []
        for i in range(lines):
            if noise[i]:
                chunk.append(_NOISE.format(i, int(values[i, 0]) % 5000))
            else:
                name, count, pointee = _CALLS[kinds[i]]
                args = [f"{int(v):08X}" for v in values[i, :count]]
                if pointee:
                    args[0] += "(00000000)"
                tid = 0xF8000008 + 4 * int(threads[i])
                chunk.append(f"d> {tid:08X} {name}({', '.join(args)})\n")
                calls += 1
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return calls


def _timed_pair(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best (wall, CPU) of each, the two alternating run by run so both see the same load."""
    best = [(float("inf"), 0.0), (float("inf"), 0.0)]
    for _ in range(repeat):
        for k, fn in enumerate((first, second)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            best[k] = min(best[k], (time.perf_counter() - wall, time.process_time() - cpu))
    return best[0], best[1]


def main() -> None:
    lines = int(os.environ.get("X360K_BENCH_EVENTS", "1000000"))
    repeat = int(os.environ.get("X360K_BENCH_REPEAT", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "canary.log"
        jsonl = Path(tmp) / "same.jsonl"
        calls = write_log(log, lines)
        reader = CanaryLogReader(log)
        with JsonlWriter(jsonl, reader.header, lines_per_write=4096) as writer:
            for event in reader.events():
                writer.record(event)
        pairs = (
            (
                "events (typed)",
                lambda: sum(1 for _ in CanaryLogReader(log).events()),
                lambda: sum(1 for _ in JsonlReader(jsonl).events()),
            ),
            (
                "table (columnar)",
                lambda: CanaryLogReader(log).table(),
                lambda: JsonlReader(jsonl).table(),
            ),
        )
        print(
            f"   {lines} canary log lines ({calls} calls), best of {repeat}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for label, canary, same in pairs:
            (canary_s, canary_cpu), (jsonl_s, jsonl_cpu) = _timed_pair(canary, same, repeat)
            print(
                f"   {label:17s} canary log {canary_s * 1e6 / calls:5.2f} us/event "
                f"(cpu {canary_cpu * 1e6 / calls:5.2f})   jsonl {jsonl_s * 1e6 / calls:5.2f} "
                f"(cpu {jsonl_cpu * 1e6 / calls:5.2f})   canary/jsonl {canary_s / jsonl_s:4.2f}x "
                f"wall, {canary_cpu / jsonl_cpu:4.2f}x cpu"
            )


if __name__ == "__main__":
    main()
