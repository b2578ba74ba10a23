"""Ke* exports that take pointers to dispatcher structures in guest memory.

Each pointer goes through the native-object bridge (:mod:`x360k.native.bridge`),
so a structure the title initialised inline, one KeInitialize* set up, and
one the kernel allocated for an Nt* create all name one kernel object, and
waits by pointer and by handle meet on it. Canary lacks the mutant and timer
exports (quirk ``ke_mutant_timer_missing``): they then behave as its
unimplemented exports do and leave r3 holding the first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from x360k.exports.callbacks import timer_dpc_armed
from x360k.exports.common import previous_state, require, s32
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.exports.sync import arm_timer, pulse_event, release_semaphore, set_event
from x360k.exports.waits import (
    bad_wait_parameters,
    mutant_limit_reached,
    wait_for_objects,
    waitable,
)
from x360k.native import header as H
from x360k.native.bridge import create, fail, native_state, resolve
from x360k.native.broken_mutant import BrokenMutant
from x360k.native.guest_mutant import GuestMutant
from x360k.objects.base import KernelObject
from x360k.objects.event import Event
from x360k.objects.mutant import Mutant
from x360k.objects.semaphore import Semaphore
from x360k.objects.timer import Timer
from x360k.status import (
    STATUS_ABANDONED_WAIT_0,
    STATUS_INVALID_PARAMETER,
    STATUS_MUTANT_LIMIT_EXCEEDED,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("native")

ObjT = TypeVar("ObjT", bound=KernelObject)

#: KWAIT_BLOCK size; KeWaitForMultipleObjects' array is accepted and left alone (as canary).
KWAIT_BLOCK_SIZE = 0x18


def resolve_as(k: KernelState, t: Thread, ptr: int, cls: type[ObjT]) -> ObjT | None:
    """The bridged object if it is a ``cls``; None (and a marker) otherwise."""
    obj = resolve(k, ptr, t)
    if obj is None:
        return None
    if not isinstance(obj, cls):
        fail(k, t, ptr, f"is a {obj.TYPE}, not a {cls.TYPE}")
        return None
    return obj


def _s64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value & (1 << 63) else value


def _console_init(k: KernelState, ptr: int, cls: type[ObjT]) -> ObjT | None:
    """Console: the object already living at ``ptr`` when it is a ``cls`` (re-initialised)."""
    existing = native_state(k).owned.get(ptr)
    if isinstance(existing, cls) and not existing.destroyed:
        return existing
    return None


def _create_unstamped(k: KernelState, t: Thread, ptr: int) -> None:
    """Bind a new object at ``ptr``; a stamping bridge (canary) has any old stamp cleared first."""
    if k.quirks.bridge_stamps_header:
        k.memory.write_u32(ptr + H.WAIT_LIST_FLINK, 0)
    create(k, ptr, t)


# -- events -----------------------------------------------------------------------------------


@GROUP.export(
    "KeInitializeEvent",
    0x70,
    Param("event", K.KOBJECT),
    Param("event_type", K.U32),
    Param("state", K.BOOL),
    returns=Returns.VOID,
)
def ke_initialize_event(k: KernelState, t: Thread, ptr: int, event_type: int, state: int) -> int:
    """Write a KEVENT header and bind it to an event object (canary: a new one every time)."""
    k.memory.require(ptr, H.HEADER_SIZE)
    signal = 1 if state else 0
    if k.quirks.bridge_stamps_header:
        k.memory.fill(ptr, H.HEADER_SIZE)
        k.memory.write_u8(ptr + H.TYPE, event_type)
        k.memory.write_u32(ptr + H.SIGNAL_STATE, signal)
        create(k, ptr, t)
        return 0
    H.write_header(k.memory, ptr, event_type, signal, size_bytes=H.HEADER_SIZE)
    event = _console_init(k, ptr, Event)
    if event is None:
        create(k, ptr, t)
        return 0
    event.manual_reset = event_type == H.GuestType.NOTIFICATION_EVENT
    event.state = bool(state)
    k.signal(event)
    return 0


@GROUP.export(
    "KeSetEvent",
    0x9D,
    Param("event", K.KOBJECT),
    Param("increment", K.S32),
    Param("wait", K.BOOL),
    returns=Returns.VALUE,
)
def ke_set_event(k: KernelState, t: Thread, ptr: int, increment: int, wait: int) -> int:
    """Set the event; returns the previous state (canary: 1; 0 if it cannot be bridged)."""
    event = resolve_as(k, t, ptr, Event)
    if event is None:
        return 0
    raw = _raw_signal_state(k, ptr)
    return _ke_previous_state(k, raw, set_event(k, event))


@GROUP.export("KeResetEvent", 0x8F, Param("event", K.KOBJECT), returns=Returns.VALUE)
def ke_reset_event(k: KernelState, t: Thread, ptr: int) -> int:
    """Unset the event; returns the previous state (canary: 1)."""
    event = resolve_as(k, t, ptr, Event)
    if event is None:
        return 0
    raw = _raw_signal_state(k, ptr)
    previous = event.state
    event.state = False
    k.state_changed(event)
    return _ke_previous_state(k, raw, previous)


@GROUP.export(
    "KePulseEvent",
    0x7F,
    Param("event", K.KOBJECT),
    Param("increment", K.S32),
    Param("wait", K.BOOL),
    returns=Returns.VALUE,
)
def ke_pulse_event(k: KernelState, t: Thread, ptr: int, increment: int, wait: int) -> int:
    """Release the current waiters (all, or one for auto-reset) and leave it unset."""
    event = resolve_as(k, t, ptr, Event)
    if event is None:
        return 0
    raw = _raw_signal_state(k, ptr)
    return _ke_previous_state(k, raw, pulse_event(k, event))


def _raw_signal_state(k: KernelState, ptr: int) -> int | None:
    """The SignalState LONG the title's KEVENT holds, where the header is the truth (console)."""
    if k.quirks.bridge_stamps_header or k.quirks.guest_signal_state_stale:
        return None
    return k.memory.read_u32(ptr + H.SIGNAL_STATE)


