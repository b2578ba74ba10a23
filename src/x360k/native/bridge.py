"""The native-object bridge: one guest dispatcher structure, one kernel object.

A pointer export (KeSetEvent, KeWaitForSingleObject, ObReferenceObject...)
names a structure in guest memory that the kernel may never have seen: titles
often initialise a KEVENT inline. The bridge finds the kernel object behind
it, making one from the header's type byte on first use.

How an address finds its object again differs by profile (quirk
``bridge_stamps_header``):

* canary writes its signature 'XEN\\0' into wait_list_flink and the object's
  primary handle into wait_list_blink, and takes a table slot that nothing
  closes and no ``handle.create`` reports. Later calls go through that
  handle: a freed slot finds nothing, a reused slot finds its new occupant,
  and a header the title rewrote (stamp gone) makes a new object.
* the console has no bridge: the structure *is* the object. x360k keeps one
  object per address, takes no slot, leaves the wait list alone, and treats
  guest memory as the truth: a signal state the title stored directly is
  adopted on the next call.

Failures (a type neither profile supports, a stamped handle whose slot is
gone) return None and leave a ``marker`` trace event saying why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.native import header as H
from x360k.native.broken_mutant import BrokenMutant
from x360k.native.critical_section import LockCount
from x360k.native.guest_mutant import GuestMutant
from x360k.objects.base import KernelObject
from x360k.objects.event import Event
from x360k.objects.semaphore import Semaphore
from x360k.objects.timer import Timer

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.native.spinlock import SpinLockWord
    from x360k.objects.thread import Thread


class NativeState:
    """Per-kernel state of the native-object layer (kept in ``k.ext["native"]``)."""

    __slots__ = ("cs_lock", "cs_waits", "failures", "kernel", "owned", "spinlocks")

    def __init__(self, kernel: KernelState) -> None:
        self.kernel = kernel
        #: Objects the bridge made, by guest address (the console's identity map).
        self.owned: dict[int, KernelObject] = {}
        #: Spin-lock words some thread has waited on, by address.
        self.spinlocks: dict[int, SpinLockWord] = {}
        #: Thread ordinal -> address of the critical section it is blocked entering.
        self.cs_waits: dict[int, int] = {}
        #: How many pointers could not be bridged (each also left a marker event).
        self.failures = 0
        #: The critical-section lock-count codec for this kernel's profile.
        self.cs_lock = LockCount(kernel.quirks.critical_section_lock_host_order)

    def thread_exited(self, thread: Thread) -> None:
        """A thread that ends while blocked entering a critical section no longer waits."""
        self.cs_waits.pop(thread.ordinal, None)


def install(k: KernelState) -> NativeState:
    """Give a kernel its native-object state, the Ob* pointer resolver and the wedge notes."""
    from x360k.native.wedge_notes import object_note, wait_note

    state = NativeState(k)
    k.ext["native"] = state
    k.ext["bridge"] = resolve_quiet
    k.ext["wedge:wait_note"] = wait_note
    k.ext["wedge:object_note"] = object_note
    k.ext.setdefault("hook:thread_exit", []).append(state.thread_exited)
    return state


def native_state(k: KernelState) -> NativeState:
    state: NativeState | None = k.ext.get("native")
    return state if state is not None else install(k)


def _thread_of(k: KernelState, t: Thread | None) -> Thread:
    return t if t is not None else (k.current or k.main_thread)


def fail(k: KernelState, t: Thread | None, ptr: int, why: str) -> None:
    """Record a bridge failure as a marker event on the calling thread."""
    native_state(k).failures += 1
    k.emit(_thread_of(k, t), "marker", text=f"native object 0x{ptr:08X}: {why}")


def resolve_quiet(k: KernelState, ptr: int) -> KernelObject | None:
    """The ``k.ext["bridge"]`` resolver the Ob* pointer exports call."""
    return resolve(k, ptr, None)


def resolve(k: KernelState, ptr: int, t: Thread | None) -> KernelObject | None:
    """The kernel object behind a guest dispatcher structure, bridged on first use."""
    if ptr == 0:
        fail(k, t, ptr, "null pointer")
        return None
    if k.quirks.bridge_stamps_header:
        mem = k.memory
        if mem.read_u32(ptr + H.WAIT_LIST_FLINK) == H.SIGNATURE:
            handle = mem.read_u32(ptr + H.WAIT_LIST_BLINK)
            obj = k.table.object_at(handle)
            if obj is None:
                fail(k, t, ptr, f"stamped handle 0x{handle:08X} names no object any more")
            return obj
        thread = k.threads_by_kthread.get(ptr)
        if thread is not None:
            return thread
        return create(k, ptr, t)
    obj = native_state(k).owned.get(ptr)
    if obj is not None and not obj.destroyed:
        adopt_guest_state(k, ptr, obj)
        return obj
    obj = k.bodies.get(ptr)
    if obj is not None and not obj.destroyed:
        return obj
    return create(k, ptr, t)


def adopt_guest_state(k: KernelState, ptr: int, obj: KernelObject) -> None:
    """Console: a signal state the title stored into the header itself is the truth."""
    stored = k.memory.read_s32(ptr + H.SIGNAL_STATE)
    if isinstance(obj, GuestMutant):
        adopt_mutant_state(k, ptr, obj, stored)
        return
    if stored == obj.signal_state():
        return
    if isinstance(obj, Event | Timer):
        obj.state = stored != 0
    elif isinstance(obj, Semaphore):
        obj.count = stored


def adopt_mutant_state(k: KernelState, ptr: int, mutant: GuestMutant, stored: int) -> None:
    """Console: a KMUTANT's SignalState, OwnerThread and Abandoned, as the title left them.

    NT reads these fields on every wait and release, so what the title stored
    is what the mutant is: SignalState 1 free, 0 owned once, -n owned n + 1
    times, by the thread whose KTHREAD OwnerThread holds.
    """
    mem = k.memory
    owner = k.threads_by_kthread.get(mem.read_u32(ptr + H.MUTANT_OWNER)) if stored <= 0 else None
    recursion = 1 - stored
    abandoned = mem.read_u8(ptr + H.MUTANT_ABANDONED) != 0
    if owner is mutant.owner and recursion == mutant.recursion and abandoned == mutant.abandoned:
        return
    if mutant.owner is not None and mutant.owner is not owner:
        mutant.owner.owned_mutants.remove(mutant)
    if owner is not None and mutant.owner is not owner:
        owner.owned_mutants.append(mutant)
    mutant.owner = owner
    mutant.recursion = recursion
    mutant.abandoned = abandoned
    k.signal(mutant)


def create(k: KernelState, ptr: int, t: Thread | None) -> KernelObject | None:
    """Make the object a header describes and register it; None (with a marker) if none fits."""
    mem = k.memory
    type_byte = mem.read_u8(ptr + H.TYPE)
    signal = mem.read_s32(ptr + H.SIGNAL_STATE)
    canary = k.quirks.ke_mutant_timer_missing
    obj: KernelObject
    if type_byte in (H.GuestType.NOTIFICATION_EVENT, H.GuestType.SYNCHRONIZATION_EVENT):
        obj = Event(manual_reset=type_byte == H.GuestType.NOTIFICATION_EVENT, state=signal != 0)
    elif type_byte == H.GuestType.SEMAPHORE:
        obj = Semaphore(signal, mem.read_s32(ptr + H.SEMAPHORE_LIMIT))
    elif type_byte == H.GuestType.MUTANT:
        obj = BrokenMutant() if canary else mutant_from_guest(k, ptr, signal)
    elif type_byte in (H.GuestType.NOTIFICATION_TIMER, H.GuestType.SYNCHRONIZATION_TIMER):
        if canary:
            fail(k, t, ptr, f"canary cannot bridge a {H.type_name(type_byte)}")
            return None
        timer = Timer(manual_reset=type_byte == H.GuestType.NOTIFICATION_TIMER)
        timer.state = signal != 0
        obj = timer
    else:
        fail(k, t, ptr, f"cannot bridge a dispatcher header of {H.type_name(type_byte)}")
        return None
    register(k, ptr, obj)
    return obj


def mutant_from_guest(k: KernelState, ptr: int, signal: int) -> GuestMutant:
    """A working mutant from a guest KMUTANT: owner from OwnerThread, recursion from the state."""
    owner = k.threads_by_kthread.get(k.memory.read_u32(ptr + H.MUTANT_OWNER))
    abandoned = k.memory.read_u8(ptr + H.MUTANT_ABANDONED) != 0
    mutant = GuestMutant(k.memory, ptr, owner if signal <= 0 else None)
    # The stored state is the truth (see adopt_mutant_state), even one no
    # release path produces.
    mutant.recursion = 1 - signal
    mutant.abandoned = abandoned
    mutant.sync()
    return mutant


def register(k: KernelState, ptr: int, obj: KernelObject) -> None:
    """Bind ``obj`` to the structure at ``ptr`` the way the profile does it."""
    obj.body = ptr
    k.bodies[ptr] = obj
    native_state(k).owned[ptr] = obj
    if k.quirks.bridge_stamps_header:
        handle = k.table.add_handle(obj, traced=False)
        k.memory.write_u32(ptr + H.WAIT_LIST_FLINK, H.SIGNATURE)
        k.memory.write_u32(ptr + H.WAIT_LIST_BLINK, handle)
    else:
        # The structure holds the object alive for as long as the title keeps it.
        k.table.retain_object(obj)
