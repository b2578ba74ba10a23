"""Mm*: physical memory, address queries, kernel stacks, and the image page-table entry.

Physical allocations come from the three physical views over one 512 MiB
pool (x360k/address_space.py). These exports return plain values, not
statuses: an address, a size, a protection, or 0 when the answer is "none".
Where canary dereferences a heap it did not find (an address in no heap),
both profiles answer 0 or do nothing instead of crashing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.address_space import AddressSpace
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.exports.virtual_memory import fits_in_ram, protect_value, space
from x360k.heaps import (
    CHUNK,
    MEM_16MB_PAGES,
    MEM_LARGE_PAGES,
    MIB,
    PAGE_EXECUTE_READ,
    PAGE_EXECUTE_READWRITE,
    PAGE_NOACCESS,
    PAGE_READONLY,
    PAGE_READWRITE,
    PROTECTED_OWNERS,
    STACK_HIGH,
    STACK_LOW,
    Allocation,
    Heap,
    HeapKind,
    align_down,
    align_up,
    cpu_access,
)
from x360k.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("physical memory")

#: MM_STATISTICS: Length, TotalPhysicalPages, KernelPages, the title's and the
#: system's 11-ULONG sections, HighestPhysicalPage.
STATISTICS_SIZE: Final = 104
TOTAL_PHYSICAL_PAGES: Final = 0x20000  # 512 MiB in 4 KiB pages
KERNEL_PAGES: Final = 0x100
_ONE_ACCESS: Final = (
    PAGE_NOACCESS | PAGE_READONLY | PAGE_READWRITE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE
)


def allocation_at_base(sp: AddressSpace, address: int) -> tuple[Heap, Allocation] | None:
    """The allocation whose first page holds ``address``, if a guest may free it."""
    heap = sp.heap_at(address)
    alloc = None if heap is None else heap.at(address)
    if heap is None or alloc is None or alloc.owner in PROTECTED_OWNERS:
        return None
    if alloc.base != align_down(address, heap.page_size):
        return None
    return heap, alloc


def allocate_physical(
    k: KernelState, size: int, protect: int, low: int, high: int, alignment: int
) -> int:
    """MmAllocatePhysicalMemoryEx's work: a committed top-down range in a physical view, or 0.

    The protection's page-size bits pick the view (4 KiB, 64 KiB with
    MEM_LARGE_PAGES, 16 MiB with MEM_16MB_PAGES); ``low`` and ``high`` bound the
    *physical* address.
    """
    if not protect & (PAGE_READONLY | PAGE_READWRITE):
        return 0
    page = 0x1000
    if protect & MEM_LARGE_PAGES:
        page = CHUNK
    elif protect & MEM_16MB_PAGES:
        page = 16 * MIB
    size = align_up(size, page)
    alignment = align_up(alignment, page) or page
    if size == 0 or not fits_in_ram(k, size):
        return 0
    sp = space(k)
    heap = sp.heap_for(True, page)
    spec = heap.spec
    low_off = max(low - spec.physical_base, 0)
    high_off = max(high - spec.physical_base, 0)
    alloc = sp.allocate(
        heap,
        size,
        alignment,
        protect_value(k, protect & 0x7FF),
        commit=True,
        low=spec.base + min(low_off, spec.size - 1),
        high=spec.base + min(high_off, spec.size - 1),
        top_down=True,
    )
    return 0 if alloc is None else alloc.base


def allocate_system_physical(k: KernelState, size: int, alignment: int) -> int:
    """Zeroed physical memory for the kernel's own use (XMA contexts, display blocks), or 0.

    Canary's physical system-heap allocation: the 4 KiB view (0xE0000000),
    top-down, committed read/write. It stays the kernel's: no guest free takes it.
    """
    if size <= 0 or not fits_in_ram(k, align_up(size, 0x1000)):
        return 0
    sp = space(k)
    heap = sp.heap_for(True, 0x1000)
    spec = heap.spec
    alloc = sp.allocate(
        heap,
        size,
        max(alignment, 0x1000),
        PAGE_READWRITE,
        commit=True,
        low=spec.base,
        high=spec.end - 1,
        top_down=True,
        owner="kernel",
    )
    return 0 if alloc is None else alloc.base


@GROUP.export(
    "MmAllocatePhysicalMemoryEx",
    0xBA,
    Param("flags", K.U32),
    Param("region_size", K.U32),
    Param("protect", K.U32),
    Param("min_address", K.U32),
    Param("max_address", K.U32),
    Param("alignment", K.U32),
    returns=Returns.VALUE,
)
def mm_allocate_physical_memory_ex(
    k: KernelState, t: Thread, flags: int, size: int, protect: int, low: int, high: int, align: int
) -> int:
    """Commit physical memory between two physical addresses; its view address, or 0."""
    return allocate_physical(k, size, protect, low, high, align)


@GROUP.export(
    "MmAllocatePhysicalMemory",
    0xB9,
    Param("flags", K.U32),
    Param("region_size", K.U32),
    Param("protect", K.U32),
    returns=Returns.VALUE,
)
def mm_allocate_physical_memory(
    k: KernelState, t: Thread, flags: int, size: int, protect: int
) -> int:
    """Commit physical memory anywhere; its view address, or 0."""
    return allocate_physical(k, size, protect, 0, 0xFFFFFFFF, 0)


@GROUP.export(
    "MmFreePhysicalMemory",
    0xBD,
    Param("type", K.U32),
    Param("base_address", K.U32),
    returns=Returns.VOID,
)
def mm_free_physical_memory(k: KernelState, t: Thread, kind: int, base: int) -> int:
    """Release the allocation that starts at ``base`` (canary releases it from any heap)."""
    sp = space(k)
    found = allocation_at_base(sp, base)
    if found is not None:
        sp.release(*found)
    return 0


@GROUP.export("MmGetPhysicalAddress", 0xBE, Param("base_address", K.U32), returns=Returns.VALUE)
def mm_get_physical_address(k: KernelState, t: Thread, address: int) -> int:
    """The physical address behind a physical view's address (0 for any other address)."""
    sp = space(k)
    heap = sp.heap_at(address)
    if heap is None or heap.spec.kind is not HeapKind.PHYSICAL:
        return 0
    return sp.physical_address(heap, address)


