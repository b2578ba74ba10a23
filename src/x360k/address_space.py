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

import enum
from array import array
from bisect import bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from x360k.memory import GuestMemory

# -- the console's constants ---------------------------------------------------------------------

MEM_COMMIT: Final = 0x00001000
MEM_RESERVE: Final = 0x00002000
MEM_DECOMMIT: Final = 0x00004000
MEM_RELEASE: Final = 0x00008000
MEM_FREE: Final = 0x00010000
MEM_PRIVATE: Final = 0x00020000
MEM_RESET: Final = 0x00080000
MEM_TOP_DOWN: Final = 0x00100000
MEM_NOZERO: Final = 0x00800000
MEM_LARGE_PAGES: Final = 0x20000000
MEM_16MB_PAGES: Final = 0x80000000

PAGE_NOACCESS: Final = 0x001
PAGE_READONLY: Final = 0x002
PAGE_READWRITE: Final = 0x004
PAGE_WRITECOPY: Final = 0x008
PAGE_EXECUTE: Final = 0x010
PAGE_EXECUTE_READ: Final = 0x020
PAGE_EXECUTE_READWRITE: Final = 0x040
PAGE_EXECUTE_WRITECOPY: Final = 0x080
PAGE_GUARD: Final = 0x100
PAGE_NOCACHE: Final = 0x200
PAGE_WRITECOMBINE: Final = 0x400
PAGE_EXECUTE_ANY: Final = (
    PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY
)

KIB: Final = 1024
MIB: Final = 1024 * KIB
#: The console's RAM: every committed page, virtual or physical, is one of these.
PHYSICAL_BYTES: Final = 512 * MIB
#: Backing is mapped in chunks of this size (GuestMemory's page).
CHUNK: Final = 64 * KIB

#: CPU access bits (unicorn's UC_PROT_*): read 1, write 2, execute 4.
ACCESS_NONE: Final = 0
ACCESS_READ: Final = 5
ACCESS_WRITE: Final = 7


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def align_down(value: int, alignment: int) -> int:
    return value // alignment * alignment


def normalize_protect(protect: int) -> int:
    """The protection as canary keeps it: no, read or read/write access, plus the cache bits.

    Canary turns a PAGE_* value into host access bits and back, so PAGE_EXECUTE_READ
    reads back as PAGE_READONLY, PAGE_EXECUTE_READWRITE as PAGE_READWRITE and
    PAGE_WRITECOPY or PAGE_EXECUTE as PAGE_NOACCESS.
    """
    if protect & (PAGE_READONLY | PAGE_EXECUTE_READ):
        value = PAGE_READONLY
    elif protect & (PAGE_READWRITE | PAGE_EXECUTE_READWRITE):
        value = PAGE_READWRITE
    else:
        value = PAGE_NOACCESS
    return value | (protect & (PAGE_NOCACHE | PAGE_WRITECOMBINE))


def cpu_access(protect: int) -> int:
    """The CPU access a page with ``protect`` allows (guard pages: none)."""
    if protect & PAGE_GUARD:
        return ACCESS_NONE
    if protect & (
        PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY
    ):
        return ACCESS_WRITE
    if protect & (PAGE_READONLY | PAGE_EXECUTE_READ | PAGE_EXECUTE):
        return ACCESS_READ
    return ACCESS_NONE


# -- the layout ----------------------------------------------------------------------------------


class HeapKind(enum.StrEnum):
    VIRTUAL = "virtual"  # the title's NtAllocateVirtualMemory ranges
    IMAGE = "image"  # executables (XEX) and the kernel's data
    PHYSICAL = "physical"  # views of the 512 MiB physical memory


@dataclass(frozen=True, slots=True)
class HeapSpec:
    """One fixed heap of the guest range, with the windows canary's allocator searches."""

    name: str
    base: int
    size: int
    page_size: int
    kind: HeapKind
    #: Where an allocation without a base address goes: [alloc_low, alloc_high] (inclusive).
    alloc_low: int
    alloc_high: int
    #: Where the kernel's own pool allocations go (canary's system heap).
    system_low: int
    #: Physical address of ``base`` for a physical view (-1 otherwise).
    physical_base: int = -1

    @property
    def end(self) -> int:
        return self.base + self.size


