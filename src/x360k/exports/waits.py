"""Wait exports by handle, delays, yielding, user APCs and the clock queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.clock import PERFORMANCE_FREQUENCY
from x360k.exports.common import lookup_typed
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.objects.base import KernelObject
from x360k.objects.event import Event
from x360k.objects.mutant import Mutant
from x360k.objects.semaphore import Semaphore
from x360k.objects.thread import Thread as ThreadObject
from x360k.objects.thread import UserApc
from x360k.status import (
    STATUS_ABANDONED_WAIT_0,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1,
    STATUS_INVALID_PARAMETER_3,
    STATUS_INVALID_PARAMETER_MIX,
    STATUS_MUTANT_LIMIT_EXCEEDED,
    STATUS_MUTANT_NOT_OWNED,
    STATUS_NO_YIELD_PERFORMED,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SEMAPHORE_LIMIT_EXCEEDED,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_UNSUCCESSFUL,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("waits")

MAXIMUM_WAIT_OBJECTS: Final = 64
WAIT_ALL: Final = 0
WAIT_ANY: Final = 1


def waitable(k: KernelState, obj: KernelObject) -> bool:
    """Whether a wait may block on ``obj``: a dispatcher object or (console) a default one."""
    return obj.WAITABLE or (
        obj.DEFAULT_OBJECT and not k.quirks.unwaitable_objects_satisfy_single_waits
    )


#: A mutant's SignalState at the recursion limit (MINLONG): recursion 2**31 + 1.
MUTANT_LIMIT_SIGNAL_STATE: Final = -0x80000000


def mutant_limit_reached(k: KernelState, t: Thread, objects: list[KernelObject]) -> bool:
    """Console: a wait by the owner of a mutant already at NT's recursion limit is refused.

    NT raises STATUS_MUTANT_LIMIT_EXCEEDED rather than wrap the LONG; x360k
    returns it. Canary's host mutex has no such limit.
    """
    if k.quirks.mutant_recursion_unlimited:
        return False
    return any(
        isinstance(obj, Mutant)
        and obj.owner is t
        and obj.signal_state() <= MUTANT_LIMIT_SIGNAL_STATE
        for obj in objects
    )


def _unwaitable(k: KernelState, single: bool, wait_any: bool) -> int:
    """What waiting on an object without a signal state gives, per profile."""
    if not k.quirks.unwaitable_objects_satisfy_single_waits:
        return STATUS_OBJECT_TYPE_MISMATCH
    if single:
        return STATUS_SUCCESS
    return STATUS_UNSUCCESSFUL if wait_any else STATUS_ABANDONED_WAIT_0


@GROUP.export(
    "NtWaitForSingleObjectEx",
    0xFD,
    Param("handle", K.HANDLE),
    Param("wait_mode", K.U32),
    Param("alertable", K.BOOL),
    Param("timeout", K.TIMEOUT, optional=True),
)
def nt_wait_for_single_object_ex(
    k: KernelState, t: Thread, handle: int, mode: int, alertable: int, timeout_ptr: int
) -> int:
    """Wait for one object; STATUS_WAIT_0, STATUS_TIMEOUT, STATUS_USER_APC or abandoned."""
    obj = k.table.lookup(handle, t)
    if obj is None:
        return STATUS_INVALID_HANDLE
    deadline = k.deadline_from(timeout_ptr) if timeout_ptr else None
    if not obj.WAITABLE and not waitable(k, obj):
        return _unwaitable(k, single=True, wait_any=False)
    objects = [obj]
    if isinstance(obj, Mutant) and mutant_limit_reached(k, t, objects):
        return STATUS_MUTANT_LIMIT_EXCEEDED
    return k.wait(t, objects, wait_all=False, alertable=alertable != 0, deadline=deadline)


@GROUP.export(
    "NtWaitForMultipleObjectsEx",
    0xFE,
    Param("count", K.U32),
    Param("handles", K.HANDLE_ARRAY),
    Param("wait_type", K.U32),
    Param("wait_mode", K.U32),
    Param("alertable", K.BOOL),
    Param("timeout", K.TIMEOUT, optional=True),
)
def nt_wait_for_multiple_objects_ex(
    k: KernelState,
    t: Thread,
    count: int,
    array: int,
    wait_type: int,
    mode: int,
    alertable: int,
    timeout_ptr: int,
) -> int:
    """Wait for any (1) or all (0) of up to 64 objects."""
    bad = bad_wait_parameters(k, count, wait_type)
    if bad:
        return bad
    handles = [k.memory.read_u32(array + 4 * i) for i in range(count)]
    objects: list[KernelObject] = []
    for handle in handles:
        obj = k.table.lookup(handle, t)
        if obj is None:
            if k.quirks.multi_wait_invalid_handle_parameter:
                return STATUS_INVALID_PARAMETER
            return STATUS_INVALID_HANDLE
        objects.append(obj)
    return wait_for_objects(
        k, t, objects, wait_type == WAIT_ANY, bool(alertable), k.deadline_from(timeout_ptr)
    )


def bad_wait_parameters(k: KernelState, count: int, wait_type: int | None) -> int:
    """The status a multiple wait refuses its count or wait type with, or 0 if they are good.

    Canary says STATUS_INVALID_PARAMETER for both; NT names the argument:
    STATUS_INVALID_PARAMETER_1 for the count, STATUS_INVALID_PARAMETER_3 for
    the wait type. ``wait_type`` None skips the type check (a Ke wait, where
    any non-zero type means wait-any).
    """
    generic = k.quirks.wait_parameter_status_generic
    if count == 0 or count > MAXIMUM_WAIT_OBJECTS:
        return STATUS_INVALID_PARAMETER if generic else STATUS_INVALID_PARAMETER_1
    if wait_type is not None and wait_type not in (WAIT_ALL, WAIT_ANY):
        return STATUS_INVALID_PARAMETER if generic else STATUS_INVALID_PARAMETER_3
    return 0


def wait_for_objects(
    k: KernelState,
    t: Thread,
    objects: list[KernelObject],
    wait_any: bool,
    alertable: bool,
    deadline: int | None,
) -> int:
    """The checks a multiple wait makes before it waits (shared with KeWaitForMultipleObjects)."""
    if any(not waitable(k, obj) for obj in objects):
        return _unwaitable(k, single=False, wait_any=wait_any)
    if not wait_any and len({id(o) for o in objects}) != len(objects):
        if k.quirks.wait_all_duplicate_abandoned:
            return STATUS_ABANDONED_WAIT_0
        return STATUS_INVALID_PARAMETER_MIX
    if mutant_limit_reached(k, t, objects):
        return STATUS_MUTANT_LIMIT_EXCEEDED
    return k.wait(t, objects, wait_all=not wait_any, alertable=alertable, deadline=deadline)


def signal_object(k: KernelState, t: Thread, obj: KernelObject) -> int:
    """The 'signal' half of NtSignalAndWaitForSingleObjectEx: STATUS_SUCCESS or NT's reason.

    An event is set, a semaphore released by one, a mutant released once by its
    owner; anything else cannot be signalled. On failure nothing changes.
    """
    if isinstance(obj, Event):
        obj.state = True
    elif isinstance(obj, Semaphore):
        if obj.count + 1 > obj.maximum:
            return STATUS_SEMAPHORE_LIMIT_EXCEEDED
        obj.count += 1
    elif isinstance(obj, Mutant):
        if obj.owner is not t:
            return STATUS_MUTANT_NOT_OWNED
        obj.release()
    else:
        return STATUS_OBJECT_TYPE_MISMATCH
    k.signal(obj)
    return STATUS_SUCCESS


@GROUP.export(
    "NtSignalAndWaitForSingleObjectEx",
    0xFB,
    Param("signal_handle", K.HANDLE),
    Param("wait_handle", K.HANDLE),
    Param("alertable", K.BOOL),
    Param("unknown", K.U32),
    Param("timeout", K.TIMEOUT, optional=True),
)
def nt_signal_and_wait_for_single_object_ex(
    k: KernelState,
    t: Thread,
    signal_handle: int,
    wait_handle: int,
    alertable: int,
    unknown: int,
    timeout_ptr: int,
) -> int:
    """Signal one object and wait on another as one step (no thread runs in between)."""
    to_signal = k.table.lookup(signal_handle, t)
    to_wait = k.table.lookup(wait_handle, t)
    if to_signal is None or to_wait is None:
        return STATUS_INVALID_HANDLE
    deadline = k.deadline_from(timeout_ptr)
    canary = k.quirks.signal_and_wait_failure_abandoned
    if not waitable(k, to_wait):
        return STATUS_ABANDONED_WAIT_0 if canary else STATUS_OBJECT_TYPE_MISMATCH
    failed = signal_object(k, t, to_signal)
    if failed != STATUS_SUCCESS:
        return STATUS_ABANDONED_WAIT_0 if canary else failed
    return k.wait(
        t,
        [to_wait],
        wait_all=False,
        alertable=bool(alertable),
        deadline=deadline,
    )


@GROUP.export(
    "KeDelayExecutionThread",
    0x5A,
    Param("wait_mode", K.U32),
    Param("alertable", K.BOOL),
    Param("interval", K.TIMEOUT),
)
def ke_delay_execution_thread(
    k: KernelState, t: Thread, mode: int, alertable: int, interval_ptr: int
) -> int:
    """Sleep for a relative interval (or until an absolute time, console only)."""
    if interval_ptr == 0:
        return STATUS_INVALID_PARAMETER
    deadline = k.deadline_from(interval_ptr, delay=True)
    if deadline is None or deadline <= k.clock:
        # A zero-length delay is a yield.
        if alertable and t.apcs:
            return k.wait(t, [], wait_all=False, alertable=True, deadline=k.clock)
        t.yielded = True
        return STATUS_SUCCESS

    def finish(status: int) -> int:
        return STATUS_SUCCESS if status == STATUS_TIMEOUT else status

    return k.wait(
        t,
        [],
        wait_all=False,
        alertable=bool(alertable),
        deadline=deadline,
        finish=finish,
        note="delay",
    )


@GROUP.export("NtYieldExecution", 0x101)
def nt_yield_execution(k: KernelState, t: Thread) -> int:
    """Give the rest of the quantum to another ready thread."""
    t.yielded = True
    if not k.quirks.yield_always_succeeds and not k.scheduler.any_ready():
        return STATUS_NO_YIELD_PERFORMED
    return STATUS_SUCCESS


@GROUP.export(
    "NtQueueApcThread",
    0xE3,
    Param("thread", K.HANDLE),
    Param("apc_routine", K.ROUTINE),
    Param("apc_context", K.CONTEXT),
    Param("argument1", K.U32),
    Param("argument2", K.U32),
)
def nt_queue_apc_thread(
    k: KernelState, t: Thread, handle: int, routine: int, context: int, arg1: int, arg2: int
) -> int:
    """Queue a user APC; it runs at the target's next alertable wait."""
    target = lookup_typed(k, t, handle, ThreadObject)
    if isinstance(target, int):
        return target
    if target.terminated:
        return STATUS_UNSUCCESSFUL
    k.queue_apc(target, UserApc(routine, context, arg1, arg2))
    return STATUS_SUCCESS


@GROUP.export("KeQuerySystemTime", 0x84, Param("current_time", K.PTR), returns=Returns.VOID)
def ke_query_system_time(k: KernelState, t: Thread, time_ptr: int) -> int:
    """Write the virtual system time (100 ns since 1601) to a LARGE_INTEGER."""
    k.memory.write_u64(time_ptr, k.system_time())
    return 0


@GROUP.export("KeQueryPerformanceFrequency", 0x83, returns=Returns.VALUE)
def ke_query_performance_frequency(k: KernelState, t: Thread) -> int:
    """The 50 MHz time base."""
    return PERFORMANCE_FREQUENCY


@GROUP.export("KeQueryInterruptTime", 0x82, returns=Returns.VALUE)
def ke_query_interrupt_time(k: KernelState, t: Thread) -> int:
    """Virtual time since start in 100 ns units."""
    return k.clock
