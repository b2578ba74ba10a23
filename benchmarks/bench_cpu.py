"""CPU runtime: guest instruction rate and kernel-call round trips, against bare unicorn.

Two figures, each a ratio to a baseline measured in the same run:

- compute: ``guests/bin/compute.elf`` (no kernel calls) under the runtime vs. the
  same loaded image on a bare unicorn with no hooks at all. Target >= 0.9.
- calls: ``guests/bin/stress.elf`` (100k KeQueryPerformanceFrequency calls) under
  the runtime vs. the floor: the same binary on bare unicorn with an interrupt hook
  that does nothing (each ``sc`` returns at once), started through the same fast
  path as the runtime. Target (issue 16) <= 4x the floor. Also shown: the runtime with
  calls not served in the hook (unicorn stopped at every ``sc``, the reference
  path) and the same 100k calls from a scripted (Python) program, i.e. the
  kernel's own share of a round trip. Wall and CPU time (best of 3 each): the
  machine is shared, and CPU time is the steadier of the two.

``X360K_BENCH_CPU_ROUNDS`` sets the compute size (default 200000 rounds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unicorn import UC_HOOK_BLOCK
from unicorn import ppc_const as R

from x360k.cpu.engine import Engine
from x360k.cpu.loader import load_image
from x360k.cpu.runner import execute_guest
from x360k.cpu.shared_memory import share_memory
from x360k.kernel import Kernel
from x360k.memory import GuestMemory

GUESTS = Path(__file__).resolve().parents[1] / "guests" / "bin"
STOP = 0x7FFF0000


def _best(fn: Callable[[], float], repeat: int = 3) -> float:
    return min(fn() for _ in range(repeat))


def _bare(name: str, pokes: dict[str, int], hook: bool) -> tuple[Engine, int, Any]:
    """The guest image on a bare engine: memory, a stack, LR at a stop address."""
    memory = GuestMemory()
    image = load_image(memory, (GUESTS / f"{name}.elf").read_bytes(), name)
    for sym in image.symbols:
        if sym.name in pokes:
            memory.write_u32(sym.value, pokes[sym.name])
    stack = memory.alloc(0x10000, 16) + 0x10000 - 0x100
    memory.map(STOP, 0x1000, "stop")
    engine = Engine()
    share_memory(memory, engine)
    engine.write_reg(R.UC_PPC_REG_1, stack)
    engine.write_reg(R.UC_PPC_REG_LR, STOP)
    if hook:
        engine.hook_interrupts(lambda uc, number, data: None)
    return engine, image.entry, memory


def _instructions(rounds: int) -> int:
    """Instructions the compute guest executes for ``rounds`` (counted by blocks; linear)."""

    def count(n: int) -> int:
        engine, entry, _ = _bare("compute", {"rounds": n}, hook=False)
        total = [0]

        def block(uc: Any, address: int, size: int, data: Any) -> None:
            total[0] += size // 4

        engine.uc.hook_add(UC_HOOK_BLOCK, block)
        engine.uc.emu_start(entry, STOP)
        return total[0]

    small, large = count(100), count(200)
    return small + (large - small) * (rounds - 100) // 100


def bench_compute(rounds: int) -> None:
    def bare() -> float:
        engine, entry, _ = _bare("compute", {"rounds": rounds}, hook=False)
        start = time.perf_counter()
        engine.uc.emu_start(entry, STOP)
        return time.perf_counter() - start

    def runtime() -> float:
        start = time.perf_counter()
        run = execute_guest(GUESTS / "compute.elf", pokes={"rounds": rounds}, keep_trace=False)
        elapsed = time.perf_counter() - start
        assert run.outcome == "finished"
        return elapsed

    n = _instructions(rounds)
    t_bare, t_run = _best(bare), _best(runtime)
    print(f"compute: {n / 1e6:.1f} M guest instructions, {rounds} rounds")
    print(f"  bare unicorn, no hooks   {n / t_bare / 1e6:8.1f} M instr/s")
    print(f"  x360k runtime            {n / t_run / 1e6:8.1f} M instr/s")
    print(f"  ratio runtime / bare     {t_bare / t_run:8.3f}   (target >= 0.9)")


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _best_of(fn: Callable[[], None], repeat: int = 3) -> tuple[float, float]:
    """Best wall and best CPU time over ``repeat`` runs (each minimum taken separately)."""
    runs = [_timed(fn) for _ in range(repeat)]
    return min(w for w, _ in runs), min(c for _, c in runs)


def bench_calls(calls: int) -> None:
    def floor() -> None:
        engine, entry, _ = _bare("stress", {"calls": calls}, hook=True)
        engine.start(entry, 0, until=STOP)

    def runtime(trace: bool, serve_in_hook: bool = True) -> Callable[[], None]:
        def go() -> None:
            run = execute_guest(
                GUESTS / "stress.elf",
                pokes={"calls": calls},
                keep_trace=trace,
                serve_in_hook=serve_in_hook,
            )
            assert run.outcome == "finished" and run.kernel.calls == calls
            assert run.kernel.threads[0].exit_code == 0

        return go

    def scripted() -> None:
        k = Kernel()

        def program() -> Any:
            for _ in range(calls):
                yield ("KeQueryPerformanceFrequency", ())
            return 0

        k.start_main(program())
        k.run(max_calls=None)

    per = 1e6 / calls
    t_floor = _best_of(floor)
    rows = [
        ("floor: bare sc, empty hook", t_floor),
        ("x360k runtime, no trace", _best_of(runtime(False))),
        ("x360k runtime, traced", _best_of(runtime(True))),
        ("  same, stop at every sc", _best_of(runtime(False, serve_in_hook=False))),
        ("scripted program (kernel)", _best_of(scripted)),
    ]
    print(f"calls: {calls} KeQueryPerformanceFrequency round trips from guest code")
    print(f"  {'':<30}{'wall us/call':>13}{'x floor':>9}{'CPU us/call':>13}{'x floor':>9}")
    for label, (wall, cpu) in rows:
        print(
            f"  {label:<30}{wall * per:13.2f}{wall / t_floor[0]:9.1f}"
            f"{cpu * per:13.2f}{cpu / t_floor[1]:9.1f}"
        )
    ratio = rows[1][1][1] / t_floor[1]
    verdict = "met" if ratio <= 4 else "NOT met"
    print(f"  (target: runtime, no trace <= 4x floor in CPU time: {ratio:.1f}x, {verdict})")


def main() -> None:
    rounds = int(os.environ.get("X360K_BENCH_CPU_ROUNDS", "200000"))
    bench_compute(rounds)
    bench_calls(100_000)


if __name__ == "__main__":
    main()
