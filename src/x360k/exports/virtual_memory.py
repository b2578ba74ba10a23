"""Nt* virtual memory: reserve, commit, decommit, release, protect and query guest pages.

The address space (x360k/address_space.py) holds the pages; this module
decides, as canary or the console does, which request succeeds and which
status a refusal gets. Every pointer is checked before anything changes, so
a bad BaseAddress or RegionSize pointer leaves the map as it was and the
guest gets STATUS_ACCESS_VIOLATION (canary's own answer to a pointer into
unmapped memory is a host fault; to a null NtFreeVirtualMemory pointer a
crash: both profiles give the console's status there).

The kernel's own allocations (its arenas, loaded images, the guard page at 0)
show in the map but no guest call frees, decommits or re-bases them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.address_space import AddressSpace
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.heaps import (
    CHUNK,
    ENCRYPTED_HIGH,
    ENCRYPTED_LOW,
    MEM_COMMIT,
    MEM_DECOMMIT,
    MEM_FREE,
    MEM_LARGE_PAGES,
    MEM_PRIVATE,
    MEM_RELEASE,
    MEM_RESERVE,
    MEM_RESET,
    MEM_TOP_DOWN,
    PAGE_EXECUTE_ANY,
    PAGE_NOACCESS,
    PAGE_READWRITE,
    PHYSICAL_BYTES,
    PROTECTED_OWNERS,
    Allocation,
    Heap,
    HeapKind,
    align_down,
    align_up,
    normalize_protect,
)
from x360k.status import (
    STATUS_ACCESS_DENIED,
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

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("virtual memory")

#: MEMORY_BASIC_INFORMATION: seven big-endian ULONGs.
MBI_SIZE: Final = 28
M32: Final = 0xFFFFFFFF


def space(k: KernelState) -> AddressSpace:
    return k.memory.space


def protect_value(k: KernelState, protect: int) -> int:
    """The protection a page keeps (canary folds it to host access first)."""
    if k.quirks.protect_reported_normalized:
        return normalize_protect(protect)
    return protect & 0xFFFF


#: The eight base protections; a valid PAGE_* value has exactly one of them.
_BASE_PROTECTIONS: Final = 0xFF


def protect_invalid(k: KernelState, protect: int) -> bool:
    """Whether the console rejects ``protect`` (canary folds any value into one it keeps)."""
    return (
        not k.quirks.protect_reported_normalized and (protect & _BASE_PROTECTIONS).bit_count() != 1
    )


def fits_in_ram(k: KernelState, extra: int) -> bool:
    """Whether ``extra`` more committed bytes still fit the console's 512 MiB.

    Under canary nothing counts them: a virtual heap's commits are host memory,
    and a physical allocation is bounded only by the physical pool itself.
    """
    if extra <= 0 or k.quirks.virtual_commit_beyond_physical:
        return True
    return space(k).usage.total + extra <= PHYSICAL_BYTES


def _in_out_pointers(k: KernelState, base_ptr: int, size_ptr: int) -> tuple[int, int] | int:
    """The values behind BaseAddress* and RegionSize*, or the status a bad pointer gets."""
    if (base_ptr == 0 or size_ptr == 0) and k.quirks.virtual_null_pointer_invalid_parameter:
        return STATUS_INVALID_PARAMETER
    mem = k.memory
    mem.require(base_ptr, 4)
    mem.require(size_ptr, 4)
    return mem.read_u32(base_ptr), mem.read_u32(size_ptr)


def _write_back(k: KernelState, base_ptr: int, base: int, size_ptr: int, size: int) -> None:
    k.memory.write_u32(base_ptr, base)
    k.memory.write_u32(size_ptr, size)


@GROUP.export(
    "NtAllocateVirtualMemory",
    0xCC,
    Param("base_address", K.OUT_U32),
    Param("region_size", K.OUT_U32),
    Param("allocation_type", K.U32),
    Param("protect", K.U32),
    Param("debug_memory", K.BOOL),
)
def nt_allocate_virtual_memory(
    k: KernelState, t: Thread, base_ptr: int, size_ptr: int, kind: int, protect: int, debug: int
) -> int:
    """Reserve and/or commit pages; writes back the page-rounded base and size.

    With a base address the heap it falls in decides the page size; without
    one, MEM_LARGE_PAGES picks the 64 KiB heap and the size rounds to 64 KiB.
    """
    values = _in_out_pointers(k, base_ptr, size_ptr)
    if isinstance(values, int):
        return values
    base, requested = values
    if requested == 0 or not kind & (MEM_COMMIT | MEM_RESET | MEM_RESERVE):
        return STATUS_INVALID_PARAMETER
    if kind & MEM_RESET and kind & ~MEM_RESET:
        return STATUS_INVALID_PARAMETER
    sp = space(k)
    if base:
        found = sp.heap_at(base)
        if found is None or found.spec.kind is not HeapKind.VIRTUAL:
            return STATUS_INVALID_PARAMETER
        heap = found
    else:
        heap = sp.heap_for(False, CHUNK if kind & MEM_LARGE_PAGES else 0x1000)
    page = heap.page_size
    base = align_down(base, page)
    if requested & 0x80000000:
        if not k.quirks.negative_region_size_negated:
            return STATUS_INVALID_PARAMETER
        requested = -(requested - (1 << 32))
    size = align_up(requested, page if base else CHUNK)
    if kind & MEM_RESET:
        # The pages' contents may be dropped: nothing to do, x360k keeps them.
        alloc = heap.at(base)
        if alloc is None or base + size > alloc.end:
            return STATUS_CONFLICTING_ADDRESSES
        _write_back(k, base_ptr, base, size_ptr, size)
        return STATUS_SUCCESS
    if protect_invalid(k, protect):
        return STATUS_INVALID_PAGE_PROTECTION
    value = protect_value(k, protect)
    if base:
        status = _allocate_fixed(k, heap, base, size, kind, value)
        if status != STATUS_SUCCESS:
            return status
        address = base
    else:
        commit = bool(kind & MEM_COMMIT)
        if commit and not fits_in_ram(k, size):
            return STATUS_NO_MEMORY
        spec = heap.spec
        alloc = sp.allocate(
            heap,
            size,
            page,
            value,
            commit=commit,
            low=spec.alloc_low,
            high=spec.alloc_high,
            top_down=bool(kind & MEM_TOP_DOWN),
        )
        if alloc is None:
            return STATUS_NO_MEMORY
        address = alloc.base
    _write_back(k, base_ptr, address, size_ptr, size)
    return STATUS_SUCCESS


def _allocate_fixed(
    k: KernelState, heap: Heap, base: int, size: int, kind: int, protect: int
) -> int:
    """An allocation at a given page: reserve free pages, commit reserved ones, or overlay."""
    sp = space(k)
    end = base + size
    overlay = k.quirks.fixed_allocation_overlays
    conflict = STATUS_NO_MEMORY if overlay else STATUS_CONFLICTING_ADDRESSES
    if end > heap.spec.end:
        return STATUS_NO_MEMORY
    holders = heap.overlapping(base, end)
    if any(a.owner in PROTECTED_OWNERS for a in holders):
        return conflict
    if not kind & MEM_COMMIT:
        if holders or sp.place(heap, base, size, protect, commit=False) is None:
            return conflict
        return STATUS_SUCCESS
    inside = len(holders) == 1 and holders[0].base <= base and end <= holders[0].end
    if inside and not kind & MEM_RESERVE:
        alloc = holders[0]
        fresh = _uncommitted_bytes(alloc, base, end)
        if not fits_in_ram(k, fresh):
            return STATUS_NO_MEMORY
        sp.commit(heap, alloc, base, end, protect)
        return STATUS_SUCCESS
    if holders and not overlay:
        return STATUS_CONFLICTING_ADDRESSES
    if not kind & MEM_RESERVE and not overlay:
        return STATUS_CONFLICTING_ADDRESSES  # a commit of pages nobody reserved
    held = sum(size - _uncommitted_bytes(a, base, end) for a in holders)
    if not fits_in_ram(k, size - held):
        return STATUS_NO_MEMORY
    sp.carve(heap, base, end)
    if sp.place(heap, base, size, protect, commit=True) is None:
        return STATUS_NO_MEMORY
    return STATUS_SUCCESS


def _uncommitted_bytes(alloc: Allocation, low: int, high: int) -> int:
    """Bytes of ``[low, high)`` that ``alloc`` holds and has not committed (the rest count too)."""
    lo, hi = max(low, alloc.base), min(high, alloc.end)
    outside = (high - low) - max(hi - lo, 0)
    if hi <= lo:
        return high - low
    i, j = alloc.page_index(lo), alloc.page_index(hi)
    return outside + alloc.committed.count(0, i, j) * alloc.page_size


@GROUP.export(
    "NtFreeVirtualMemory",
    0xDC,
    Param("base_address", K.OUT_U32),
    Param("region_size", K.OUT_U32),
    Param("free_type", K.U32),
    Param("debug_memory", K.BOOL),
)
def nt_free_virtual_memory(
    k: KernelState, t: Thread, base_ptr: int, size_ptr: int, free_type: int, debug: int
) -> int:
    """Decommit a range (MEM_DECOMMIT) or release a whole allocation (MEM_RELEASE)."""
    mem = k.memory
    mem.require(base_ptr, 4)
    mem.require(size_ptr, 4)
    base, size = mem.read_u32(base_ptr), mem.read_u32(size_ptr)
    if base == 0:
        return STATUS_MEMORY_NOT_ALLOCATED
    sp = space(k)
    heap = sp.heap_at(base)
    if heap is None or heap.spec.kind is not HeapKind.VIRTUAL:
        return STATUS_INVALID_PARAMETER
    canary = k.quirks.virtual_free_canary_statuses
    if not canary and free_type not in (MEM_DECOMMIT, MEM_RELEASE):
        return STATUS_INVALID_PARAMETER
    page = heap.page_size
    start = align_down(base, page)
    if free_type == MEM_DECOMMIT:
        holders = heap.overlapping(start, start + max(align_up(size, page), page))
        if not canary:
            if len(holders) != 1 or holders[0].owner in PROTECTED_OWNERS:
                return STATUS_MEMORY_NOT_ALLOCATED
            if size == 0:
                size = holders[0].end - start  # to the end of the allocation
        size = align_up(size, page)
        if not canary and start + size > holders[0].end:
            return STATUS_MEMORY_NOT_ALLOCATED
        if not any(a.owner in PROTECTED_OWNERS for a in heap.overlapping(start, start + size)):
            sp.decommit(heap, start, start + size)
        _write_back(k, base_ptr, base if canary else start, size_ptr, size)
        return STATUS_SUCCESS
    alloc = heap.at(start)
    if alloc is None or alloc.owner in PROTECTED_OWNERS:
        return STATUS_UNSUCCESSFUL if canary else STATUS_MEMORY_NOT_ALLOCATED
    if alloc.base != start:
        return STATUS_UNSUCCESSFUL if canary else STATUS_FREE_VM_NOT_AT_BASE
    released = alloc.size
    sp.release(heap, alloc)
    _write_back(k, base_ptr, base if canary else start, size_ptr, released)
    return STATUS_SUCCESS


@GROUP.export(
    "NtQueryVirtualMemory",
    0xEE,
    Param("base_address", K.U32),
    Param("memory_basic_information", K.PTR),
    Param("region_type", K.U32),
)
def nt_query_virtual_memory(
    k: KernelState, t: Thread, address: int, mbi: int, region_type: int
) -> int:
    """Fill a MEMORY_BASIC_INFORMATION for the run of alike pages starting at ``address``.

    Layout (big-endian ULONGs): BaseAddress, AllocationBase, AllocationProtect,
    RegionSize, State, Protect, Type.
    """
    if region_type > 2:
        return STATUS_INVALID_PARAMETER
    mem = k.memory
    mem.require(mbi, MBI_SIZE)
    sp = space(k)
    heap = sp.heap_at(address)
    if heap is None:
        return STATUS_INVALID_PARAMETER
    info = sp.query(heap, address)
    canary = k.quirks.query_region_unrounded
    free = info.state == MEM_FREE
    base = address if canary else align_down(address, heap.page_size)
    allocation_protect, protect = info.allocation_protect, info.protect
    if free and canary:
        allocation_protect = protect = PAGE_NOACCESS
    kind = MEM_PRIVATE if canary or not free else 0
    words = (
        base,
        info.allocation_base,
        allocation_protect,
        info.region_size,
        info.state,
        protect,
        kind,
    )
    mem.write_bytes(mbi, b"".join((w & M32).to_bytes(4, "big") for w in words))
    return STATUS_SUCCESS


@GROUP.export(
    "NtProtectVirtualMemory",
    0xE1,
    Param("base_address", K.OUT_U32),
    Param("region_size", K.OUT_U32),
    Param("new_protect", K.U32),
    Param("old_protect", K.OUT_U32, optional=True),
    Param("debug_memory", K.BOOL),
)
def nt_protect_virtual_memory(
    k: KernelState, t: Thread, base_ptr: int, size_ptr: int, protect: int, old_ptr: int, debug: int
) -> int:
    """Change the protection of committed pages of one allocation; reports the old one."""
    values = _in_out_pointers(k, base_ptr, size_ptr)
    if isinstance(values, int):
        return values
    base, size = values
    if old_ptr:
        k.memory.require(old_ptr, 4)
    if size == 0:
        return STATUS_INVALID_PARAMETER
    if protect & PAGE_EXECUTE_ANY or protect_invalid(k, protect):
        return STATUS_INVALID_PAGE_PROTECTION
    sp = space(k)
    heap = sp.heap_at(base)
    if heap is None or heap.spec.kind is not HeapKind.VIRTUAL:
        return STATUS_INVALID_PARAMETER
    page = heap.page_size
    start = align_down(base, page)
    size = align_up(size, page)
    end = start + size
    canary = k.quirks.virtual_free_canary_statuses
    holders = heap.overlapping(start, end)
    if len(holders) > 1 or (holders and not (holders[0].base <= start and end <= holders[0].end)):
        return STATUS_ACCESS_DENIED if canary else STATUS_CONFLICTING_ADDRESSES
    if not holders or holders[0].owner == "reserved" or _uncommitted_bytes(holders[0], start, end):
        return STATUS_ACCESS_DENIED if canary else STATUS_NOT_COMMITTED
    old = sp.set_protect(holders[0], start, end, protect_value(k, protect))
    _write_back(k, base_ptr, start, size_ptr, size)
    if old_ptr:
        k.memory.write_u32(old_ptr, old)
    return STATUS_SUCCESS


@GROUP.export(
    "NtAllocateEncryptedMemory",
    0x28A,
    Param("unknown", K.U32),
    Param("region_size", K.U32),
    Param("base_address", K.OUT_U32),
)
def nt_allocate_encrypted_memory(
    k: KernelState, t: Thread, unknown: int, size: int, base_ptr: int
) -> int:
    """Commit up to 16 MiB of read/write 64 KiB pages in the encrypted image range (0x8C000000).

    x360k does not encrypt: the pages read and write as plain memory.
    """
    if size == 0:
        return STATUS_INVALID_PARAMETER
    size = align_up(size, CHUNK)
    if size > 16 * 1024 * 1024:
        return STATUS_INVALID_PARAMETER
    k.memory.require(base_ptr, 4)
    if not fits_in_ram(k, size):
        return STATUS_UNSUCCESSFUL
    sp = space(k)
    heap = sp.by_name["v80000000"]
    alloc = sp.allocate(
        heap, size, CHUNK, PAGE_READWRITE, commit=True, low=ENCRYPTED_LOW, high=ENCRYPTED_HIGH
    )
    if alloc is None:
        return STATUS_UNSUCCESSFUL
    k.memory.write_u32(base_ptr, alloc.base)
    return STATUS_SUCCESS