@GROUP.export(
    "MmMapIoSpace",
    0xC2,
    Param("unknown", K.U32),
    Param("source_address", K.U32),
    Param("size", K.U32),
    Param("flags", K.U32),
    returns=Returns.VALUE,
)
def mm_map_io_space(
    k: KernelState, t: Thread, unknown: int, source: int, size: int, flags: int
) -> int:
    """The address itself: canary hands back the physical address it was given (XMA contexts)."""
    return source


def _page_protection(k: KernelState, address: int) -> int:
    """The protection a page reads back with (0 for free, and for uncommitted on the console)."""
    found = space(k).page_protect(address)
    if found is None:
        return 0
    alloc, protect = found
    committed = alloc.committed[alloc.page_index(address)]
    if not committed and not k.quirks.reserved_pages_report_protection:
        return 0
    return protect


@GROUP.export("MmIsAddressValid", 0xBF, Param("address", K.U32), returns=Returns.VALUE)
def mm_is_address_valid(k: KernelState, t: Thread, address: int) -> int:
    """1 when the page at ``address`` may be read, else 0."""
    return 1 if cpu_access(_page_protection(k, address)) else 0


@GROUP.export("MmQueryAddressProtect", 0xC4, Param("address", K.U32), returns=Returns.VALUE)
def mm_query_address_protect(k: KernelState, t: Thread, address: int) -> int:
    """The PAGE_* protection of the page at ``address`` (0 when it has none)."""
    protect = _page_protection(k, address)
    if k.quirks.protect_reported_normalized and protect & PAGE_NOACCESS:
        return 0  # canary: no access converts to 0
    return protect


@GROUP.export(
    "MmSetAddressProtect",
    0xC7,
    Param("base_address", K.U32),
    Param("region_size", K.U32),
    Param("protect", K.U32),
    returns=Returns.VOID,
)
def mm_set_address_protect(k: KernelState, t: Thread, base: int, size: int, protect: int) -> int:
    """Set the protection of committed pages; a request it cannot honour does nothing.

    Exactly one access bit must be set; image pages keep theirs (canary found
    a title that wrote over its own code otherwise).
    """
    if (protect & _ONE_ACCESS).bit_count() != 1 or size == 0:
        return 0
    sp = space(k)
    heap = sp.heap_at(base)
    if heap is None or heap.spec.kind is HeapKind.IMAGE:
        return 0
    page = heap.page_size
    start, end = align_down(base, page), align_up(base + size, page)
    holders = heap.overlapping(start, end)
    if len(holders) != 1 or holders[0].owner == "reserved":
        return 0
    alloc = holders[0]
    if alloc.base > start or end > alloc.end:
        return 0
    if alloc.committed.count(0, alloc.page_index(start), alloc.page_index(end)):
        return 0
    sp.set_protect(alloc, start, end, protect_value(k, protect))
    return 0


