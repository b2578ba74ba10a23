"""guests/memory.c: the memory manager driven from real PowerPC code, under both profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from x360k.cpu.runner import execute_guest
from x360k.heaps import (
    MEM_FREE,
)
from x360k.quirks import PROFILES, Profile

Guest = Callable[[str], Path]

CALLS = [
    "NtAllocateVirtualMemory",
    "NtAllocateVirtualMemory",
    "NtQueryVirtualMemory",
    "NtQueryVirtualMemory",
    "NtProtectVirtualMemory",
    "MmQueryAddressProtect",
    "MmAllocatePhysicalMemoryEx",
    "MmGetPhysicalAddress",
    "MmFreePhysicalMemory",
    "ExAllocatePoolWithTag",
    "ExFreePool",
    "NtFreeVirtualMemory",
    "NtQueryVirtualMemory",
    "NtFreeVirtualMemory",
    "NtQueryVirtualMemory",
]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_step_answers_as_expected(guest: Guest, profile: Profile) -> None:
    run = execute_guest(guest("memory"), profile=profile)
    assert run.outcome == "finished"
    main = run.kernel.threads[0]
    assert main.exit_code == 0x600D, f"step {main.exit_code} failed"
    assert run.trace is not None
    names = [e.name for e in run.trace.events if e.kind == "kernel.call"]
    assert names == CALLS
    # Everything the guest allocated is gone again, from the map and from host memory.
    space = run.kernel.memory.space
    assert space.usage.by_owner.get("guest", 0) == 0
    assert space.usage.by_owner.get("pool", 0) == 0
    assert not any(r.name == "committed" and r.base < 0x30000000 for r in run.kernel.memory.regions)
    heap = space.heap_at(0x10000)
    assert heap is not None and space.query(heap, 0x20000).state == MEM_FREE


def test_a_store_into_a_read_only_page_faults(guest: Guest) -> None:
    run = execute_guest(guest("memory"), pokes={"write_readonly": 1})
    assert run.outcome == "fault" and run.fault is not None
    assert run.fault.reason.startswith("write of protected memory at 0x")
    # The kernel still sees the page's bytes (its own accesses ignore protection).
    address = int(run.fault.reason.split("0x")[1].split()[0], 16)
    assert run.kernel.memory.read_u32(address + 4) == 2654435761
