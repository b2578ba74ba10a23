"""Wait blocks and the signal/satisfy rules shared by every wait export.

A wait is a :class:`WaitBlock` hung on each object it waits for. Whenever an
object may have become signalled, :meth:`Dispatcher.signal` offers it to its
waiters in arrival order; a waiter whose whole condition holds (one object for
wait-any, all of them at once for wait-all) is satisfied, the objects' side
effects are applied (auto-reset, decrement, take ownership), and the thread is
handed back to the kernel with its status. Nothing is consumed by a wait-all
unless everything is ready, which is the atomicity NT guarantees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from x360k.objects.base import KernelObject
from x360k.objects.thread import Thread
from x360k.status import STATUS_ABANDONED_WAIT_0, STATUS_WAIT_0

if TYPE_CHECKING:
    from x360k.quirks import Quirks
    from x360k.scheduler import TimedEntry


@dataclass(slots=True, eq=False)
class WaitBlock:
    """One thread's outstanding wait."""

    thread: Thread
    objects: list[KernelObject]
    wait_all: bool
    alertable: bool
    #: Virtual time at which the wait times out (None = never).
    deadline: int | None
    #: Turns the raw wait status into the export's status (and writes its outputs).
    finish: Callable[[int], int] | None = None
    #: Export-specific note for wedge reports (e.g. "critical section 0x40001000").
    note: str = ""
    since: int = 0
    done: bool = False
    timer: TimedEntry | None = None
    #: A status the wait ends with as soon as its call is marked blocked (an alertable
    #: wait that finds user APCs already queued).
    immediate: int | None = None


def satisfy_now(thread: Thread, objects: list[KernelObject], wait_all: bool) -> int | None:
    """The status if a wait by ``thread`` can be satisfied now (side effects applied), else None.

    Wait-any takes the lowest-indexed signalled object only; wait-all checks
    every object before touching any, so nothing is consumed unless all are ready.
    """
    if len(objects) == 1:
        obj = objects[0]
        if obj.is_signalled_for(thread):
            return STATUS_ABANDONED_WAIT_0 if obj.satisfy(thread) else STATUS_WAIT_0
        return None
    if wait_all:
        for obj in objects:
            if not obj.is_signalled_for(thread):
                return None
        abandoned = False
        for obj in objects:
            abandoned |= obj.satisfy(thread)
        return STATUS_ABANDONED_WAIT_0 if abandoned else STATUS_WAIT_0
    for index, obj in enumerate(objects):
        if obj.is_signalled_for(thread):
            return (STATUS_ABANDONED_WAIT_0 if obj.satisfy(thread) else STATUS_WAIT_0) + index
    return None


def try_satisfy(wb: WaitBlock) -> int | None:
    """:func:`satisfy_now` for a wait block."""
    return satisfy_now(wb.thread, wb.objects, wb.wait_all)


class WaitHost(Protocol):
    """What the dispatcher needs of the kernel: the clock, the quirks, and waking a thread."""

    clock: int
    quirks: Quirks

    def state_changed(self, obj: KernelObject) -> None: ...
    def wake(self, t: Thread, status: int, wb: WaitBlock | None = None) -> None: ...


class Dispatcher:
    """Hangs waits on objects and completes them when objects are signalled."""

    def __init__(self, kernel: WaitHost) -> None:
        self.kernel = kernel

    def begin(self, wb: WaitBlock) -> None:
        """Park ``wb.thread`` on the block's objects (the caller found it not satisfiable now)."""
        objects = wb.objects
        if len(objects) == 1:
            objects[0].waiters.append(wb)
        else:
            seen: set[int] = set()
            for obj in objects:
                if id(obj) not in seen:
                    seen.add(id(obj))
                    obj.waiters.append(wb)
        wb.thread.wait = wb
        wb.since = self.kernel.clock

    def signal(self, obj: KernelObject) -> None:
        """``obj`` may now be signalled: satisfy its waiters in arrival order while it stays so.

        ``obj``'s own guest header is left to the caller to refresh once, after
        all its waiters (``Blocking.signal`` does): a wait on ``obj`` alone that
        this satisfies does not write it on the way.
        """
        waiters = obj.waiters
        if not waiters:
            return
        for wb in list(waiters) if len(waiters) > 1 else (waiters[0],):
            thread = wb.thread
            if wb.done or not obj.is_signalled_for(thread):
                continue
            if len(wb.objects) == 1:
                # A wait on this object alone (the common case): ``complete``, inline.
                status = STATUS_ABANDONED_WAIT_0 if obj.satisfy(thread) else STATUS_WAIT_0
                wb.done = True
                waiters.remove(wb)  # there: whatever takes a wait off its objects marks it done
                thread.wait = None
                if wb.timer is not None:
                    wb.timer.cancelled = True
                if wb.finish is not None:
                    status = wb.finish(status)
                self.kernel.wake(thread, status, wb)
                continue
            satisfied = satisfy_now(thread, wb.objects, wb.wait_all)
            if satisfied is not None:
                self.complete(wb, satisfied)

    def detach(self, wb: WaitBlock) -> None:
        """Take a wait off its objects and its thread, and cancel its timeout."""
        wb.done = True
        for obj in wb.objects:
            if wb in obj.waiters:
                obj.waiters.remove(wb)
        wb.thread.wait = None
        if wb.timer is not None:
            wb.timer.cancelled = True

    def complete(self, wb: WaitBlock, status: int) -> None:
        """End a wait with ``status`` (satisfied, timed out or alerted) and wake its thread."""
        if wb.done:
            return
        objects = wb.objects
        if len(objects) == 1:
            # ``detach`` for the common single-object wait, inline.
            wb.done = True
            waiters = objects[0].waiters
            if wb in waiters:
                waiters.remove(wb)
            wb.thread.wait = None
            if wb.timer is not None:
                wb.timer.cancelled = True
        else:
            self.detach(wb)
        k = self.kernel
        if not k.quirks.guest_signal_state_stale:
            for obj in wb.objects:
                k.state_changed(obj)
        if wb.finish is not None:
            status = wb.finish(status)
        k.wake(wb.thread, status, wb)