def _ke_previous_state(k: KernelState, raw: int | None, previous: bool) -> int:
    """What KeSetEvent / KeResetEvent / KePulseEvent return.

    NT returns the header's previous SignalState as it was, not a 0/1 summary
    of it: a title that stored 5 there gets 5 back (canary: always 1).
    """
    if raw is None or k.quirks.previous_state_always_one:
        return previous_state(k, previous)
    return raw


# -- semaphores ------------------------------------------------------------------------------


@GROUP.export(
    "KeInitializeSemaphore",
    0x74,
    Param("semaphore", K.KOBJECT),
    Param("count", K.S32),
    Param("limit", K.S32),
    returns=Returns.VOID,
)
def ke_initialize_semaphore(k: KernelState, t: Thread, ptr: int, count: int, limit: int) -> int:
    """Write a KSEMAPHORE and bind it (canary reuses a stamped one, ignoring the counts)."""
    mem = k.memory
    mem.require(ptr, H.KSEMAPHORE_SIZE)
    count, limit = s32(count), s32(limit)
    if k.quirks.bridge_stamps_header:
        mem.write_u8(ptr + H.TYPE, H.GuestType.SEMAPHORE)
        mem.write_u32(ptr + H.SIGNAL_STATE, count)
        mem.write_u32(ptr + H.SEMAPHORE_LIMIT, limit)
        if not k.quirks.ke_init_semaphore_reuses_stamp:
            mem.write_u32(ptr + H.WAIT_LIST_FLINK, 0)
        resolve_as(k, t, ptr, Semaphore)
        return 0
    H.write_header(mem, ptr, H.GuestType.SEMAPHORE, count, size_bytes=H.KSEMAPHORE_SIZE)
    mem.write_u32(ptr + H.SEMAPHORE_LIMIT, limit)
    semaphore = _console_init(k, ptr, Semaphore)
    if semaphore is None:
        create(k, ptr, t)
        return 0
    semaphore.count = count
    semaphore.maximum = limit
    k.signal(semaphore)
    return 0


@GROUP.export(
    "KeReleaseSemaphore",
    0x88,
    Param("semaphore", K.KOBJECT),
    Param("increment", K.S32),
    Param("adjustment", K.S32),
    Param("wait", K.BOOL),
    returns=Returns.VALUE,
)
def ke_release_semaphore(
    k: KernelState, t: Thread, ptr: int, increment: int, adjustment: int, wait: int
) -> int:
    """Add ``adjustment`` to the count; returns the previous count (0 when refused)."""
    semaphore = resolve_as(k, t, ptr, Semaphore)
    if semaphore is None:
        return 0
    adjustment = s32(adjustment)
    if adjustment <= 0 or semaphore.count + adjustment > semaphore.maximum:
        if not k.quirks.semaphore_over_release_succeeds:
            # The console raises STATUS_SEMAPHORE_LIMIT_EXCEEDED as an exception here.
            fail(k, t, ptr, "KeReleaseSemaphore past the limit (the console raises an exception)")
        return 0
    return release_semaphore(k, semaphore, adjustment)


# -- mutants (console only) -------------------------------------------------------------------


