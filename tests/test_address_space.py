"""The address space on its own: layout, first-fit search, and random sequences of calls."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.heaps import (
    CHUNK,
    LAYOUT,
    MEM_COMMIT,
    MEM_DECOMMIT,
    MEM_LARGE_PAGES,
    MEM_RELEASE,
    MEM_RESERVE,
    MEM_TOP_DOWN,
    PAGE_EXECUTE_READ,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
    PAGE_WRITECOPY,
    Heap,
    normalize_protect,
)
from x360k.kernel import Kernel
from x360k.memory import GuestMemory
from x360k.quirks import PROFILES

from .exports.memkit import allocate, free, protect, query


def test_layout_covers_the_console_ranges() -> None:
    mem = GuestMemory()
    space = mem.space
    expected = {
        0x00000000: ("v00000000", 0x1000),
        0x3FFFFFFF: ("v00000000", 0x1000),
        0x40000000: ("v40000000", 0x10000),
        0x70000000: ("v40000000", 0x10000),
        0x82000000: ("v80000000", 0x10000),
        0x90000000: ("v90000000", 0x1000),
        0xA0000000: ("vA0000000", 0x10000),
        0xC0000000: ("vC0000000", 0x1000000),
        0xE0000000: ("vE0000000", 0x1000),
    }
    for address, (name, page) in expected.items():
        heap = space.heap_at(address)
        assert heap is not None and (heap.spec.name, heap.page_size) == (name, page)
    for address in (0x7F000000, 0x7FFFFFFF, 0xFFD00000, 0xFFFFFFFF):
        assert space.heap_at(address) is None
    assert sum(spec.size for spec in LAYOUT) < 1 << 32
    space.check_invariants()


def test_first_fit_up_and_down() -> None:
    heap = Heap(LAYOUT[1])
    from x360k.heaps import new_allocation

    heap.insert(new_allocation(0x40000000, 2, CHUNK, PAGE_READWRITE, True, "guest"))
    heap.insert(new_allocation(0x40030000, 1, CHUNK, PAGE_READWRITE, True, "guest"))
    assert heap.find_free(0x40000000, 0x4FFFFFFF, CHUNK, CHUNK, False) == 0x40020000
    assert heap.find_free(0x40000000, 0x4FFFFFFF, 2 * CHUNK, CHUNK, False) == 0x40040000
    assert heap.find_free(0x40000000, 0x4FFFFFFF, 2 * CHUNK, 0x100000, False) == 0x40100000
    top = heap.find_free(0x40000000, 0x4FFFFFFF, CHUNK, CHUNK, True)
    assert top is not None and top + CHUNK <= 0x50000000 and top > 0x4FF00000
    assert heap.find_free(0x40000000, 0x4003FFFF, 4 * CHUNK, CHUNK, False) is None
    assert heap.find_free(0x40000000, 0x40000000, 0, CHUNK, False) is None


def test_normalized_protections() -> None:
    assert normalize_protect(PAGE_EXECUTE_READ) == PAGE_READONLY
    assert normalize_protect(PAGE_WRITECOPY) == PAGE_NOACCESS
    assert normalize_protect(PAGE_READWRITE | 0x200) == PAGE_READWRITE | 0x200


def test_kernel_arena_steps_over_guest_allocations() -> None:
    k = Kernel("console")
    taken = allocate(k, 0x100000, base=0x40100000, kind=MEM_RESERVE)
    assert taken.status == 0
    blocks = [k.memory.alloc(0x40000, 16) for _ in range(8)]  # grows past 0x40100000
    for block in blocks:
        assert not 0x40100000 <= block < 0x40200000
        k.memory.write_u32(block, 1)
    k.memory.space.check_invariants()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["alloc", "fixed", "commit", "decommit", "release", "protect", "touch"]),
        st.integers(0, 7),  # which earlier allocation
        st.integers(1, 0x50000),  # a size
        st.booleans(),  # 64 KiB pages / top-down
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops=OPS, profile=st.sampled_from(PROFILES))
def test_random_calls_keep_the_map_consistent(
    ops: list[tuple[str, int, int, bool]], profile: str
) -> None:
    k = Kernel(profile)  # type: ignore[arg-type]
    bases: list[int] = []
    for op, which, size, flag in ops:
        target = bases[which % len(bases)] if bases else 0x10000000
        if op == "alloc":
            kind = MEM_RESERVE | MEM_COMMIT | (MEM_LARGE_PAGES if flag else MEM_TOP_DOWN)
            r = allocate(k, size, kind=kind)
            if r.status == 0:
                bases.append(r.base)
        elif op == "fixed":
            r = allocate(
                k, size, base=target + size // 3, kind=MEM_RESERVE | (MEM_COMMIT if flag else 0)
            )
            if r.status == 0:
                bases.append(r.base)
        elif op == "commit":
            allocate(k, size, base=target, kind=MEM_COMMIT)
        elif op == "decommit":
            free(k, target, size, MEM_DECOMMIT)
        elif op == "release":
            free(k, target, 0, MEM_RELEASE)
        elif op == "protect":
            protect(k, target, size, PAGE_READONLY if flag else PAGE_READWRITE)
        else:
            status, mbi = query(k, target)
            if status == 0 and mbi[4] == MEM_COMMIT:
                # Committed pages are there to be read and written by the kernel.
                k.memory.write_u32(target & ~3, 0xDEAD)
                assert k.memory.read_u32(target & ~3) == 0xDEAD
        k.memory.space.check_invariants()


@pytest.mark.parametrize("profile", PROFILES)
def test_reads_and_writes_may_cross_adjacent_commits(profile: str) -> None:
    k = Kernel(profile)  # type: ignore[arg-type]
    r = allocate(k, 0x20000, kind=MEM_RESERVE)
    for offset in (0, 0x10000):  # two commits: two backing regions side by side
        assert allocate(k, 0x10000, base=r.base + offset, kind=MEM_COMMIT).status == 0
    data = bytes(range(256)) * 2
    k.memory.write_bytes(r.base + 0x10000 - 256, data)
    assert k.memory.read_bytes(r.base + 0x10000 - 256, 512) == data
    k.memory.require(r.base, 0x20000)
