"""Dispatcher-object exports: events, semaphores, mutants and timers by handle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.clock import CLOCK_MAX, SYSTEM_TIME_BASE, clamp_deadline
from x360k.exports.common import (
    allocate_body,
    finish_create,
    lookup_typed,
    previous_state,
    require,
    s32,
    start_named_create,
    write_u32,
)
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.event import Event
from x360k.objects.mutant import Mutant
from x360k.objects.semaphore import Semaphore
from x360k.objects.thread import UserApc
from x360k.objects.timer import Timer
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_MUTANT_NOT_OWNED,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SEMAPHORE_LIMIT_EXCEEDED,
    STATUS_SUCCESS,
    STATUS_TIMER_RESUME_IGNORED,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("sync")

# -- events -----------------------------------------------------------------------------------


@GROUP.export(
    "NtCreateEvent",
    0xD1,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("event_type", K.U32),
    Param("initial_state", K.BOOL),
)
def nt_create_event(
    k: KernelState, t: Thread, handle_ptr: int, attrs: int, event_type: int, initial_state: int
) -> int:
    """Create an event (or open the existing one of that name)."""
    name = start_named_create(k, t, handle_ptr, attrs, Event)
    if isinstance(name, int):
        return name
    if event_type > 1 and not k.quirks.nonzero_event_type_is_synchronization:
        return STATUS_INVALID_PARAMETER
    event = Event(manual_reset=event_type == 0, state=initial_state != 0)
    finish_create(k, event, name, handle_ptr)
    allocate_body(k, event, 16, None if k.quirks.guest_signal_state_stale else event_type & 1)
    k.state_changed(event)
    return STATUS_SUCCESS


def set_event(k: KernelState, event: Event) -> bool:
    """Set an event and wake whom it releases; returns its previous state."""
    previous = event.state
    event.state = True
    k.signal(event)
    return previous


def pulse_event(k: KernelState, event: Event) -> bool:
    """Release the threads waiting right now, leave the event unset; returns its previous state."""
    previous = event.state
    event.state = True
    k.dispatcher.signal(event)
    event.state = False
    k.state_changed(event)
    return previous


@GROUP.export(
    "NtSetEvent", 0xF6, Param("handle", K.HANDLE), Param("previous_state", K.OUT_U32, optional=True)
)
def nt_set_event(k: KernelState, t: Thread, handle: int, prev_ptr: int) -> int:
    """Set an event: a notification event releases every waiter, a synchronization one one.

    (``require``, ``lookup_typed`` and ``set_event`` inline: the cheapest way to wake a thread.)
    """
    if prev_ptr:
        k.memory.require(prev_ptr, 4)
    event = k.table.lookup(handle, t)
    if event is None:
        return STATUS_INVALID_HANDLE
    if not isinstance(event, Event):
        return STATUS_OBJECT_TYPE_MISMATCH
    previous = event.state
    event.state = True
    k.signal(event)
    if prev_ptr:
        k.memory.write_u32(prev_ptr, previous_state(k, previous))
    return STATUS_SUCCESS


@GROUP.export(
    "NtPulseEvent",
    0xE2,
    Param("handle", K.HANDLE),
    Param("previous_state", K.OUT_U32, optional=True),
)
def nt_pulse_event(k: KernelState, t: Thread, handle: int, prev_ptr: int) -> int:
    """Release the threads waiting right now (all, or one for auto-reset) and leave it unset."""
    require(k, prev_ptr)
    event = lookup_typed(k, t, handle, Event)
    if isinstance(event, int):
        return event
    write_u32(k, prev_ptr, previous_state(k, pulse_event(k, event)))
    return STATUS_SUCCESS


@GROUP.export("NtClearEvent", 0xCE, Param("handle", K.HANDLE))
def nt_clear_event(k: KernelState, t: Thread, handle: int) -> int:
    """Reset an event to not signalled."""
    event = lookup_typed(k, t, handle, Event)
    if isinstance(event, int):
        return event
    event.state = False
    k.state_changed(event)
    return STATUS_SUCCESS


@GROUP.export("NtQueryEvent", 0xE6, Param("handle", K.HANDLE), Param("information", K.PTR))
def nt_query_event(k: KernelState, t: Thread, handle: int, info_ptr: int) -> int:
    """Write {event type (0 notification, 1 synchronization), current state}."""
    require(k, info_ptr, 8)
    event = lookup_typed(k, t, handle, Event)
    if isinstance(event, int):
        return event
    k.memory.write_u32(info_ptr, 0 if event.manual_reset else 1)
    k.memory.write_u32(info_ptr + 4, int(event.state))
    return STATUS_SUCCESS


# -- semaphores ------------------------------------------------------------------------------


@GROUP.export(
    "NtCreateSemaphore",
    0xD5,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("initial_count", K.S32),
    Param("maximum_count", K.S32),
)
def nt_create_semaphore(
    k: KernelState, t: Thread, handle_ptr: int, attrs: int, initial: int, maximum: int
) -> int:
    """Create a semaphore with 0 <= initial <= maximum, maximum > 0."""
    name = start_named_create(k, t, handle_ptr, attrs, Semaphore)
    if isinstance(name, int):
        return name
    initial, maximum = s32(initial), s32(maximum)
    valid = 0 <= initial <= maximum and maximum > 0
    if not valid and not k.quirks.failed_semaphore_create_consumes_slot:
        return STATUS_INVALID_PARAMETER
    semaphore = Semaphore(initial, maximum)
    if not valid:
        handle = k.table.add_handle(semaphore)
        write_u32(k, handle_ptr, 0)
        k.table.release_handle(handle, t)
        return STATUS_INVALID_PARAMETER
    finish_create(k, semaphore, name, handle_ptr)
    allocate_body(k, semaphore, 20, None if k.quirks.guest_signal_state_stale else 5)
    if not k.quirks.guest_signal_state_stale:
        k.memory.write_u32(semaphore.body + 0x10, maximum)
    k.state_changed(semaphore)
    return STATUS_SUCCESS


def release_semaphore(k: KernelState, semaphore: Semaphore, count: int) -> int:
    """Add an accepted release count and wake whom it satisfies; returns the previous count."""
    previous = semaphore.count
    semaphore.count += count
    k.signal(semaphore)
    return previous


@GROUP.export(
    "NtReleaseSemaphore",
    0xF3,
    Param("handle", K.HANDLE),
    Param("release_count", K.S32),
    Param("previous_count", K.OUT_U32, optional=True),
)
def nt_release_semaphore(k: KernelState, t: Thread, handle: int, count: int, prev_ptr: int) -> int:
    """Add to a semaphore's count, waking as many waiters as it can satisfy."""
    require(k, prev_ptr)
    canary = k.quirks.semaphore_over_release_succeeds
    if s32(count) <= 0 and not k.quirks.release_semaphore_handle_before_count:
        # NT checks the count before it looks at the handle.
        if canary:
            write_u32(k, prev_ptr, 0)
            return STATUS_SUCCESS
        return STATUS_INVALID_PARAMETER
    semaphore = lookup_typed(k, t, handle, Semaphore)
    if isinstance(semaphore, int):
        if canary and semaphore == STATUS_INVALID_HANDLE:
            write_u32(k, prev_ptr, 0)
        return semaphore
    count = s32(count)
    if count <= 0 or semaphore.count + count > semaphore.maximum:
        if canary:
            write_u32(k, prev_ptr, 0)
            return STATUS_SUCCESS
        return STATUS_INVALID_PARAMETER if count <= 0 else STATUS_SEMAPHORE_LIMIT_EXCEEDED
    write_u32(k, prev_ptr, release_semaphore(k, semaphore, count))
    return STATUS_SUCCESS


