"""Context switches per second and microseconds per uncontended wait, tracing off.

Two guest threads ping-pong through two synchronization events (each sets the
other's event and waits on its own), so every round trip is two context
switches through the deterministic scheduler. Baseline measured in the same
run: the same ping-pong between two bare Python generators driven by a
trivial round-robin loop (the floor of any generator-based scheduler).

Uncontended wait: NtWaitForSingleObjectEx on a signalled notification event
from a thread program; baseline: NtSetEvent on the same event (the cheapest
export through the same path). Target (issue 16): at least 300k switches/s under
both profiles. Rates are given in wall time and in this process's CPU time (the
steadier of the two on a shared machine); the target is judged on CPU time.
"""

from __future__ import annotations

import time
from collections.abc import Generator

from x360k.kernel import Kernel

ROUNDS = 50_000
WAITS = 100_000


def _bare_generators(rounds: int) -> float:
    """Switches per second between two plain generators handing a token back and forth."""

    def side() -> Generator[int, int, None]:
        token = 0
        for _ in range(rounds):
            token = yield token + 1

    a, b = side(), side()
    next(a)
    next(b)
    start = time.perf_counter()
    token = 0
    try:
        while True:
            token = a.send(token)
            token = b.send(token)
    except StopIteration:
        pass
    return 2 * rounds / (time.perf_counter() - start)


def _ping_pong(profile: str, rounds: int) -> tuple[float, float]:
    """(wall, CPU) switches per second of the event ping-pong under ``profile``."""
    k = Kernel(profile)  # type: ignore[arg-type]
    m = k.memory
    out = m.alloc(8)
    k.call("NtCreateEvent", out, 0, 1, 0)
    k.call("NtCreateEvent", out + 4, 0, 1, 0)
    ping, pong = m.read_u32(out), m.read_u32(out + 4)

    def a() -> Generator[tuple[str, tuple[int, ...]], int, int]:
        for _ in range(rounds):
            yield ("NtSetEvent", (pong, 0))
            yield ("NtWaitForSingleObjectEx", (ping, 1, 0, 0))
        return 0

    def b() -> Generator[tuple[str, tuple[int, ...]], int, int]:
        for _ in range(rounds):
            yield ("NtWaitForSingleObjectEx", (pong, 1, 0, 0))
            yield ("NtSetEvent", (ping, 0))
        return 0

    k.start_main(a())
    k.spawn(b())
    k.run(max_time=1)  # let canary's 10 ms start delay pass outside the timing
    start, cpu = time.perf_counter(), time.process_time()
    result = k.run()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.outcome == "finished", result
    return 2 * rounds / elapsed, 2 * rounds / max(cpu, 1e-9)


def _per_call_us(profile: str, export: str, n: int) -> float:
    k = Kernel(profile)  # type: ignore[arg-type]
    m = k.memory
    out = m.alloc(8)
    k.call("NtCreateEvent", out, 0, 0, 1)
    event = m.read_u32(out)
    args = (event, 1, 0, 0) if export.startswith("NtWait") else (event, 0)

    def loop() -> Generator[tuple[str, tuple[int, ...]], int, int]:
        for _ in range(n):
            status = yield (export, args)
            assert status == 0
        return 0

    k.start_main(loop())
    start = time.perf_counter()
    k.run()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    bare = max(_bare_generators(ROUNDS) for _ in range(3))
    print(f"bare generator ping-pong (baseline): {bare / 1e3:,.0f}k switches/s")
    for profile in ("canary", "console"):
        runs = [_ping_pong(profile, ROUNDS) for _ in range(3)]
        rate, cpu_rate = max(w for w, _ in runs), max(c for _, c in runs)
        print(
            f"{profile:8s} event ping-pong: {rate / 1e3:,.0f}k switches/s wall, "
            f"{cpu_rate / 1e3:,.0f}k CPU ({bare / rate:.1f}x slower than bare generators; "
            f"target >= 300k/s: {'met' if cpu_rate >= 300_000 else 'NOT met'})"
        )
    for profile in ("canary", "console"):
        wait = min(_per_call_us(profile, "NtWaitForSingleObjectEx", WAITS) for _ in range(3))
        set_ = min(_per_call_us(profile, "NtSetEvent", WAITS) for _ in range(3))
        print(
            f"{profile:8s} uncontended wait: {wait:.2f} us/wait; NtSetEvent (baseline) "
            f"{set_:.2f} us/call; ratio {wait / set_:.2f}"
        )