@GROUP.export(
    "KeInitializeMutant",
    0x72,
    Param("mutant", K.KOBJECT),
    Param("initial_owner", K.BOOL),
    returns=Returns.VOID,
)
def ke_initialize_mutant(k: KernelState, t: Thread, ptr: int, initial_owner: int) -> int:
    """Write a KMUTANT (owned once by the caller if asked) and bind it. Canary: missing."""
    if k.quirks.ke_mutant_timer_missing:
        return 0
    mem = k.memory
    mem.require(ptr, H.KMUTANT_SIZE)
    H.write_header(mem, ptr, H.GuestType.MUTANT, 0 if initial_owner else 1, size_bytes=0x20)
    H.init_list_head(mem, ptr + H.MUTANT_LIST_ENTRY)
    mem.write_u32(ptr + H.MUTANT_OWNER, t.kthread if initial_owner else 0)
    mem.write_u8(ptr + H.MUTANT_ABANDONED, 0)
    mutant = _console_init(k, ptr, GuestMutant)
    if mutant is not None:
        if mutant.owner is not None:
            mutant.owner.owned_mutants.remove(mutant)
        mutant.owner = None
        mutant.recursion = 0
        mutant.abandoned = False
        if initial_owner:
            mutant.satisfy(t)
        mutant.sync()
        k.signal(mutant)
        return 0
    _create_unstamped(k, t, ptr)
    return 0


@GROUP.export(
    "KeReleaseMutant",
    0x87,
    Param("mutant", K.KOBJECT),
    Param("increment", K.S32),
    Param("abandoned", K.BOOL),
    Param("wait", K.BOOL),
    returns=Returns.VALUE,
)
def ke_release_mutant(
    k: KernelState, t: Thread, ptr: int, increment: int, abandoned: int, wait: int
) -> int:
    """Release one level (or all, when abandoning); returns the previous signal state."""
    if k.quirks.ke_mutant_timer_missing:
        return ptr
    mutant = resolve_as(k, t, ptr, Mutant)
    if mutant is None or isinstance(mutant, BrokenMutant):
        return 0
    # As a u32: a handler's -1 would read as BLOCKED.
    previous = mutant.signal_state() & 0xFFFFFFFF
    if abandoned:
        mutant.abandon()
    elif mutant.owner is not t:
        # The console raises STATUS_MUTANT_NOT_OWNED as an exception here.
        fail(k, t, ptr, "KeReleaseMutant by a thread that does not own it")
        return previous
    else:
        mutant.release()
    k.signal(mutant)
    return previous


# -- timers (console only) --------------------------------------------------------------------


@GROUP.export(
    "KeInitializeTimerEx",
    0x75,
    Param("timer", K.KOBJECT),
    Param("timer_type", K.U32),
    returns=Returns.VOID,
)
def ke_initialize_timer_ex(k: KernelState, t: Thread, ptr: int, timer_type: int) -> int:
    """Write an unarmed KTIMER (0 notification, 1 synchronization) and bind it. Canary: missing."""
    if k.quirks.ke_mutant_timer_missing:
        return 0
    mem = k.memory
    mem.require(ptr, H.KTIMER_SIZE)
    type_byte = H.GuestType.NOTIFICATION_TIMER + (1 if timer_type else 0)
    H.write_header(mem, ptr, type_byte, 0, size_bytes=H.KTIMER_SIZE)
    mem.write_u64(ptr + H.TIMER_DUE_TIME, 0)
    H.init_list_head(mem, ptr + H.TIMER_LIST_ENTRY)
    mem.write_u32(ptr + H.TIMER_DPC, 0)
    mem.write_u32(ptr + H.TIMER_PERIOD, 0)
    timer = _console_init(k, ptr, Timer)
    if timer is None:
        _create_unstamped(k, t, ptr)
        return 0
    timer.generation += 1
    timer.due = None
    timer.period = 0
    timer.manual_reset = not timer_type
    timer.state = False
    k.state_changed(timer)
    return 0


def _timer_at(k: KernelState, t: Thread, ptr: int) -> Timer | int:
    """The timer at ``ptr``, or what a timer export returns without one.

    That is ``ptr`` where canary lacks the timer exports (r3 left holding the
    first argument), and 0 where the structure cannot be bridged.
    """
    if k.quirks.ke_mutant_timer_missing:
        return ptr
    timer = resolve_as(k, t, ptr, Timer)
    return 0 if timer is None else timer


def _set_timer(k: KernelState, t: Thread, ptr: int, due: int, period_ms: int, dpc: int) -> int:
    timer = _timer_at(k, t, ptr)
    if isinstance(timer, int):
        return timer
    was_armed = timer.due is not None
    arm_timer(k, t, timer, due, max(0, period_ms) * 10_000, 0, 0)
    timer.dpc = dpc
    if dpc:
        timer_dpc_armed(k)
    mem = k.memory
    mem.write_u8(ptr + H.INSERTED, 1)
    mem.write_u64(ptr + H.TIMER_DUE_TIME, timer.due or 0)
    mem.write_u32(ptr + H.TIMER_DPC, dpc)
    mem.write_u32(ptr + H.TIMER_PERIOD, max(0, period_ms))
    return int(was_armed)


