"""Thread exports: creation, termination, suspension, priorities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.common import lookup_typed, require, write_u32
from x360k.exports.registry import BLOCKED, ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.objects.thread import Thread as ThreadObject
from x360k.objects.thread import ThreadState
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_NO_MEMORY,
    STATUS_SUCCESS,
    STATUS_THREAD_IS_TERMINATING,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("threads")

CREATE_SUSPENDED: Final = 0x1
#: ExCreateThread flag: the out pointer receives the KTHREAD address, not a handle.
CREATE_RETURN_KTHREAD: Final = 0x80
KTHREAD_SUSPEND_COUNT: Final = 0xBC


@GROUP.export(
    "ExCreateThread",
    0x0D,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("stack_size", K.U32),
    Param("thread_id", K.OUT_U32, optional=True),
    Param("xapi_thread_startup", K.ROUTINE, optional=True),
    Param("start_address", K.ROUTINE),
    Param("start_context", K.CONTEXT),
    Param("creation_flags", K.U32),
)
def ex_create_thread(
    k: KernelState,
    t: Thread,
    handle_ptr: int,
    stack_size: int,
    id_ptr: int,
    xapi_startup: int,
    start: int,
    context: int,
    flags: int,
) -> int:
    """Create a thread running a start routine (through XapiThreadStartup when given)."""
    require(k, handle_ptr)
    require(k, id_ptr)
    try:
        child = k.create_thread(
            start,
            context,
            suspended=bool(flags & CREATE_SUSPENDED),
            creator=t,
            stack_size=stack_size,
            startup=xapi_startup,
        )
    except MemoryError:  # the stack (or KTHREAD, PCR) does not fit: nothing was written
        return STATUS_NO_MEMORY
    out = child.kthread if flags & CREATE_RETURN_KTHREAD else child.handles[0]
    write_u32(k, handle_ptr, out)
    write_u32(k, id_ptr, child.thread_id)
    return STATUS_SUCCESS


@GROUP.export("ExTerminateThread", 0x19, Param("exit_code", K.U32), returns=Returns.VOID)
def ex_terminate_thread(k: KernelState, t: Thread, exit_code: int) -> int:
    """End the calling thread; never returns to it."""
    k.exit_thread(t, exit_code)
    return BLOCKED


def _suspend(k: KernelState, t: Thread, target: ThreadObject) -> int | tuple[int, int]:
    """One more suspension: (status, previous count) or a failure status.

    The thread stops at its next call boundary (at once if it is the caller).
    Under canary the count reported is the guest KTHREAD byte, which a resume of
    a running thread has wrapped to 255 (quirk ``resume_wraps_suspend_count``).
    """
    if target is not t and target.terminated:
        return STATUS_THREAD_IS_TERMINATING
    count_at = target.kthread + KTHREAD_SUSPEND_COUNT
    if k.quirks.resume_wraps_suspend_count:
        previous = k.memory.read_u8(count_at)
    else:
        previous = target.suspend_count
    target.suspend_count += 1
    k.memory.write_u8(count_at, (previous + 1) & 0xFF)
    if target.state is ThreadState.READY:
        k.scheduler.discard(target)
        target.state = ThreadState.SUSPENDED
    elif target.state is ThreadState.RUNNING:
        target.state = ThreadState.SUSPENDED
    return STATUS_SUCCESS, previous


def _resume(k: KernelState, target: ThreadObject) -> int:
    """One suspension less; returns the previous count. At zero the thread runs again."""
    count_at = target.kthread + KTHREAD_SUSPEND_COUNT
    if k.quirks.resume_wraps_suspend_count:
        previous = k.memory.read_u8(count_at)
        k.memory.write_u8(count_at, (previous - 1) & 0xFF)
    else:
        previous = target.suspend_count
    if target.suspend_count == 0:
        return previous
    target.suspend_count -= 1
    if not k.quirks.resume_wraps_suspend_count:
        k.memory.write_u8(count_at, target.suspend_count)
    if target.suspend_count == 0 and target.state is ThreadState.SUSPENDED:
        if not target.launched:
            k.start_thread(target)
        else:
            k.make_runnable(target)
    return previous


@GROUP.export(
    "NtSuspendThread",
    0xFC,
    Param("handle", K.HANDLE),
    Param("previous_count", K.OUT_U32, optional=True),
)
def nt_suspend_thread(k: KernelState, t: Thread, handle: int, prev_ptr: int) -> int:
    """Add one to a thread's suspend count; it stops at its next call boundary."""
    require(k, prev_ptr)
    target = lookup_typed(k, t, handle, ThreadObject)
    if isinstance(target, int):
        return target
    result = _suspend(k, t, target)
    if isinstance(result, int):
        return result
    write_u32(k, prev_ptr, result[1])
    return result[0]


@GROUP.export(
    "NtResumeThread",
    0xF5,
    Param("handle", K.HANDLE),
    Param("previous_count", K.OUT_U32, optional=True),
)
def nt_resume_thread(k: KernelState, t: Thread, handle: int, prev_ptr: int) -> int:
    """Take one from a thread's suspend count; at zero it runs again."""
    require(k, prev_ptr)
    target = lookup_typed(k, t, handle, ThreadObject)
    if isinstance(target, int):
        return target
    write_u32(k, prev_ptr, _resume(k, target))
    return STATUS_SUCCESS


def _by_kthread(k: KernelState, ptr: int) -> ThreadObject | None:
    return k.threads_by_kthread.get(ptr)


@GROUP.export("KeResumeThread", 0x92, Param("thread", K.KOBJECT))
def ke_resume_thread(k: KernelState, t: Thread, ptr: int) -> int:
    """NtResumeThread through a KTHREAD pointer."""
    target = _by_kthread(k, ptr)
    if target is None:
        return STATUS_INVALID_HANDLE
    _resume(k, target)
    return STATUS_SUCCESS


@GROUP.export("KeSuspendThread", 0xA9, Param("thread", K.KOBJECT), returns=Returns.VALUE)
def ke_suspend_thread(k: KernelState, t: Thread, ptr: int) -> int:
    """NtSuspendThread through a KTHREAD pointer; returns the previous count."""
    target = _by_kthread(k, ptr)
    if target is None:
        return 0
    result = _suspend(k, t, target)
    return 0 if isinstance(result, int) else result[1]


@GROUP.export(
    "KeSetBasePriorityThread",
    0x99,
    Param("thread", K.KOBJECT),
    Param("increment", K.S32),
    returns=Returns.VALUE,
)
def ke_set_base_priority_thread(k: KernelState, t: Thread, ptr: int, increment: int) -> int:
    """Set a thread's priority; returns the previous one."""
    target = _by_kthread(k, ptr)
    if target is None:
        return 0
    previous = target.priority
    value = increment - (1 << 32) if increment & 0x80000000 else increment
    if target.state is ThreadState.READY:
        k.scheduler.discard(target)
        target.priority = value
        k.scheduler.make_ready(target)
    else:
        target.priority = value
    k.memory.write_u8(target.kthread + 0x70, value & 0xFF)
    return previous & 0xFFFFFFFF


@GROUP.export("KeQueryBasePriorityThread", 0x81, Param("thread", K.KOBJECT), returns=Returns.VALUE)
def ke_query_base_priority_thread(k: KernelState, t: Thread, ptr: int) -> int:
    """A thread's priority."""
    target = _by_kthread(k, ptr)
    return 0 if target is None else target.priority & 0xFFFFFFFF
