"""Run every ``bench_*.py`` module in this folder, or those whose name contains an argument.

Each module defines ``main() -> None`` that prints its own figures, always as
ratios against a baseline measured in the same run, so the numbers survive a
noisy machine. ``python -m benchmarks kernel`` runs ``bench_kernel.py`` only.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    for name in wanted:
        print(f"== {name} ==", flush=True)
        start = time.perf_counter()
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"   ({time.perf_counter() - start:.1f} s)\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
