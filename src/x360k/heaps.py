"""The console's address-space facts and one heap's bookkeeping (x360k/address_space.py uses them).

The constants (MEM_*, PAGE_*), the fixed heap layout, the records an
allocation is kept in, and :class:`Heap`: a heap's allocations sorted by base,
searched first-fit the way canary's allocator searches (bottom-up or
top-down at the alignment's stride). Nothing here maps memory.
"""

from __future__ import annotations

import enum
from array import array
from bisect import bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

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
