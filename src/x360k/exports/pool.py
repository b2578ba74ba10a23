"""Ex pool allocations and the L2 lock: the kernel's small-block heap as canary keeps it.

Canary takes every pool block from the top of the 4 KiB virtual heap
(0x30000000 up, its "system heap"): a block of up to 0xFD8 bytes gets an
8-byte header (byte 2 = 170, then the tag) and the caller the address after
it; a larger block is page-aligned with no header. Each block takes at least
one 4 KiB page (canary has no finer pool). ExFreePool tells the two apart by
that alignment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.physical_memory import allocation_at_base
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.exports.virtual_memory import fits_in_ram, space
from x360k.heaps import (
    PAGE_READWRITE,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("pool")

#: Largest block that carries a header (it and the header fit one page with room to spare).
HEADER_LIMIT: Final = 0xFD8
HEADER_SIZE: Final = 8
HEADER_MARK: Final = 170
TAG_NONE: Final = 0x656E6F4E  # 'None', ExAllocatePool's tag


def allocate_pool(k: KernelState, size: int, tag: int) -> int:
    """A zeroed pool block of ``size`` bytes, or 0 when there is no room."""
    headed = size <= HEADER_LIMIT
    total = size + HEADER_SIZE if headed else size
    if total <= 0 or not fits_in_ram(k, (total + 0xFFF) & ~0xFFF):
        return 0
    sp = space(k)
    heap = sp.by_name["v00000000"]
    alloc = sp.allocate(
        heap,
        total,
        0x1000,
        PAGE_READWRITE,
        commit=True,
        low=heap.spec.system_low,
        high=heap.spec.end - 1,
        owner="pool",
    )
    if alloc is None:
        return 0
    if not headed:
        return alloc.base
    k.memory.write_u8(alloc.base + 2, HEADER_MARK)
    k.memory.write_u32(alloc.base + 4, tag)
    return alloc.base + HEADER_SIZE


@GROUP.export(
    "ExAllocatePoolTypeWithTag",
    0xB,
    Param("size", K.U32),
    Param("tag", K.U32),
    Param("pool_type", K.U32),
    returns=Returns.VALUE,
)
def ex_allocate_pool_type_with_tag(
    k: KernelState, t: Thread, size: int, tag: int, kind: int
) -> int:
    """A pool block with a tag; the pool type makes no difference."""
    return allocate_pool(k, size, tag)


@GROUP.export(
    "ExAllocatePoolWithTag", 0xA, Param("size", K.U32), Param("tag", K.U32), returns=Returns.VALUE
)
def ex_allocate_pool_with_tag(k: KernelState, t: Thread, size: int, tag: int) -> int:
    """A pool block with a tag."""
    return allocate_pool(k, size, tag)


@GROUP.export("ExAllocatePool", 0x9, Param("size", K.U32), returns=Returns.VALUE)
def ex_allocate_pool(k: KernelState, t: Thread, size: int) -> int:
    """A pool block tagged 'None'."""
    return allocate_pool(k, size, TAG_NONE)


@GROUP.export("ExFreePool", 0xF, Param("block", K.PTR), returns=Returns.VOID)
def ex_free_pool(k: KernelState, t: Thread, block: int) -> int:
    """Give a pool block back (a page-aligned block has no header); anything else is ignored."""
    if block == 0:
        return 0
    base = block if block & 0xFFF == 0 else block - HEADER_SIZE
    sp = space(k)
    found = allocation_at_base(sp, base)
    if found is not None:
        sp.release(*found)
    return 0


@GROUP.export("KeLockL2", 0x6B, returns=Returns.VALUE)
def ke_lock_l2(k: KernelState, t: Thread) -> int:
    """Lock part of the L2 cache for the caller: there is no cache to lock, so 0 (canary's)."""
    return 0


@GROUP.export("KeUnlockL2", 0x6C, returns=Returns.VOID)
def ke_unlock_l2(k: KernelState, t: Thread) -> int:
    """Unlock what KeLockL2 locked: nothing."""
    return 0
