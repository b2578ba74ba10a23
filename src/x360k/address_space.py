"""The guest address space as the console lays it out: heaps, reservations, commits, protections.

The 4 GiB guest range is cut into fixed heaps (see :data:`LAYOUT`), each with
its own page size. An :class:`Allocation` is one reservation: a run of pages
that each are reserved or committed, with a protection per page. Nothing is
stored for free space, so bookkeeping grows with what a title allocates, not
with the 4 GiB it could address.

The three physical views (0xA0000000 with 64 KiB pages, 0xC0000000 with
16 MiB pages, 0xE0000000 with 4 KiB pages) draw on one pool of 512 MiB of
physical pages, so two views never hand out the same physical memory and
``MmGetPhysicalAddress`` answers the same for each. A physical allocation is
backed at the view it was made through (the other views' aliases of the same
physical page are not mapped: x360k has no GPU to need them).

Bytes exist only for committed memory: committing maps zero-filled backing
(anonymous ``mmap``: untouched pages cost no host memory) in 64 KiB chunks
through :class:`~x360k.memory.GuestMemory`, and decommitting or releasing the
last committed page of a chunk unmaps it, so host memory stays proportional to
what is committed. A 4 KiB-page heap therefore backs a whole 64 KiB chunk for a
single committed 4 KiB page; the page table still answers per page.

This module knows the console's facts and canary's allocator; which status a
failure gets is the export layer's business (x360k/exports/virtual_memory.py).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from x360k.heaps import (
    ACCESS_NONE,
    CHUNK,
    KIB,
    LAYOUT,
    MEM_COMMIT,
    MEM_FREE,
    MEM_RESERVE,
    PAGE_NOACCESS,
    PAGE_READWRITE,
    PHYSICAL_POOL,
    Allocation,
    Heap,
    HeapKind,
    RegionInfo,
    align_down,
    align_up,
    cpu_access,
    new_allocation,
)

if TYPE_CHECKING:
    from x360k.memory import GuestMemory

# -- the whole space -----------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    """Committed bytes by where they went (what MmQueryStatistics and the 512 MiB rule read)."""

    virtual: int = 0
    physical: int = 0
    image: int = 0
    by_owner: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.virtual + self.physical + self.image


class AddressSpace:
    """Every heap of one guest, the physical pool, and the backing they keep mapped."""

    def __init__(self, memory: GuestMemory) -> None:
        self._memory = memory
        self.heaps: tuple[Heap, ...] = tuple(Heap(spec) for spec in LAYOUT)
        self.by_name: dict[str, Heap] = {h.spec.name: h for h in self.heaps}
        #: The heap by an address's top byte (heaps start and end on 16 MiB boundaries,
        #: but for the E0 view's end at 0xFFD00000, which heap_at checks).
        self._by_top: list[Heap | None] = [
            next((h for h in self.heaps if h.contains(top << 24)), None) for top in range(256)
        ]
        self.pool = Heap(PHYSICAL_POOL)
        self.usage = Usage()
        # Canary's start-up reservations: the first 64 KiB (null pointers fault) and the
        # last 64 KiB of physical memory.
        guard = new_allocation(0, CHUNK // (4 * KIB), 4 * KIB, PAGE_NOACCESS, True, "reserved")
        guard.backed = False
        self.heaps[0].insert(guard)
        self.pool.insert(new_allocation(0x1FFF0000, 16, 4 * KIB, PAGE_NOACCESS, False, "reserved"))

    # -- lookup ------------------------------------------------------------------------------

    def heap_at(self, address: int) -> Heap | None:
        """The heap ``address`` belongs to (None for 0x7F000000-0x7FFFFFFF and 0xFFD00000 up)."""
        heap = self._by_top[(address >> 24) & 0xFF]
        if heap is None or address >= heap.spec.end or address < 0:
            return None
        return heap

    def heap_for(self, physical: bool, page_size: int) -> Heap:
        """The heap an allocation of ``page_size`` pages comes from (canary's choice)."""
        if physical:
            name = "vE0000000" if page_size <= 4 * KIB else "vA0000000"
            if page_size > 64 * KIB:
                name = "vC0000000"
        else:
            name = "v00000000" if page_size <= 4 * KIB else "v40000000"
        return self.by_name[name]

    def physical_address(self, heap: Heap, address: int) -> int:
        """The physical address of a physical view's ``address``."""
        return address - heap.spec.base + heap.spec.physical_base

    # -- allocating --------------------------------------------------------------------------

    def allocate(
        self,
        heap: Heap,
        size: int,
        alignment: int,
        protect: int,
        *,
        commit: bool,
        low: int,
        high: int,
        top_down: bool = False,
        owner: str = "guest",
    ) -> Allocation | None:
        """Reserve (and commit) ``size`` bytes somewhere free in ``[low, high]``, or None."""
        size = align_up(size, heap.page_size)
        if size <= 0:
            return None
        if heap.spec.kind is HeapKind.PHYSICAL:
            return self._allocate_physical(
                heap, size, alignment, protect, commit, low, high, top_down, owner
            )
        base = heap.find_free(low, high, size, alignment, top_down)
        if base is None:
            return None
        return self.place(heap, base, size, protect, commit=commit, owner=owner)

    def _allocate_physical(
        self,
        heap: Heap,
        size: int,
        alignment: int,
        protect: int,
        commit: bool,
        low: int,
        high: int,
        top_down: bool,
        owner: str,
    ) -> Allocation | None:
        spec = heap.spec
        low, high = max(low, spec.base), min(high, spec.end - 1)
        if low > high:
            return None
        phys = self.pool.find_free(
            self.physical_address(heap, low),
            self.physical_address(heap, high),
            size,
            max(alignment, heap.page_size),
            top_down,
        )
        if phys is None:
            return None
        return self.place(
            heap, phys - spec.physical_base + spec.base, size, protect, commit=commit, owner=owner
        )

    def place(
        self, heap: Heap, base: int, size: int, protect: int, *, commit: bool, owner: str = "guest"
    ) -> Allocation | None:
        """A new allocation exactly at ``base`` if the whole range is free there, else None."""
        size = align_up(size, heap.page_size)
        if (
            size <= 0
            or base % heap.page_size
            or base < heap.spec.base
            or base + size > heap.spec.end
        ):
            return None
        if heap.overlapping(base, base + size):
            return None
        physical = -1
        if heap.spec.kind is HeapKind.PHYSICAL:
            physical = self.physical_address(heap, base)
            if physical < 0 or self.pool.overlapping(physical, physical + size):
                return None
        alloc = new_allocation(base, size // heap.page_size, heap.page_size, protect, commit, owner)
        alloc.physical = physical
        heap.insert(alloc)
        if physical >= 0:
            self.pool.insert(
                new_allocation(physical, size // (4 * KIB), 4 * KIB, protect, True, owner)
            )
        if commit:
            self._count(heap, alloc, size)
            self._sync(base, base + size)
        return alloc

    def carve(self, heap: Heap, low: int, high: int) -> None:
        """Take the pages of ``[low, high)`` out of whatever allocations hold them.

        Canary's fixed-address commit re-bases the pages it touches into a new
        region; the allocations they came from keep only their other pages.
        """
        for alloc in heap.overlapping(low, high):
            self._detach(heap, alloc)
            ps = alloc.page_size
            for lo, hi in ((alloc.base, low), (high, alloc.end)):
                if hi <= lo or lo < alloc.base or hi > alloc.end:
                    continue
                i, j = alloc.page_index(lo), alloc.page_index(hi)
                part = Allocation(
                    lo,
                    ps,
                    alloc.allocation_protect,
                    alloc.committed[i:j],
                    alloc.protect[i:j],
                    alloc.owner,
                    -1 if alloc.physical < 0 else alloc.physical + (lo - alloc.base),
                    alloc.backed,
                )
                self._attach(heap, part)
        # No sync: the caller places the new region at once, and pages it keeps
        # committed keep their bytes.

    def commit(self, heap: Heap, alloc: Allocation, low: int, high: int, protect: int) -> int:
        """Commit the pages of ``[low, high)`` in ``alloc``; returns how many bytes were new."""
        i, j = alloc.page_index(low), alloc.page_index(high)
        fresh = alloc.committed.count(0, i, j) * alloc.page_size
        alloc.committed[i:j] = b"\x01" * (j - i)
        alloc.protect[i:j] = array("I", [protect]) * (j - i)
        self._count(heap, alloc, fresh)
        self._sync(low, high)
        return fresh

    def decommit(self, heap: Heap, low: int, high: int) -> None:
        """Every committed page of ``[low, high)`` goes back to reserved."""
        for alloc in heap.overlapping(low, high):
            i = alloc.page_index(max(low, alloc.base))
            j = alloc.page_index(min(high, alloc.end))
            self._count(heap, alloc, -alloc.committed.count(1, i, j) * alloc.page_size)
            alloc.committed[i:j] = bytes(j - i)
        self._sync(low, high)
        self._scrub(low, high)

    def release(self, heap: Heap, alloc: Allocation) -> None:
        """Free a whole allocation (and its physical pages)."""
        self._detach(heap, alloc)
        self._sync(alloc.base, alloc.end)
        self._scrub(alloc.base, alloc.end)

    def set_protect(self, alloc: Allocation, low: int, high: int, protect: int) -> int:
        """Set the protection of ``[low, high)`` in ``alloc``; returns the first page's old one."""
        i, j = alloc.page_index(low), alloc.page_index(high)
        old = alloc.protect[i]
        alloc.protect[i:j] = array("I", [protect]) * (j - i)
        self._memory.protection_changed(low, high)
        return old

    def _attach(self, heap: Heap, alloc: Allocation) -> None:
        heap.insert(alloc)
        if alloc.physical >= 0:
            self.pool.insert(
                new_allocation(
                    alloc.physical,
                    alloc.size // (4 * KIB),
                    4 * KIB,
                    alloc.allocation_protect,
                    True,
                    alloc.owner,
                )
            )
        self._count(heap, alloc, alloc.committed_bytes())

    def _detach(self, heap: Heap, alloc: Allocation) -> None:
        heap.remove(alloc)
        if alloc.physical >= 0:
            phys = self.pool.at(alloc.physical)
            if phys is not None:
                self.pool.remove(phys)
        self._count(heap, alloc, -alloc.committed_bytes())

    def _count(self, heap: Heap, alloc: Allocation, delta: int) -> None:
        usage = self.usage
        kind = heap.spec.kind
        if kind is HeapKind.VIRTUAL:
            usage.virtual += delta
        elif kind is HeapKind.PHYSICAL:
            usage.physical += delta
        else:
            usage.image += delta
        usage.by_owner[alloc.owner] = usage.by_owner.get(alloc.owner, 0) + delta

    # -- kernel arenas and fixed mappings ----------------------------------------------------

    def claim(self, low: int, limit: int, size: int, owner: str) -> int | None:
        """A committed read/write run of ``size`` bytes at or above ``low`` (below ``limit``).

        The kernel's bump arenas grow through this, so the chunks they take show
        in the guest's map and no guest allocation lands on them.
        """
        heap = self.heap_at(low)
        if heap is None:
            return None
        alloc = self.allocate(
            heap, size, CHUNK, PAGE_READWRITE, commit=True, low=low, high=limit - 1, owner=owner
        )
        return None if alloc is None else alloc.base

    def note_mapped(self, start: int, end: int, owner: str) -> None:
        """Record a range the kernel mapped itself (an image, its data) as committed."""
        heap = self.heap_at(start)
        if heap is None or end > heap.spec.end or heap.overlapping(start, end):
            return
        page = heap.page_size
        alloc = new_allocation(start, (end - start) // page, page, PAGE_READWRITE, True, owner)
        if heap.spec.kind is HeapKind.PHYSICAL:
            alloc.physical = self.physical_address(heap, start)
            if self.pool.overlapping(alloc.physical, alloc.physical + alloc.size):
                return
            self.pool.insert(
                new_allocation(
                    alloc.physical, alloc.size // (4 * KIB), 4 * KIB, PAGE_READWRITE, True, owner
                )
            )
        heap.insert(alloc)
        self._count(heap, alloc, alloc.size)

    # -- consistency -------------------------------------------------------------------------

    def check_invariants(self) -> None:
        """Raise AssertionError if the bookkeeping contradicts itself (tests call this).

        Allocations lie inside their heap, page-aligned, sorted and apart; every
        physical-view allocation owns its pages in the pool; the usage counters
        are the committed pages; every committed, backed page is mapped and every
        region mapped for commits still holds a committed page.
        """
        usage = Usage()
        for heap in (*self.heaps, self.pool):
            end = heap.spec.base
            covered = heap.spec.base
            for alloc in heap:
                assert alloc.base >= end and alloc.end <= heap.spec.end, (
                    heap.spec.name,
                    alloc.base,
                )
                assert alloc.base % heap.page_size == 0 and alloc.pages > 0
                assert len(alloc.protect) == alloc.pages
                if alloc.base == covered:
                    covered = alloc.end
                end = alloc.end
                if heap is self.pool:
                    continue
                if heap.spec.kind is HeapKind.PHYSICAL:
                    phys = self.pool.at(alloc.physical)
                    assert phys is not None and phys.base == alloc.physical
                    assert phys.size == alloc.size
                committed = alloc.committed_bytes() if alloc.backed else 0  # the guard: no RAM
                kind = heap.spec.kind
                if kind is HeapKind.VIRTUAL:
                    usage.virtual += committed
                elif kind is HeapKind.PHYSICAL:
                    usage.physical += committed
                else:
                    usage.image += committed
                if alloc.backed:
                    for i in range(alloc.pages):
                        if alloc.committed[i]:
                            assert self._memory.is_mapped(alloc.base + i * alloc.page_size)
            assert heap._low_free <= covered, (heap.spec.name, heap._low_free, covered)
        assert (usage.virtual, usage.physical, usage.image) == (
            self.usage.virtual,
            self.usage.physical,
            self.usage.image,
        )
        for region in self._memory.regions:
            if region.managed:
                assert self._needs_backing(region.base, region.end), hex(region.base)

    # -- queries -----------------------------------------------------------------------------

    def query(self, heap: Heap, address: int) -> RegionInfo:
        """The run of pages from ``address``'s page that share its state and protection."""
        page = heap.page_size
        start = align_down(address, page)
        alloc = heap.at(start)
        if alloc is None:
            end = heap.next_base_after(start)
            return RegionInfo(address, 0, 0, end - start, MEM_FREE, 0, 0)
        i = alloc.page_index(start)
        state, protect = alloc.committed[i], alloc.protect[i]
        j = i + 1
        while j < alloc.pages and alloc.committed[j] == state and alloc.protect[j] == protect:
            j += 1
        return RegionInfo(
            address,
            alloc.base,
            alloc.allocation_protect,
            (j - i) * page,
            MEM_COMMIT if state else MEM_RESERVE,
            protect,
            alloc.size,
        )

    def page_protect(self, address: int) -> tuple[Allocation, int] | None:
        """The allocation holding ``address`` and that page's protection (None when free)."""
        heap = self.heap_at(address)
        alloc = None if heap is None else heap.at(address)
        if alloc is None:
            return None
        return alloc, alloc.protect[alloc.page_index(address)]

    def cpu_access_of(self, address: int) -> int:
        """What the CPU may do at ``address``: committed pages by protection, else nothing."""
        heap = self.heap_at(address)
        alloc = None if heap is None else heap.at(address)
        if alloc is None or not alloc.backed:
            return ACCESS_NONE
        i = alloc.page_index(address)
        return cpu_access(alloc.protect[i]) if alloc.committed[i] else ACCESS_NONE

    def _scrub(self, low: int, high: int) -> None:
        """Zero what is still mapped of ``[low, high)`` after its pages stopped being committed.

        A mapped page that is not committed always holds zeros, so a later commit
        never needs to clear it (and fresh backing is never touched to be cleared).
        """
        mem = self._memory
        for chunk in range(align_down(low, CHUNK), high, CHUNK):
            if mem.is_mapped(chunk):
                lo, hi = max(low, chunk), min(high, chunk + CHUNK)
                mem.fill(lo, hi - lo)

    def _needs_backing(self, low: int, high: int) -> bool:
        heap = self.heap_at(low)
        if heap is None:
            return False
        for alloc in heap.overlapping(low, high):
            if not alloc.backed:
                continue
            i = alloc.page_index(max(low, alloc.base))
            j = alloc.page_index(min(high, alloc.end) + alloc.page_size - 1)
            if alloc.committed.find(1, i, j) >= 0:
                return True
        return False

    def _sync(self, low: int, high: int) -> None:
        """Map backing for committed chunks of ``[low, high)`` and unmap chunks left empty."""
        mem = self._memory
        first = align_down(low, CHUNK)
        last = align_up(high, CHUNK)
        run_start = -1
        for chunk in range(first, last + CHUNK, CHUNK):
            want = chunk < last and self._needs_backing(chunk, chunk + CHUNK)
            mapped = chunk < last and mem.is_mapped(chunk)
            if want and not mapped:
                if run_start < 0:
                    run_start = chunk
                continue
            if run_start >= 0:
                mem.map_backing(run_start, chunk - run_start)
                run_start = -1
            if mapped and not want:
                mem.unmap_backing(chunk, lambda lo, hi: self._needs_backing(lo, hi))
        mem.protection_changed(first, last)
