"""Mm* and Ex pool exports under both profiles."""

from __future__ import annotations

import itertools

import pytest

from x360k.heaps import (
    MEM_16MB_PAGES,
    MEM_COMMIT,
    MEM_FREE,
    MEM_LARGE_PAGES,
    MEM_RESERVE,
    MIB,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
)
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)

from .memkit import NO_HEAP, UNMAPPED, allocate, query


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_physical_views_share_one_pool(k: Kernel) -> None:
    a = k.call("MmAllocatePhysicalMemory", 0, 0x10000, PAGE_READWRITE | MEM_LARGE_PAGES)
    e = k.call("MmAllocatePhysicalMemory", 0, 0x3000, PAGE_READWRITE)
    c = k.call("MmAllocatePhysicalMemory", 0, 0x10, PAGE_READWRITE | MEM_16MB_PAGES)
    assert 0xA0000000 <= a < 0xC0000000 and a % 0x10000 == 0
    assert 0xE0000000 <= e < 0xFFD00000 and e % 0x1000 == 0
    assert 0xC0000000 <= c < 0xE0000000 and c % (16 * MIB) == 0
    pa, pe, pc = (k.call("MmGetPhysicalAddress", x) for x in (a, e, c))
    assert pa == a - 0xA0000000 and pe == e - 0xE0000000 + 0x1000 and pc == c - 0xC0000000
    ranges = sorted([(pa, 0x10000), (pe, 0x3000), (pc, 16 * MIB)])
    for (lo, size), (hi, _) in itertools.pairwise(ranges):
        assert lo + size <= hi  # no two views hand out the same physical page
    assert pa > 0x10000000  # top-down
    for address in (a, e, c):
        k.memory.write_u32(address, 0xA5A5A5A5)
        assert k.call("MmIsAddressValid", address) == 1
    assert k.call("MmQueryAllocationSize", e) == 0x3000
    k.call("MmFreePhysicalMemory", 0, e)
    assert k.call("MmQueryAllocationSize", e) == 0
    assert not k.memory.is_mapped(e) or k.memory.read_u32(e) == 0


def test_physical_ranges_and_refusals(k: Kernel) -> None:
    low, high = 0x01000000, 0x01FFFFFF
    x = k.call(
        "MmAllocatePhysicalMemoryEx",
        0,
        0x20000,
        PAGE_READWRITE | MEM_LARGE_PAGES,
        low,
        high,
        0x20000,
    )
    phys = k.call("MmGetPhysicalAddress", x)
    assert low <= phys and phys + 0x20000 <= high + 1 and phys % 0x20000 == 0
    assert k.call("MmAllocatePhysicalMemory", 0, 0x1000, PAGE_NOACCESS) == 0
    assert k.call("MmAllocatePhysicalMemory", 0, 0, PAGE_READWRITE) == 0
    assert k.call("MmAllocatePhysicalMemory", 0, 0xFFFFFFFF, PAGE_READWRITE) == 0
    assert k.call("MmGetPhysicalAddress", 0x40000000) == 0
    k.call("MmFreePhysicalMemory", 0, NO_HEAP)  # nothing there: nothing happens
    k.call("MmFreePhysicalMemory", 0, x + 0x10000)  # not a base: nothing happens
    assert k.call("MmQueryAllocationSize", x) == 0x20000


@pytest.mark.parametrize("profile", PROFILES)
def test_physical_memory_shares_the_512_mib(profile: Profile) -> None:
    k = Kernel(profile)
    for _ in range(4):
        assert allocate(k, 100 * MIB, kind=MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES).status == 0
    got = k.call("MmAllocatePhysicalMemory", 0, 200 * MIB, PAGE_READWRITE | MEM_LARGE_PAGES)
    assert (got != 0) == (profile == "canary")


