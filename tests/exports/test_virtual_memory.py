"""Nt* virtual memory under both profiles: the life of a region, hostile arguments, quirks."""

from __future__ import annotations

import pytest
from tests.vfs.iokit import IoKit

from x360k.heaps import (
    MEM_COMMIT,
    MEM_DECOMMIT,
    MEM_FREE,
    MEM_LARGE_PAGES,
    MEM_PRIVATE,
    MEM_RELEASE,
    MEM_RESERVE,
    MEM_RESET,
    MEM_TOP_DOWN,
    MIB,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
)
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_ACCESS_VIOLATION,
    STATUS_CONFLICTING_ADDRESSES,
    STATUS_FREE_VM_NOT_AT_BASE,
    STATUS_INVALID_PAGE_PROTECTION,
    STATUS_INVALID_PARAMETER,
    STATUS_MEMORY_NOT_ALLOCATED,
    STATUS_NO_MEMORY,
    STATUS_NOT_COMMITTED,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)

from .memkit import NO_HEAP, UNMAPPED, allocate, cells, free, protect, query


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_commit_gives_zeroed_readable_pages_in_the_4k_heap(k: Kernel) -> None:
    r = allocate(k, 0x1234)
    assert r.status == STATUS_SUCCESS
    assert r.size == 0x10000  # no base: rounded to 64 KiB
    assert r.base >= 0x10000 and r.base + r.size <= 0x30000000
    assert k.memory.read_bytes(r.base, r.size) == bytes(r.size)
    k.memory.write_u32(r.base + 0xFFFC, 0xCAFEF00D)
    status, mbi = query(k, r.base)
    assert status == STATUS_SUCCESS
    assert mbi == (r.base, r.base, PAGE_READWRITE, 0x10000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE)


def test_large_pages_and_top_down_pick_their_windows(k: Kernel) -> None:
    large = allocate(k, 0x10000, kind=MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES)
    assert large.status == STATUS_SUCCESS
    assert 0x40000000 <= large.base < 0x70000000 and large.base % 0x10000 == 0
    # The kernel's own arena at 0x40000000 is in the same map: no overlap with it.
    arena_cell = k.memory.alloc(4, 4)
    assert not large.base <= arena_cell < large.base + large.size
    top = allocate(k, 0x10000, kind=MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN)
    assert top.status == STATUS_SUCCESS
    assert top.base > 0x2F000000 and top.base + top.size <= 0x30000000


def test_reserve_commit_decommit_release(k: Kernel) -> None:
    r = allocate(k, 0x40000, kind=MEM_RESERVE)
    assert r.status == STATUS_SUCCESS and r.size == 0x40000
    assert not k.memory.is_mapped(r.base)  # reserved pages have no bytes
    assert query(k, r.base)[1][4] == MEM_RESERVE
    c = allocate(k, 0x1000, base=r.base + 0x2000, kind=MEM_COMMIT)
    assert (c.status, c.base, c.size) == (STATUS_SUCCESS, r.base + 0x2000, 0x1000)
    _, below = query(k, r.base)
    assert below[3:5] == (0x2000, MEM_RESERVE) and below[1] == r.base
    _, mid = query(k, r.base + 0x2000)
    assert mid[3:5] == (0x1000, MEM_COMMIT)
    k.memory.write_u32(r.base + 0x2000, 0x12345678)
    d = free(k, r.base + 0x2000, 0x1000, MEM_DECOMMIT)
    assert d.status == STATUS_SUCCESS
    assert query(k, r.base + 0x2000)[1][4] == MEM_RESERVE
    again = allocate(k, 0x1000, base=r.base + 0x2000, kind=MEM_COMMIT)
    assert again.status == STATUS_SUCCESS
    assert k.memory.read_u32(r.base + 0x2000) == 0  # recommitted pages are zero
    rel = free(k, r.base)
    assert (rel.status, rel.size) == (STATUS_SUCCESS, 0x40000)
    status, mbi = query(k, r.base)
    assert status == STATUS_SUCCESS and mbi[4] == MEM_FREE
    assert not k.memory.is_mapped(r.base + 0x2000)