def _virtual(name: str, base: int, size: int, page: int, reserve_top: int) -> HeapSpec:
    return HeapSpec(
        name,
        base,
        size,
        page,
        HeapKind.VIRTUAL,
        base,
        base + size - 1 - reserve_top,
        base + size - 0x10000000,
    )


def _image(name: str, base: int, page: int) -> HeapSpec:
    return HeapSpec(name, base, 0x10000000, page, HeapKind.IMAGE, base, base + 0x0FFFFFFF, base)


def _view(name: str, base: int, size: int, page: int, physical: int) -> HeapSpec:
    return HeapSpec(
        name, base, size, page, HeapKind.PHYSICAL, base, base + size - 1, base, physical
    )


#: The guest's heaps. The top 256 MiB (240 MiB for the 64 KiB heap) of each virtual heap
#: is kept from NtAllocateVirtualMemory: 0x30000000 holds the kernel's pool, 0x70000000
#: kernel stacks. 0x7F000000-0x7FFFFFFF and 0xFFD00000 up belong to no heap.
LAYOUT: Final[tuple[HeapSpec, ...]] = (
    _virtual("v00000000", 0x00000000, 0x40000000, 4 * KIB, 0x10000000),
    _virtual("v40000000", 0x40000000, 0x3F000000, 64 * KIB, 0x0F000000),
    _image("v80000000", 0x80000000, 64 * KIB),
    _image("v90000000", 0x90000000, 4 * KIB),
    _view("vA0000000", 0xA0000000, 0x20000000, 64 * KIB, 0x00000000),
    _view("vC0000000", 0xC0000000, 0x20000000, 16 * MIB, 0x00000000),
    _view("vE0000000", 0xE0000000, 0x1FD00000, 4 * KIB, 0x00001000),
)
PHYSICAL_POOL: Final = HeapSpec(
    "physical", 0, PHYSICAL_BYTES, 4 * KIB, HeapKind.PHYSICAL, 0, PHYSICAL_BYTES - 1, 0
)
#: Kernel stacks (MmCreateKernelStack): inside the 64 KiB heap, above its allocation window.
STACK_LOW: Final = 0x70000000
STACK_HIGH: Final = 0x7F000000
#: NtAllocateEncryptedMemory's range, inside the 64 KiB image heap.
ENCRYPTED_LOW: Final = 0x8C000000
ENCRYPTED_HIGH: Final = 0x8FFFFFFF

#: Owners whose allocations a guest free never releases (the kernel's arenas, loaded
#: images, the guard page at 0): the guest sees them but cannot pull them from the kernel.
PROTECTED_OWNERS: Final = frozenset({"kernel", "image", "reserved"})


# -- records -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Allocation:
    """One reservation: ``pages`` pages from ``base``, each reserved or committed."""

    base: int
    page_size: int
    allocation_protect: int
    committed: bytearray
    protect: array[int]
    owner: str = "guest"
    #: The physical address of ``base`` for a physical view's allocation (-1 otherwise).
    physical: int = -1
    #: False for a guard reservation that must stay unmapped even though it reads as committed.
    backed: bool = True

    @property
    def pages(self) -> int:
        return len(self.committed)

    @property
    def size(self) -> int:
        return len(self.committed) * self.page_size

    @property
    def end(self) -> int:
        return self.base + len(self.committed) * self.page_size

    def page_index(self, address: int) -> int:
        return (address - self.base) // self.page_size

    def committed_bytes(self) -> int:
        return self.committed.count(1) * self.page_size


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """What NtQueryVirtualMemory reports for an address: the run of alike pages it starts."""

    base_address: int
    allocation_base: int
    allocation_protect: int
    region_size: int
    state: int  # MEM_COMMIT, MEM_RESERVE or MEM_FREE
    protect: int
    allocation_size: int


def new_allocation(
    base: int, pages: int, page_size: int, protect: int, commit: bool, owner: str
) -> Allocation:
    return Allocation(
        base,
        page_size,
        protect,
        bytearray([1 if commit else 0]) * pages,
        array("I", [protect]) * pages,
        owner,
    )


# -- one heap ------------------------------------------------------------------------------------