# -- mutants ---------------------------------------------------------------------------------


@GROUP.export(
    "NtCreateMutant",
    0xD4,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("initial_owner", K.BOOL),
)
def nt_create_mutant(
    k: KernelState, t: Thread, handle_ptr: int, attrs: int, initial_owner: int
) -> int:
    """Create a mutant, owned once by the caller if asked."""
    name = start_named_create(k, t, handle_ptr, attrs, Mutant)
    if isinstance(name, int):
        return name
    mutant = Mutant(owner=t if initial_owner else None)
    finish_create(k, mutant, name, handle_ptr)
    return STATUS_SUCCESS


@GROUP.export(
    "NtReleaseMutant",
    0xF2,
    Param("handle", K.HANDLE),
    Param("previous_count", K.OUT_U32, optional=True),
)
def nt_release_mutant(k: KernelState, t: Thread, handle: int, prev_ptr: int) -> int:
    """Release one level of ownership; a non-owner's release changes nothing."""
    canary = k.quirks.release_mutant_always_succeeds
    if not canary:
        require(k, prev_ptr)
    mutant = lookup_typed(k, t, handle, Mutant)
    if isinstance(mutant, int):
        return mutant
    if mutant.owner is not t:
        return STATUS_SUCCESS if canary else STATUS_MUTANT_NOT_OWNED
    previous_state = 1 - mutant.recursion
    mutant.release()
    k.signal(mutant)
    if not canary:
        write_u32(k, prev_ptr, previous_state)
    return STATUS_SUCCESS