def test_release_gives_the_bytes_back(k: Kernel) -> None:
    k.memory.alloc(4, 4)  # the arena the call cells live in is claimed now, not mid-count
    before = k.memory.space.usage.total
    regions = len(k.memory.regions)
    bases = [
        allocate(k, 0x10000, kind=MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES).base for _ in range(8)
    ]
    assert k.memory.space.usage.total == before + 8 * 0x10000
    for base in bases:
        assert free(k, base).status == STATUS_SUCCESS
    assert k.memory.space.usage.total == before
    assert len(k.memory.regions) == regions


def test_hostile_arguments_get_statuses(k: Kernel) -> None:
    assert allocate(k, 0).status == STATUS_INVALID_PARAMETER
    assert allocate(k, 0x1000, kind=0).status == STATUS_INVALID_PARAMETER
    assert allocate(k, 0x1000, kind=MEM_RESET | MEM_COMMIT).status == STATUS_INVALID_PARAMETER
    assert allocate(k, 0x1000, base=NO_HEAP).status == STATUS_INVALID_PARAMETER
    assert allocate(k, 0x1000, base=0xA0100000).status == STATUS_INVALID_PARAMETER
    assert allocate(k, 0x7FFF0000).status == STATUS_NO_MEMORY  # larger than the heap's window
    assert allocate(k, 0x1000, base=0x3FFFF000, kind=MEM_RESERVE).status == STATUS_SUCCESS
    assert allocate(k, 0x2000, base=0x3FFFF000, kind=MEM_RESERVE).status != STATUS_SUCCESS
    # A RegionSize pointer into unmapped memory changes nothing.
    count = sum(len(h) for h in k.memory.space.heaps)
    base_ptr, _ = cells(k, 0, 0x1000)
    status = k.call("NtAllocateVirtualMemory", base_ptr, UNMAPPED, MEM_COMMIT, PAGE_READWRITE, 0)
    assert status == STATUS_ACCESS_VIOLATION
    assert sum(len(h) for h in k.memory.space.heaps) == count
    assert (
        k.call("NtFreeVirtualMemory", UNMAPPED, base_ptr, MEM_RELEASE, 0) == STATUS_ACCESS_VIOLATION
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_null_pointers(profile: Profile) -> None:
    k = Kernel(profile)
    _, size_ptr = cells(k, 0, 0x1000)
    status = k.call("NtAllocateVirtualMemory", 0, size_ptr, MEM_COMMIT, PAGE_READWRITE, 0)
    want = STATUS_INVALID_PARAMETER if profile == "canary" else STATUS_ACCESS_VIOLATION
    assert status == want
    assert k.call("NtProtectVirtualMemory", 0, size_ptr, PAGE_READONLY, 0, 0) == want


@pytest.mark.parametrize("profile", PROFILES)
def test_negative_region_size(profile: Profile) -> None:
    k = Kernel(profile)
    r = allocate(k, (-0x10000) & 0xFFFFFFFF)
    if profile == "canary":
        assert (r.status, r.size) == (STATUS_SUCCESS, 0x10000)
    else:
        assert r.status == STATUS_INVALID_PARAMETER


@pytest.mark.parametrize("profile", PROFILES)
def test_commits_past_512_mib(profile: Profile) -> None:
    k = Kernel(profile)
    big = MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES
    results = [allocate(k, 100 * MIB, kind=big).status for _ in range(6)]
    if profile == "canary":
        assert results == [STATUS_SUCCESS] * 6  # host memory: only the heap's range bounds it
    else:
        assert results[:5] == [STATUS_SUCCESS] * 5 and results[5] == STATUS_NO_MEMORY
    assert k.memory.space.usage.by_owner["guest"] == results.count(STATUS_SUCCESS) * 100 * MIB


@pytest.mark.parametrize("profile", PROFILES)
def test_fixed_allocations_over_used_pages(profile: Profile) -> None:
    k = Kernel(profile)
    r = allocate(k, 0x20000, kind=MEM_RESERVE)
    canary = profile == "canary"
    again = allocate(k, 0x1000, base=r.base, kind=MEM_RESERVE).status
    assert again == (STATUS_NO_MEMORY if canary else STATUS_CONFLICTING_ADDRESSES)
    overlay = allocate(k, 0x1000, base=r.base + 0x10000, kind=MEM_RESERVE | MEM_COMMIT)
    if canary:
        assert overlay.status == STATUS_SUCCESS
        assert query(k, r.base + 0x10000)[1][1] == r.base + 0x10000  # a region of its own
        assert query(k, r.base)[1][3] == 0x10000  # the old one kept the pages below
    else:
        assert overlay.status == STATUS_CONFLICTING_ADDRESSES
    free_pages = allocate(k, 0x1000, base=0x2E000000, kind=MEM_COMMIT).status
    assert free_pages == (STATUS_SUCCESS if canary else STATUS_CONFLICTING_ADDRESSES)


@pytest.mark.parametrize("profile", PROFILES)
def test_free_statuses(profile: Profile) -> None:
    k = Kernel(profile)
    canary = profile == "canary"
    r = allocate(k, 0x20000)
    assert free(k, r.base + 0x1000).status == (
        STATUS_UNSUCCESSFUL if canary else STATUS_FREE_VM_NOT_AT_BASE
    )
    assert free(k, 0x2E000000).status == (
        STATUS_UNSUCCESSFUL if canary else STATUS_MEMORY_NOT_ALLOCATED
    )
    assert free(k, 0).status == STATUS_MEMORY_NOT_ALLOCATED
    assert free(k, NO_HEAP).status == STATUS_INVALID_PARAMETER
    odd = free(k, r.base, 0, 0x1234)
    assert odd.status == (STATUS_SUCCESS if canary else STATUS_INVALID_PARAMETER)
    # The kernel's arena is in the map but no guest call takes it away.
    cell = k.memory.alloc(4, 4)
    assert free(k, cell & ~0xFFFF).status != STATUS_SUCCESS
    assert free(k, cell & ~0xFFFF, 0x10000, MEM_DECOMMIT).status in (
        STATUS_SUCCESS,
        STATUS_MEMORY_NOT_ALLOCATED,
    )
    k.memory.write_u32(cell, 7)
    assert k.memory.read_u32(cell) == 7


@pytest.mark.parametrize("profile", PROFILES)
def test_protect(profile: Profile) -> None:
    k = Kernel(profile)
    canary = profile == "canary"
    r = allocate(k, 0x10000)
    res, old = protect(k, r.base + 0x1800, 0x1000, PAGE_READONLY)
    assert (res.status, res.base, res.size, old) == (
        STATUS_SUCCESS,
        r.base + 0x1000,
        0x1000,
        PAGE_READWRITE,
    )
    assert query(k, r.base + 0x1000)[1][5] == PAGE_READONLY
    res, _ = protect(k, r.base, 0x1000, PAGE_EXECUTE_READWRITE)
    assert res.status == STATUS_INVALID_PAGE_PROTECTION
    res, _ = protect(k, r.base, 0, PAGE_READONLY)
    assert res.status == STATUS_INVALID_PARAMETER
    res, _ = protect(k, r.base, 0x20000, PAGE_READONLY)  # runs past the region
    assert res.status == (STATUS_ACCESS_DENIED if canary else STATUS_CONFLICTING_ADDRESSES)
    reserved = allocate(k, 0x10000, kind=MEM_RESERVE)
    res, _ = protect(k, reserved.base, 0x1000, PAGE_READONLY)
    assert res.status == (STATUS_ACCESS_DENIED if canary else STATUS_NOT_COMMITTED)
    old_ptr_bad = cells(k, r.base, 0x1000)
    status = k.call("NtProtectVirtualMemory", *old_ptr_bad, PAGE_READONLY, UNMAPPED, 0)
    assert status == STATUS_ACCESS_VIOLATION


@pytest.mark.parametrize("profile", PROFILES)
def test_protections_read_back(profile: Profile) -> None:
    k = Kernel(profile)
    r = allocate(k, 0x10000, protect=PAGE_EXECUTE_READ)
    assert r.status == STATUS_SUCCESS
    want = PAGE_READONLY if profile == "canary" else PAGE_EXECUTE_READ
    assert query(k, r.base)[1][2] == want
    assert k.call("MmQueryAddressProtect", r.base) == want


@pytest.mark.parametrize("profile", PROFILES)
def test_query_rounding_and_free_ranges(profile: Profile) -> None:
    k = Kernel(profile)
    canary = profile == "canary"
    r = allocate(k, 0x10000)
    _, mbi = query(k, r.base + 0x123)
    assert mbi[0] == (r.base + 0x123 if canary else r.base)
    assert mbi[3] == 0x10000
    status, free_mbi = query(k, 0x2E000000)
    assert status == STATUS_SUCCESS and free_mbi[4] == MEM_FREE and free_mbi[3] > 0
    assert free_mbi[6] == (MEM_PRIVATE if canary else 0)
    assert free_mbi[5] == (PAGE_NOACCESS if canary else 0)
    assert query(k, NO_HEAP)[0] == STATUS_INVALID_PARAMETER
    assert (
        k.call("NtQueryVirtualMemory", r.base, k.memory.alloc(28, 4), 3) == STATUS_INVALID_PARAMETER
    )
    assert k.call("NtQueryVirtualMemory", r.base, UNMAPPED, 0) == STATUS_ACCESS_VIOLATION


def test_kernel_allocations_show_in_the_map(k: Kernel) -> None:
    stack = k.main_thread.stack_base - 0x100
    status, mbi = query(k, stack)
    assert status == STATUS_SUCCESS and mbi[4] == MEM_COMMIT
    assert free(k, mbi[1]).status != STATUS_SUCCESS
    assert k.memory.is_mapped(stack, 4)
    # Page 0 stays a guard: committed, no access, never mapped.
    _, zero = query(k, 0)
    assert zero[4] == MEM_COMMIT and not k.memory.is_mapped(0)


def test_reset_keeps_committed_pages(k: Kernel) -> None:
    r = allocate(k, 0x10000)
    k.memory.write_u32(r.base, 5)
    assert allocate(k, 0x1000, base=r.base, kind=MEM_RESET).status == STATUS_SUCCESS
    assert (
        allocate(k, 0x1000, base=0x2E000000, kind=MEM_RESET).status == STATUS_CONFLICTING_ADDRESSES
    )


def test_encrypted_memory(k: Kernel) -> None:
    out = k.memory.alloc(4, 4)
    assert k.call("NtAllocateEncryptedMemory", 0, 0x20000, out) == STATUS_SUCCESS
    base = k.memory.read_u32(out)
    assert 0x8C000000 <= base < 0x90000000
    k.memory.write_u32(base + 0x1FFFC, 1)
    assert k.call("MmQueryAllocationSize", base) == 0x20000
    assert k.call("NtAllocateEncryptedMemory", 0, 0, out) == STATUS_INVALID_PARAMETER
    assert k.call("NtAllocateEncryptedMemory", 0, 17 * MIB, out) == STATUS_INVALID_PARAMETER
    assert k.call("NtAllocateEncryptedMemory", 0, 0x1000, UNMAPPED) == STATUS_ACCESS_VIOLATION


def test_file_reads_and_writes_cross_separate_commits(io: IoKit) -> None:
    """A buffer in two commits (two backing regions) still takes one NtReadFile/NtWriteFile."""
    k = io.k
    r = allocate(k, 0x20000, kind=MEM_RESERVE)
    for offset in (0, 0x10000):
        assert allocate(k, 0x10000, base=r.base + offset, kind=MEM_COMMIT).status == 0
    buf = r.base + 0x10000 - 100
    h = io.open("game:\\data\\level1.bin")
    iosb = io.out(8)
    assert k.call("NtReadFile", h, 0, 0, 0, iosb, buf, 200, 0) == STATUS_SUCCESS
    assert k.memory.read_bytes(buf, 200) == bytes(range(200))
    w = io.create("hdd:\\copy.bin", 0xC0000000, 5)[1]
    assert k.call("NtWriteFile", w, 0, 0, 0, iosb, buf, 200, 0) == STATUS_SUCCESS
    assert (io.hdd / "copy.bin").read_bytes() == bytes(range(200))
    # Running into reserved, uncommitted pages is a bad buffer: nothing is read.
    assert k.call("NtReadFile", h, 0, 0, 0, iosb, r.base + 0x1FF00, 0x200, 0) == (
        STATUS_ACCESS_VIOLATION
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_invalid_protection_values(profile: Profile) -> None:
    k = Kernel(profile)
    for value in (0, PAGE_READONLY | PAGE_READWRITE):
        r = allocate(k, 0x10000, protect=value)
        if profile == "canary":
            assert r.status == STATUS_SUCCESS
            assert query(k, r.base)[1][5] == (PAGE_NOACCESS if value == 0 else PAGE_READONLY)
        else:
            assert r.status == STATUS_INVALID_PAGE_PROTECTION
    good = allocate(k, 0x10000)
    res, _ = protect(k, good.base, 0x1000, 0)
    assert res.status == (STATUS_SUCCESS if profile == "canary" else STATUS_INVALID_PAGE_PROTECTION)