@GROUP.export("MmQueryAllocationSize", 0xC5, Param("base_address", K.U32), returns=Returns.VALUE)
def mm_query_allocation_size(k: KernelState, t: Thread, address: int) -> int:
    """The size of the whole allocation holding ``address`` (0 when it is free)."""
    found = space(k).page_protect(address)
    return 0 if found is None else found[0].size


@GROUP.export("MmQueryStatistics", 0xC6, Param("statistics", K.PTR))
def mm_query_statistics(k: KernelState, t: Thread, stats: int) -> int:
    """Fill an MM_STATISTICS whose Length the caller set to 104.

    The per-kind page counts are canary's constants; the used pages come from
    the map (physical allocations under canary, every commit on the console).
    """
    if stats == 0:
        return STATUS_INVALID_PARAMETER
    mem = k.memory
    mem.require(stats, STATISTICS_SIZE)
    if mem.read_u32(stats) != STATISTICS_SIZE:
        return STATUS_BUFFER_TOO_SMALL
    sp = space(k)
    usage = sp.usage
    counted = usage.physical if k.quirks.virtual_commit_beyond_physical else usage.total
    used = min(counted // 0x1000, TOTAL_PHYSICAL_PAGES - KERNEL_PAGES)
    kinds: tuple[HeapKind, ...] = (HeapKind.PHYSICAL,)
    if not k.quirks.virtual_commit_beyond_physical:
        kinds = (HeapKind.PHYSICAL, HeapKind.VIRTUAL)
    reserved = sum(a.size for h in sp.heaps if h.spec.kind in kinds for a in h)
    title = (
        TOTAL_PHYSICAL_PAGES - KERNEL_PAGES - used,
        0x2FFE0000,
        reserved & 0xFFFFFFFF,
        0x1000,
        0x10,
        0x100,
        0x100,
        0x100,
        0x100,
        0x100,
        0x100,
    )
    words = (STATISTICS_SIZE, TOTAL_PHYSICAL_PAGES, KERNEL_PAGES, *title, *([0] * 11), 0x1FFFF)
    mem.write_bytes(stats, b"".join(w.to_bytes(4, "big") for w in words))
    return STATUS_SUCCESS


@GROUP.export(
    "MmCreateKernelStack",
    0xBB,
    Param("stack_size", K.U32),
    Param("unknown", K.U32),
    returns=Returns.VALUE,
)
def mm_create_kernel_stack(k: KernelState, t: Thread, size: int, unknown: int) -> int:
    """Commit a stack in 0x70000000-0x7F000000; returns its top (base + size)."""
    aligned = align_up(size, 0x1000)
    alignment = 0x1000 if size & 0xF000 else CHUNK
    sp = space(k)
    heap = sp.by_name["v40000000"]
    alloc = None
    if aligned and fits_in_ram(k, align_up(aligned, CHUNK)):
        alloc = sp.allocate(
            heap,
            aligned,
            alignment,
            PAGE_READWRITE,
            commit=True,
            low=STACK_LOW,
            high=STACK_HIGH,
            owner="stack",
        )
    if alloc is None:
        return size if k.quirks.kernel_stack_failure_returns_size else 0
    return (alloc.base + size) & 0xFFFFFFFF


@GROUP.export(
    "MmDeleteKernelStack",
    0xBC,
    Param("stack_base", K.U32),
    Param("stack_end", K.U32),
)
def mm_delete_kernel_stack(k: KernelState, t: Thread, stack_base: int, stack_end: int) -> int:
    """Release the stack whose low end is ``stack_end``."""
    sp = space(k)
    heap = sp.by_name["v40000000"]
    found = allocation_at_base(sp, stack_end) if heap.contains(stack_end) else None
    if found is None:
        return STATUS_UNSUCCESSFUL
    sp.release(*found)
    return STATUS_SUCCESS


@GROUP.export("KeGetImagePageTableEntry", 0x2A4, Param("address", K.U32), returns=Returns.VALUE)
def ke_get_image_page_table_entry(k: KernelState, t: Thread, address: int) -> int:
    """Canary's stand-in for the hypervisor's answer: the image page's index, tagged.

    The page number within the image heap, with 0x40000000 set for 4 KiB
    pages, masked to 0x400FFFFF; 0 outside the image heaps.
    """
    heap = space(k).heap_at(address)
    if heap is None or heap.spec.kind is not HeapKind.IMAGE:
        return 0
    value = (address - heap.spec.base) // heap.page_size
    if heap.page_size < CHUNK:
        value |= 0x40000000
    return value & 0x400FFFFF
