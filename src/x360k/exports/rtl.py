"""RTL critical-section exports (the structure and its rules: x360k.native.critical_section).

Contention blocks the thread on the section's embedded synchronization event
through the native-object bridge, so a contended section is an ordinary wait
to the scheduler and the wedge report; the last leave hands the section to
the longest waiter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.native import critical_section as CS
from x360k.native.bridge import fail, native_state, resolve
from x360k.objects.event import Event
from x360k.status import STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl")


def _initialize(k: KernelState, cs: int, spin_count: int) -> None:
    k.memory.require(cs, CS.CRITICAL_SECTION_SIZE)
    console = not k.quirks.bridge_stamps_header
    CS.initialize(k.memory, cs, native_state(k).cs_lock, spin_count, console=console)


@GROUP.export(
    "RtlInitializeCriticalSection", 0x12E, Param("critical_section", K.PTR), returns=Returns.VOID
)
def rtl_initialize_critical_section(k: KernelState, t: Thread, cs: int) -> int:
    """A free section: lock count -1, recursion 0, no owner, event unset."""
    _initialize(k, cs, 0)
    return 0


@GROUP.export(
    "RtlInitializeCriticalSectionAndSpinCount",
    0x12F,
    Param("critical_section", K.PTR),
    Param("spin_count", K.U32),
)
def rtl_initialize_critical_section_and_spin_count(
    k: KernelState, t: Thread, cs: int, spin_count: int
) -> int:
    """As RtlInitializeCriticalSection, with the spin count / 256 in the header."""
    _initialize(k, cs, spin_count)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlEnterCriticalSection", 0x125, Param("critical_section", K.PTR), returns=Returns.VOID
)
def rtl_enter_critical_section(k: KernelState, t: Thread, cs: int) -> int:
    """Own the section (again, for its owner), waiting on its event while another holds it."""
    mem = k.memory
    lock = k.ext["native"].cs_lock
    kthread = t.kthread
    if CS.try_acquire(mem, cs, lock, kthread):
        return 0
    if not CS.join_waiters(mem, cs, lock):
        CS.take(mem, cs, lock, kthread)
        return 0
    event = resolve(k, cs, t)
    if not isinstance(event, Event):
        fail(k, t, cs, "critical section has no usable event; entering without waiting")
        CS.take(mem, cs, lock, kthread)
        return 0
    waits = native_state(k).cs_waits
    waits[t.ordinal] = cs

    def finish(status: int) -> int:
        waits.pop(t.ordinal, None)
        CS.take(mem, cs, lock, kthread)
        return status

    return k.wait(
        t,
        [event],
        wait_all=False,
        alertable=False,
        deadline=None,
        finish=finish,
        note=f"critical section 0x{cs:08X}",
    )


@GROUP.export(
    "RtlTryEnterCriticalSection", 0x141, Param("critical_section", K.PTR), returns=Returns.VALUE
)
def rtl_try_enter_critical_section(k: KernelState, t: Thread, cs: int) -> int:
    """Own the section if it is free or already ours: 1, else 0 (never waits)."""
    return 1 if CS.try_acquire(k.memory, cs, native_state(k).cs_lock, t.kthread) else 0


@GROUP.export(
    "RtlLeaveCriticalSection", 0x130, Param("critical_section", K.PTR), returns=Returns.VOID
)
def rtl_leave_critical_section(k: KernelState, t: Thread, cs: int) -> int:
    """One leave; the last one frees the section and wakes the longest waiter."""
    if not CS.release(k.memory, cs, k.ext["native"].cs_lock):
        return 0
    event = resolve(k, cs, t)
    if isinstance(event, Event):
        event.state = True
        k.signal(event)
    return 0