# -- timers ----------------------------------------------------------------------------------


@GROUP.export(
    "NtCreateTimer",
    0xD7,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("timer_type", K.U32),
)
def nt_create_timer(k: KernelState, t: Thread, handle_ptr: int, attrs: int, timer_type: int) -> int:
    """Create an unarmed, unsignalled timer (0 notification, 1 synchronization)."""
    name = start_named_create(k, t, handle_ptr, attrs, Timer)
    if isinstance(name, int):
        return name
    if timer_type > 1 and not k.quirks.nonzero_event_type_is_synchronization:
        return STATUS_INVALID_PARAMETER
    timer = Timer(manual_reset=timer_type == 0)
    finish_create(k, timer, name, handle_ptr)
    return STATUS_SUCCESS


@GROUP.export(
    "NtSetTimerEx",
    0xFA,
    Param("handle", K.HANDLE),
    Param("due_time", K.LARGE_INTEGER),
    Param("apc_routine", K.ROUTINE, optional=True),
    Param("apc_mode", K.U32),
    Param("apc_context", K.CONTEXT),
    Param("resume", K.BOOL),
    Param("period_ms", K.U32),
    Param("unknown", K.U32),
)
def nt_set_timer_ex(
    k: KernelState,
    t: Thread,
    handle: int,
    due_ptr: int,
    apc_routine: int,
    apc_mode: int,
    apc_context: int,
    resume: int,
    period_ms: int,
    unknown: int,
) -> int:
    """Arm a timer: negative due times are relative (100 ns), others absolute system times."""
    timer = lookup_typed(k, t, handle, Timer)
    if isinstance(timer, int):
        return timer
    due = k.memory.read_s64(due_ptr)
    if resume and k.quirks.timer_resume_ignored_without_arming:
        return STATUS_TIMER_RESUME_IGNORED
    arm_timer(k, t, timer, due, period_ms * 10_000, apc_routine & ~1, apc_context)
    return STATUS_TIMER_RESUME_IGNORED if resume else STATUS_SUCCESS


def arm_timer(
    k: KernelState,
    t: Thread,
    timer: Timer,
    due: int,
    period: int,
    apc_routine: int,
    apc_context: int,
) -> None:
    """(Re)arm ``timer``: cancel any earlier arming and make it unsignalled."""
    timer.generation += 1
    timer.state = False
    k.state_changed(timer)
    when = clamp_deadline(k.clock - due if due < 0 else max(k.clock, due - SYSTEM_TIME_BASE))
    timer.due = when
    timer.period = period
    timer.apc_routine = apc_routine
    timer.apc_context = apc_context
    timer.apc_thread = t if apc_routine else None
    timer.dpc = 0
    _schedule(k, timer, when, timer.generation)


def _schedule(k: KernelState, timer: Timer, when: int, generation: int) -> None:
    k.scheduler.at(when, lambda: _expire(k, timer, generation), kind="timer", subject=timer)


def _expire(k: KernelState, timer: Timer, generation: int) -> None:
    if timer.generation != generation or timer.destroyed:
        return
    timer.state = True
    if timer.apc_routine and timer.apc_thread is not None and not timer.apc_thread.terminated:
        now = k.system_time()
        k.queue_apc(
            timer.apc_thread,
            UserApc(timer.apc_routine, timer.apc_context, now & 0xFFFFFFFF, now >> 32),
        )
    k.signal(timer)
    if timer.dpc:
        from x360k.exports.callbacks import queue_timer_dpc

        queue_timer_dpc(k, timer)
    if timer.period and timer.due is not None and timer.due + timer.period < CLOCK_MAX:
        timer.due += timer.period
        _schedule(k, timer, timer.due, generation)
    else:
        timer.due = None


@GROUP.export(
    "NtCancelTimer",
    0xCD,
    Param("handle", K.HANDLE),
    Param("current_state", K.OUT_U32, optional=True),
)
def nt_cancel_timer(k: KernelState, t: Thread, handle: int, state_ptr: int) -> int:
    """Disarm a timer; its signal state is left as it is."""
    require(k, state_ptr)
    canary = k.quirks.cancel_timer_reports_zero
    if canary:
        write_u32(k, state_ptr, 0)
    timer = lookup_typed(k, t, handle, Timer)
    if isinstance(timer, int):
        return timer
    timer.generation += 1
    timer.due = None
    if not canary:
        write_u32(k, state_ptr, int(timer.state))
    return STATUS_SUCCESS