@GROUP.export(
    "KeSetTimer",
    0xA6,
    Param("timer", K.KOBJECT),
    Param("due_time", K.U32),
    Param("dpc", K.PTR, optional=True),
    returns=Returns.VALUE,
)
def ke_set_timer(k: KernelState, t: Thread, ptr: int, due_low: int, dpc: int) -> int:
    """Arm a one-shot timer; DueTime is a 64-bit value in r4. Returns whether it was armed."""
    return _set_timer(k, t, ptr, _s64(t.gpr[4]), 0, dpc)


@GROUP.export(
    "KeSetTimerEx",
    0xA7,
    Param("timer", K.KOBJECT),
    Param("due_time", K.U32),
    Param("period_ms", K.S32),
    Param("dpc", K.PTR, optional=True),
    returns=Returns.VALUE,
)
def ke_set_timer_ex(
    k: KernelState, t: Thread, ptr: int, due_low: int, period: int, dpc: int
) -> int:
    """Arm a timer, periodic every ``period_ms`` if non-zero. Returns whether it was armed."""
    return _set_timer(k, t, ptr, _s64(t.gpr[4]), s32(period), dpc)


@GROUP.export("KeCancelTimer", 0x54, Param("timer", K.KOBJECT), returns=Returns.VALUE)
def ke_cancel_timer(k: KernelState, t: Thread, ptr: int) -> int:
    """Disarm a timer (its signal state stays); returns whether it was armed."""
    timer = _timer_at(k, t, ptr)
    if isinstance(timer, int):
        return timer
    was_armed = timer.due is not None
    timer.generation += 1
    timer.due = None
    k.memory.write_u8(ptr + H.INSERTED, 0)
    return int(was_armed)


# -- waits -------------------------------------------------------------------------------------


@GROUP.export(
    "KeWaitForSingleObject",
    0xB0,
    Param("object", K.KOBJECT),
    Param("wait_reason", K.U32),
    Param("wait_mode", K.U32),
    Param("alertable", K.BOOL),
    Param("timeout", K.TIMEOUT, optional=True),
)
def ke_wait_for_single_object(
    k: KernelState, t: Thread, ptr: int, reason: int, mode: int, alertable: int, timeout_ptr: int
) -> int:
    """Wait on a guest dispatcher structure; one that cannot be bridged gives 0x80."""
    obj = resolve(k, ptr, t)
    if obj is None:
        return STATUS_ABANDONED_WAIT_0
    deadline = k.deadline_from(timeout_ptr)
    if not waitable(k, obj):
        if k.quirks.unwaitable_objects_satisfy_single_waits:
            return STATUS_SUCCESS
        return STATUS_OBJECT_TYPE_MISMATCH
    if mutant_limit_reached(k, t, [obj]):
        return STATUS_MUTANT_LIMIT_EXCEEDED
    return k.wait(
        t,
        [obj],
        wait_all=False,
        alertable=bool(alertable),
        deadline=deadline,
        finish=_synced(k, [obj]),
    )


def _synced(k: KernelState, objects: list[KernelObject]) -> Callable[[int], int]:
    """A wait ``finish`` that writes the objects' headers after a wait satisfied at once.

    (A wait satisfied later already does so when it completes.)
    """

    def finish(status: int) -> int:
        for obj in objects:
            k.state_changed(obj)
        return status

    return finish


@GROUP.export(
    "KeWaitForMultipleObjects",
    0xAF,
    Param("count", K.U32),
    Param("objects", K.OBJECT_ARRAY),
    Param("wait_type", K.U32),
    Param("wait_reason", K.U32),
    Param("wait_mode", K.U32),
    Param("alertable", K.BOOL),
    Param("timeout", K.TIMEOUT, optional=True),
    Param("wait_block_array", K.PTR, optional=True),
)
def ke_wait_for_multiple_objects(
    k: KernelState,
    t: Thread,
    count: int,
    array: int,
    wait_type: int,
    reason: int,
    mode: int,
    alertable: int,
    timeout_ptr: int,
    wait_blocks: int,
) -> int:
    """Wait for any (type non-zero) or all (0) of up to 64 guest dispatcher structures."""
    bad = bad_wait_parameters(k, count, None)
    if bad:
        return bad
    require(k, wait_blocks, KWAIT_BLOCK_SIZE * count)
    objects: list[KernelObject] = []
    for i in range(count):
        obj = resolve(k, k.memory.read_u32(array + 4 * i), t)
        if obj is None:
            return STATUS_INVALID_PARAMETER
        objects.append(obj)
    deadline = k.deadline_from(timeout_ptr)
    status = wait_for_objects(k, t, objects, wait_type != 0, bool(alertable), deadline)
    _synced(k, objects)(status)
    return status
