"""Helpers the memory-manager tests share: in/out cells and one-line calls."""

from __future__ import annotations

from dataclasses import dataclass

from x360k.heaps import (
    MEM_COMMIT,
    MEM_RELEASE,
    MEM_RESERVE,
    PAGE_READWRITE,
)
from x360k.kernel import Kernel

#: An address no heap holds (0x7F000000-0x7FFFFFFF belongs to none) and nothing maps.
NO_HEAP = 0x7F800000
#: An address in the 4 KiB heap that nothing maps.
UNMAPPED = 0x20000000


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    base: int
    size: int


def cells(k: Kernel, base: int, size: int) -> tuple[int, int]:
    """Two ULONG cells holding ``base`` and ``size`` (BaseAddress*, RegionSize*)."""
    mem = k.memory
    base_ptr, size_ptr = mem.alloc(4, 4), mem.alloc(4, 4)
    mem.write_u32(base_ptr, base)
    mem.write_u32(size_ptr, size)
    return base_ptr, size_ptr


def allocate(
    k: Kernel,
    size: int,
    base: int = 0,
    kind: int = MEM_RESERVE | MEM_COMMIT,
    protect: int = PAGE_READWRITE,
) -> Result:
    base_ptr, size_ptr = cells(k, base, size)
    status = k.call("NtAllocateVirtualMemory", base_ptr, size_ptr, kind, protect, 0)
    return Result(status, k.memory.read_u32(base_ptr), k.memory.read_u32(size_ptr))


def free(k: Kernel, base: int, size: int = 0, kind: int = MEM_RELEASE) -> Result:
    base_ptr, size_ptr = cells(k, base, size)
    status = k.call("NtFreeVirtualMemory", base_ptr, size_ptr, kind, 0)
    return Result(status, k.memory.read_u32(base_ptr), k.memory.read_u32(size_ptr))


def query(k: Kernel, address: int) -> tuple[int, tuple[int, ...]]:
    """NtQueryVirtualMemory's status and the seven MEMORY_BASIC_INFORMATION fields."""
    mbi = k.memory.alloc(28, 4)
    status = k.call("NtQueryVirtualMemory", address, mbi, 0)
    return status, tuple(k.memory.read_u32(mbi + 4 * i) for i in range(7))


def protect(k: Kernel, base: int, size: int, value: int) -> tuple[Result, int]:
    base_ptr, size_ptr = cells(k, base, size)
    old_ptr = k.memory.alloc(4, 4)
    status = k.call("NtProtectVirtualMemory", base_ptr, size_ptr, value, old_ptr, 0)
    mem = k.memory
    return Result(status, mem.read_u32(base_ptr), mem.read_u32(size_ptr)), mem.read_u32(old_ptr)