class Heap:
    """The allocations of one heap, sorted by base, with canary's first-fit search."""

    def __init__(self, spec: HeapSpec) -> None:
        self.spec = spec
        self.page_size = spec.page_size
        self._bases: list[int] = []
        self._allocs: dict[int, Allocation] = {}
        #: Everything in [spec.base, _low_free) is allocated: bottom-up searches start there.
        self._low_free = spec.base

    def __iter__(self) -> Iterator[Allocation]:
        return (self._allocs[b] for b in self._bases)

    def __len__(self) -> int:
        return len(self._bases)

    def contains(self, address: int) -> bool:
        return self.spec.base <= address < self.spec.end

    def at(self, address: int) -> Allocation | None:
        """The allocation holding ``address``, if any."""
        i = bisect_right(self._bases, address) - 1
        if i < 0:
            return None
        alloc = self._allocs[self._bases[i]]
        return alloc if address < alloc.end else None

    def overlapping(self, low: int, high: int) -> list[Allocation]:
        """Allocations with a page in ``[low, high)``, in address order."""
        i = max(bisect_right(self._bases, low) - 1, 0)
        found: list[Allocation] = []
        while i < len(self._bases) and self._bases[i] < high:
            alloc = self._allocs[self._bases[i]]
            if alloc.end > low:
                found.append(alloc)
            i += 1
        return found

    def next_base_after(self, address: int) -> int:
        """The base of the first allocation above ``address`` (the heap's end if none)."""
        i = bisect_right(self._bases, address)
        return self._bases[i] if i < len(self._bases) else self.spec.end

    def insert(self, alloc: Allocation) -> None:
        insort(self._bases, alloc.base)
        self._allocs[alloc.base] = alloc
        if alloc.base <= self._low_free < alloc.end:
            self._low_free = alloc.end
            while self._low_free in self._allocs:
                self._low_free = self._allocs[self._low_free].end

    def remove(self, alloc: Allocation) -> None:
        i = bisect_right(self._bases, alloc.base) - 1
        del self._bases[i]
        del self._allocs[alloc.base]
        self._low_free = min(self._low_free, alloc.base)

    def find_free(
        self, low: int, high: int, size: int, alignment: int, top_down: bool
    ) -> int | None:
        """A free, aligned run of ``size`` bytes inside ``[low, high]``, as canary searches.

        Canary scans pages up from ``low`` (or down from ``high``) at the alignment's
        stride and stops one aligned step short of ``high``; so does this.
        """
        spec = self.spec
        alignment = align_up(max(alignment, self.page_size), self.page_size)
        size = align_up(size, self.page_size)
        if size <= 0 or low > high:
            return None
        low = max(spec.base, align_up(low, alignment))
        high = min(spec.end - 1, align_up(high, alignment))
        # The last usable address (exclusive), at the stride canary scans with.
        limit = spec.base + align_down(high - spec.base, alignment)
        if size > limit - low:
            return None
        if top_down:
            return self._find_down(low, limit, size, alignment)
        return self._find_up(low, limit, size, alignment)

    def _find_up(self, low: int, limit: int, size: int, alignment: int) -> int | None:
        bases, allocs = self._bases, self._allocs
        cand = low
        if self._low_free > cand:
            cand = align_up(self._low_free, alignment)
        i = bisect_right(bases, cand) - 1
        if i >= 0 and allocs[bases[i]].end > cand:
            cand = align_up(allocs[bases[i]].end, alignment)
        i += 1
        while cand + size <= limit:
            if i < len(bases) and bases[i] < cand + size:
                cand = max(cand, align_up(allocs[bases[i]].end, alignment))
                i += 1
                continue
            return cand
        return None

    def _find_down(self, low: int, limit: int, size: int, alignment: int) -> int | None:
        bases, allocs = self._bases, self._allocs
        cand = align_down(limit - size, alignment)
        i = bisect_right(bases, cand + size - 1) - 1
        while cand >= low:
            if i >= 0 and allocs[bases[i]].end > cand:
                cand = align_down(bases[i] - size, alignment)
                i -= 1
                continue
            return cand
        return None


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
        for heap in self.heaps:
            if heap.contains(address):
                return heap
        return None

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
