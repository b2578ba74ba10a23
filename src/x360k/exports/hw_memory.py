"""INTERIM guest allocations for the hardware-facing exports (Vd, XMA), and canary's physical map.

The memory manager is being written on another branch; until it lands, the
few exports here that hand the guest memory of the kernel's own (the XMA
context array, VdPersistDisplay's block) take it from the kernel's system
range (``GuestMemory.alloc_system``, 0xA0000000 up), which is where canary's
physical heaps sit too. Every such allocation goes through
:func:`allocate_physical`, so the integrator points this one function at the
manager (``MmAllocatePhysicalMemoryEx``'s path) and nothing else changes.

:func:`physical_address` is canary's ``Memory::GetPhysicalAddress`` as a
fact: only the three physical views translate (0xA0000000 and 0xC0000000 by
subtracting the view base, 0xE0000000 with a further 0x1000 added); any other
address has no physical address (``None``), which the XMA and VdSwap exports
report the way canary does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState

#: The physical views canary maps: (base, end, offset added after subtracting the base).
PHYSICAL_VIEWS: Final = (
    (0xA0000000, 0xC0000000, 0),
    (0xC0000000, 0xE0000000, 0),
    (0xE0000000, 0x100000000, 0x1000),
)


def allocate_physical(k: KernelState, size: int, align: int) -> int:
    """Zeroed guest memory in a physical view for the kernel's own use (INTERIM, see above)."""
    return k.memory.alloc_system(size, align)


def physical_address(address: int) -> int | None:
    """The physical address canary gives ``address``, or None outside the physical views."""
    for base, end, offset in PHYSICAL_VIEWS:
        if base <= address < end:
            return address - base + offset
    return None
