"""Canary's physical address map, as the hardware-facing exports (Vd, XMA) see it.

The memory the kernel hands those exports (the XMA context array,
VdPersistDisplay's block) comes from the memory manager's physical system
heap (:func:`x360k.exports.physical_memory.allocate_system_physical`).

:func:`physical_address` is canary's ``Memory::GetPhysicalAddress`` as a
fact: only the three physical views translate (0xA0000000 and 0xC0000000 by
subtracting the view base, 0xE0000000 with a further 0x1000 added); any other
address has no physical address (``None``), which the XMA and VdSwap exports
report the way canary does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    pass

#: The physical views canary maps: (base, end, offset added after subtracting the base).
PHYSICAL_VIEWS: Final = (
    (0xA0000000, 0xC0000000, 0),
    (0xC0000000, 0xE0000000, 0),
    (0xE0000000, 0x100000000, 0x1000),
)


def physical_address(address: int) -> int | None:
    """The physical address canary gives ``address``, or None outside the physical views."""
    for base, end, offset in PHYSICAL_VIEWS:
        if base <= address < end:
            return address - base + offset
    return None
