"""One guest memory for kernel and CPU: every GuestMemory region is mapped into unicorn.

Regions are ``bytearray`` objects that never move or resize, so unicorn maps
their buffers directly (``mem_map_ptr``): a guest store is visible to the
kernel's next read and a kernel write to the guest's next load, with no copy.
Regions the kernel maps later (heap growth, object bodies, stacks) are
mirrored through ``GuestMemory.on_map``; regions the address space unmaps
(released memory) leave unicorn too, and page protections set through the
memory manager become unicorn's page permissions, so a guest store to a
read-only page faults as it would on the console. The kernel's own bounds checks are
untouched: a pointer the guest passes to an export still goes through
``GuestMemory`` and an unmapped one still yields STATUS_ACCESS_VIOLATION.
"""

from __future__ import annotations

from x360k.cpu.engine import Engine
from x360k.memory import GuestMemory, Region


def share_memory(memory: GuestMemory, engine: Engine) -> None:
    """Map every present and future region of ``memory`` into ``engine``."""

    def mirror(region: Region) -> None:
        engine.map_buffer(region.base, region.data)

    def unmirror(region: Region) -> None:
        engine.unmap_buffer(region.base, len(region.data))

    for region in list(memory.regions):
        mirror(region)
    memory.on_map(mirror)
    memory.on_unmap(unmirror)
    memory.on_protect(engine.protect)
    for region in list(memory.regions):
        if region.managed:  # committed before the CPU came: give its pages their access now
            memory.protection_changed(region.base, region.end)
