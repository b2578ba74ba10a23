"""What a wedge report says about native objects and critical sections.

The wedge report (``x360k.wedge``) asks these hooks for extra words: a
bridged object is named by its guest address and header type, and a thread
stuck entering a critical section gets the section's address, its owner
(and whether that owner has ended) and the counts, read from guest memory
when the wedge is reported, not when the wait began.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.native import critical_section as CS
from x360k.native import header as H

if TYPE_CHECKING:
    from x360k.dispatcher import WaitBlock
    from x360k.kernel_state import KernelState
    from x360k.objects.base import KernelObject


def wait_note(k: KernelState, wb: WaitBlock) -> str | None:
    """The critical-section sentence for a thread blocked in RtlEnterCriticalSection."""
    from x360k.native.bridge import native_state

    cs = native_state(k).cs_waits.get(wb.thread.ordinal)
    if cs is None:
        return None
    lock = CS.LockCount(k.quirks.critical_section_lock_host_order)
    count, recursion, owner_kthread = lock.read_state(k.memory, cs)
    owner = k.threads_by_kthread.get(owner_kthread)
    if owner is not None:
        alive = "has ended" if owner.terminated else f"is {owner.state.value}"
        who = f"owned by thread {owner.ordinal} (id {owner.thread_id}, {alive})"
    elif owner_kthread:
        who = f"owned by unknown KTHREAD 0x{owner_kthread:08X}"
    else:
        who = "not owned"
    return (
        f"entering critical section 0x{cs:08X}: {who}, recursion count {recursion}, "
        f"lock count {count}"
    )


def object_note(k: KernelState, obj: KernelObject) -> str | None:
    """Names a bridged object by its guest address and header type."""
    from x360k.native.bridge import native_state

    ptr = obj.body
    if not ptr or native_state(k).owned.get(ptr) is not obj:
        return None
    header = H.read_header(k.memory, ptr)
    text = f"guest {H.type_name(header.type)} at 0x{ptr:08X} (bridged from guest memory"
    if header.stamped:
        text += f", stamped handle 0x{header.wait_list_blink:08X}"
    return text + "): any thread holding its address can signal it"
