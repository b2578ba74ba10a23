"""guests/kernel_objects.c: kernel structures and stack switching driven by PowerPC code.

The DPC's deferred routine and the APC's kernel and normal routines are guest
code: the CPU runtime runs them as nested programs on the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from x360k.cpu.runner import execute_guest
from x360k.quirks import PROFILES, Profile

Guest = Callable[[str], Path]
STATUS_USER_APC = 0xC0


def observed(guest: Guest, profile: Profile) -> tuple[list[int], list[int | None]]:
    run = execute_guest(guest("kernel_objects"), profile=profile)
    assert run.outcome == "finished", run.fault.headline() if run.fault else run.outcome
    base = next(s.value for s in run.image.symbols if s.name == "observed")
    mem = run.kernel.memory
    return [mem.read_u32(base + 4 * i) for i in range(16)], [
        t.exit_code for t in run.kernel.threads
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_kernel_objects_guest(guest: Guest, profile: Profile) -> None:
    seen, exits = observed(guest, profile)
    console = profile == "console"
    # The reader queued behind the writer, then read what the writer stored.
    assert seen[0] == 1 and exits == [0, 42]
    assert seen[1] == 1  # the lock was free again afterwards
    # SList: LIFO; depth 2 and sequence 3 after three pushes and a pop.
    assert (seen[2], seen[3], seen[4]) == (1, 0x00020003, 1)
    assert seen[5] == (3 if console else 0)  # canary's flush zeroes the sequence
    # The DPC: inserted (1); the console ran its guest routine at DISPATCH_LEVEL with every
    # argument right, and it was no longer queued; canary never runs it.
    assert seen[8] == 1
    assert (seen[6], seen[7], seen[12]) == ((0xF, 2, 0) if console else (0, 0, 1))
    # The APC: the kernel routine saw its KAPC and arguments and rewrote the context the
    # normal routine then got (77); the alertable delay returned STATUS_USER_APC.
    assert (seen[13], seen[9], seen[10], seen[11], seen[14]) == (1, 3, 77, 7, STATUS_USER_APC)
    # KeSetCurrentStackPointers switched the running code's r1 (a fiber switch) and back.
    assert seen[15] == 1