@pytest.mark.parametrize("profile", PROFILES)
def test_address_protection_queries(profile: Profile) -> None:
    k = Kernel(profile)
    canary = profile == "canary"
    r = allocate(k, 0x20000, kind=MEM_RESERVE, protect=PAGE_READONLY)
    assert k.call("MmIsAddressValid", r.base) == (1 if canary else 0)
    assert k.call("MmQueryAddressProtect", r.base) == (PAGE_READONLY if canary else 0)
    assert allocate(k, 0x1000, base=r.base, kind=MEM_COMMIT, protect=PAGE_READWRITE).status == 0
    assert k.call("MmQueryAddressProtect", r.base) == PAGE_READWRITE
    k.call("MmSetAddressProtect", r.base, 0x1000, PAGE_NOACCESS)
    assert k.call("MmIsAddressValid", r.base) == 0
    assert k.call("MmQueryAddressProtect", r.base) == (0 if canary else PAGE_NOACCESS)
    k.call("MmSetAddressProtect", r.base, 0x1000, PAGE_READONLY | PAGE_READWRITE)  # two bits
    assert k.call("MmQueryAddressProtect", r.base) == (0 if canary else PAGE_NOACCESS)
    k.call("MmSetAddressProtect", r.base, 0x1000, PAGE_READONLY)
    assert k.call("MmQueryAddressProtect", r.base) == PAGE_READONLY
    k.call("MmSetAddressProtect", 0x82000000, 0x1000, PAGE_NOACCESS)  # image heap: ignored
    k.call("MmSetAddressProtect", NO_HEAP, 0x1000, PAGE_NOACCESS)
    assert k.call("MmIsAddressValid", NO_HEAP) == 0
    assert k.call("MmQueryAddressProtect", NO_HEAP) == 0
    assert k.call("MmQueryAllocationSize", r.base + 0x1234) == 0x20000
    assert k.call("MmQueryAllocationSize", 0x2E000000) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_statistics(profile: Profile) -> None:
    k = Kernel(profile)
    stats = k.memory.alloc(104, 4)
    assert k.call("MmQueryStatistics", stats) == STATUS_BUFFER_TOO_SMALL
    k.memory.write_u32(stats, 104)
    assert k.call("MmQueryStatistics", stats) == STATUS_SUCCESS
    assert k.memory.read_u32(stats + 4) == 0x20000 and k.memory.read_u32(stats + 100) == 0x1FFFF
    available = k.memory.read_u32(stats + 12)
    assert allocate(k, 64 * MIB, kind=MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES).status == 0
    assert k.call("MmQueryStatistics", stats) == STATUS_SUCCESS
    after = k.memory.read_u32(stats + 12)
    assert available - after == (0 if profile == "canary" else 64 * MIB // 0x1000)
    assert k.call("MmQueryStatistics", 0) == STATUS_INVALID_PARAMETER
    assert k.call("MmQueryStatistics", UNMAPPED) == STATUS_ACCESS_VIOLATION


@pytest.mark.parametrize("profile", PROFILES)
def test_kernel_stacks(profile: Profile) -> None:
    k = Kernel(profile)
    top = k.call("MmCreateKernelStack", 0x4000, 0)
    base = top - 0x4000
    assert 0x70000000 <= base < 0x7F000000 and base % 0x1000 == 0
    k.memory.write_u32(top - 4, 1)
    assert query(k, base)[1][4] == MEM_COMMIT
    assert k.call("MmDeleteKernelStack", top, base) == STATUS_SUCCESS
    assert query(k, base)[1][4] == MEM_FREE
    assert k.call("MmDeleteKernelStack", top, base) == STATUS_UNSUCCESSFUL
    assert k.call("MmDeleteKernelStack", 0, 0x10000000) == STATUS_UNSUCCESSFUL
    failed = k.call("MmCreateKernelStack", 0x7FFF0000, 0)
    assert failed == (0x7FFF0000 if profile == "canary" else 0)


def test_io_space_page_table_entry_and_l2(k: Kernel) -> None:
    assert k.call("MmMapIoSpace", 2, 0x7FEA0000, 0x40, 0x404) == 0x7FEA0000
    assert k.call("KeGetImagePageTableEntry", 0x82010000) == 0x201
    assert k.call("KeGetImagePageTableEntry", 0x90003000) == 0x40000003
    assert k.call("KeGetImagePageTableEntry", 0x40000000) == 0
    assert k.call("KeGetImagePageTableEntry", NO_HEAP) == 0
    assert k.call("KeLockL2") == 0
    k.call("KeUnlockL2")


def test_pool(k: Kernel) -> None:
    small = k.call("ExAllocatePoolWithTag", 0x20, 0x54657374)
    assert 0x30000000 <= small < 0x40000000 and small & 0xFFF == 8
    header = small - 8
    assert k.memory.read_u8(header + 2) == 170 and k.memory.read_u32(header + 4) == 0x54657374
    assert k.memory.read_bytes(small, 0x20) == bytes(0x20)
    big = k.call("ExAllocatePoolTypeWithTag", 0x2000, 0x42696721, 1)
    assert big & 0xFFF == 0 and k.call("MmQueryAllocationSize", big) == 0x2000
    plain = k.call("ExAllocatePool", 0x10)
    assert k.memory.read_u32(plain - 4) == 0x656E6F4E  # 'None'
    assert k.call("ExAllocatePool", 0xFFFFFFFF) == 0
    for block in (small, big, plain):
        k.call("ExFreePool", block)
        assert k.call("MmQueryAllocationSize", block) == 0
    k.call("ExFreePool", 0)
    k.call("ExFreePool", NO_HEAP)
    # A freed page that shares a mapped chunk reads back as zeros when reused.
    again = k.call("ExAllocatePoolWithTag", 0x20, 1)
    assert k.memory.read_bytes(again, 0x20) == bytes(0x20)


def test_the_kernels_own_physical_memory(k: Kernel) -> None:
    from x360k.exports.physical_memory import allocate_system_physical

    block = allocate_system_physical(k, 0x2000, 0x100)
    assert 0xE0000000 <= block < 0xFFD00000 and block % 0x1000 == 0
    assert k.memory.read_bytes(block, 0x2000) == bytes(0x2000)
    k.call("MmFreePhysicalMemory", 0, block)  # the guest cannot take it away
    assert k.call("MmQueryAllocationSize", block) == 0x2000
    assert allocate_system_physical(k, 0, 16) == 0
    guest = k.call("MmAllocatePhysicalMemory", 0, 0x1000, PAGE_READWRITE)
    assert guest != block and abs(guest - block) >= 0x1000
