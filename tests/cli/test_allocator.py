"""keep_freed_memory: freed arrays' pages are reused rather than faulted in again."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from x360k.cli import allocator

_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

#: Allocates and touches eight 4 MiB arrays at once, frees them, 20 times over (as a stretch
#: of the diff's keys does); prints the page faults it took.
_FAULTS = """
import resource, sys
import numpy as np
from x360k.cli.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
np.ones(1 << 19)  # numpy's own first-use allocations, before counting
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    arrays = [np.ones(1 << 19) for _ in range(8)]  # 4 MiB each
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout)


@pytest.mark.skipif(not _GLIBC, reason="the thresholds are glibc's")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    # untuned, the freed top of the heap goes back to the OS: ~1024 faults per array
    assert plain > 20 * 8 * 500
    assert tuned < plain / 10


def test_a_threshold_set_in_the_environment_is_left_to_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_libc(name: object) -> object:
        raise AssertionError("mallopt must not be called")

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert allocator.keep_freed_memory() is False


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, name: object) -> None:
            pass

    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False
