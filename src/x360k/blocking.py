"""Blocking and waking threads: waits, timeouts, start delays, and signalling objects.

The kernel-side half of every wait, beside the dispatcher's rules: a wait is
satisfied at once, polled, or parked on a :class:`~x360k.dispatcher.WaitBlock`
with its timeout on the scheduler's virtual-time queue; when the dispatcher
completes it, :meth:`Blocking.wake` finishes the thread's open call (or defers
it behind the user APCs that ended an alertable wait) and makes the thread
runnable. Guest timeouts become virtual deadlines here, under both profiles'
rules, and the console's guest dispatcher headers are kept true.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from x360k.clock import SYSTEM_TIME_BASE, clamp_deadline
from x360k.dispatcher import WaitBlock, satisfy_now
from x360k.exports.registry import BLOCKED
from x360k.kernel_state import KernelParts
from x360k.memory import Backing
from x360k.objects.base import KernelObject
from x360k.objects.thread import Thread, ThreadState
from x360k.status import STATUS_ABANDONED_WAIT_0, STATUS_TIMEOUT, STATUS_USER_APC, STATUS_WAIT_0

M32: Final = 0xFFFFFFFF
#: A dispatcher header's signal_state field (written as unsigned, read by guests as LONG).
_SIGNAL_STATE: Final = struct.Struct(">I")
_BLOCKED: Final = ThreadState.BLOCKED
_READY: Final = ThreadState.READY
_TERMINATED: Final = ThreadState.TERMINATED


class Blocking:
    """Waits, wakes and signals for one kernel."""

    __slots__ = ("_offer", "_sched", "_sync_headers", "k")

    def __init__(self, k: KernelParts) -> None:
        self.k = k
        self._sched = k.scheduler
        self._offer = k.dispatcher.signal
        #: Console profile: guest dispatcher headers' signal_state follows every change.
        self._sync_headers = not k.quirks.guest_signal_state_stale

    # -- signalling ---------------------------------------------------------------------------

    def state_changed(self, obj: KernelObject) -> None:
        """Keep a guest dispatcher header's signal_state true (console profile only).

        The field's place in its region's buffer is looked up once per object and
        body: regions never move, and this runs on every signal and satisfied wait.
        """
        body = obj.body
        if body and self._sync_headers:
            cell = obj.signal_cell
            if cell is None or cell[0] != body:
                cell = self._signal_cell(obj, body)
            _SIGNAL_STATE.pack_into(cell[1], cell[2], obj.signal_state() & M32)

    def _signal_cell(self, obj: KernelObject, body: int) -> tuple[int, Backing, int]:
        buf, off = self.k.memory.span(body + 4, 4)
        cell = obj.signal_cell = (body, buf, off)
        return cell

    def signal(self, obj: KernelObject) -> None:
        """An object's state changed in a way that may satisfy waiters."""
        if obj.waiters:
            self._offer(obj)
        if self._sync_headers:
            body = obj.body
            if body:
                # ``state_changed``, inline.
                cell = obj.signal_cell
                if cell is None or cell[0] != body:
                    cell = self._signal_cell(obj, body)
                _SIGNAL_STATE.pack_into(cell[1], cell[2], obj.signal_state() & M32)

    # -- waiting ------------------------------------------------------------------------------

    def wait(
        self,
        t: Thread,
        objects: list[KernelObject],
        *,
        wait_all: bool,
        alertable: bool,
        deadline: int | None,
        finish: Callable[[int], int] | None = None,
        note: str = "",
    ) -> int:
        """Satisfy a wait now if possible, else park ``t`` (returns BLOCKED).

        ``deadline`` is a virtual time (None = forever); a deadline not after now
        makes this a poll that returns STATUS_TIMEOUT. The order of the checks is
        the NT wait loop's, which canary inherits from its Windows host: objects
        that are ready win, then user APCs already queued end an alertable wait
        with STATUS_USER_APC (after running them), then the timeout.
        """
        k = self.k
        single = len(objects) == 1
        if single:
            obj = objects[0]
            if obj.is_signalled_for(t):
                status = STATUS_ABANDONED_WAIT_0 if obj.satisfy(t) else STATUS_WAIT_0
                if self._sync_headers:
                    self.state_changed(obj)
                return finish(status) if finish is not None else status
        elif objects:
            satisfied = satisfy_now(t, objects, wait_all)
            if satisfied is not None:
                if self._sync_headers:
                    for obj in objects:
                        self.state_changed(obj)
                return finish(satisfied) if finish is not None else satisfied
        wb = WaitBlock(t, objects, wait_all, alertable, deadline, finish, note)
        if alertable and t.apcs:
            self._park(t, wb, objects_too=False)
            wb.immediate = STATUS_USER_APC
            return BLOCKED
        if deadline is not None and deadline <= k.clock:
            if k.quirks.wait_timeout_yields:
                t.yielded = True
            return finish(STATUS_TIMEOUT) if finish is not None else STATUS_TIMEOUT
        if single:
            objects[0].waiters.append(wb)
            t.wait = wb
            wb.since = k.clock
        else:
            k.dispatcher.begin(wb)
        t.state = _BLOCKED
        if k.wait_events:
            k.emit(t, "wait.begin", objects=self._wait_sids(wb))
        if deadline is not None:
            wb.timer = k.scheduler.at(
                deadline, lambda: self._time_out(wb), kind="timeout", subject=t
            )
        return BLOCKED

    def _time_out(self, wb: WaitBlock) -> None:
        if self.k.quirks.wait_timeout_yields:
            wb.thread.yielded = True
        self.k.dispatcher.complete(wb, STATUS_TIMEOUT)

    def settle_immediate(self, t: Thread) -> None:
        """End a wait that was decided while its call was being made (see ``wait``)."""
        wb = t.wait
        if wb is not None and wb.immediate is not None and t.blocked_call is not None:
            self.k.dispatcher.complete(wb, wb.immediate)

    def _park(self, t: Thread, wb: WaitBlock, *, objects_too: bool) -> None:
        # (``wait`` parks on the objects itself: this is the same, for APC-ended waits too.)
        k = self.k
        if objects_too:
            k.dispatcher.begin(wb)
        else:
            t.wait = wb
            wb.since = k.clock
        t.state = ThreadState.BLOCKED
        if k.wait_events:
            k.emit(t, "wait.begin", objects=self._wait_sids(wb))

    def _wait_sids(self, wb: WaitBlock) -> list[str]:
        sid_of = self.k.sid_of
        return [(sid_of(o.handles[0]) or "") if o.handles else "" for o in wb.objects]

    def delay(self, t: Thread, until: int) -> None:
        """Hold a new thread back until ``until`` (canary's start delay)."""
        t.state = ThreadState.DELAYED
        t.wake_at = until
        self.k.scheduler.at(until, lambda: self._end_delay(t, until), kind="start", subject=t)

    def _end_delay(self, t: Thread, until: int) -> None:
        if t.state is ThreadState.DELAYED and t.wake_at == until:
            t.wake_at = None
            self.make_runnable(t)

    # -- waking -------------------------------------------------------------------------------

    def wake(self, t: Thread, status: int, wb: WaitBlock | None = None) -> None:
        """A blocked call of ``t`` completes with ``status``; ``t`` becomes runnable."""
        k = self.k
        state = t.state
        if k.wait_events and state is _BLOCKED:
            k.emit(
                t,
                "wait.end",
                status=status & M32,
                objects=self._wait_sids(wb) if wb is not None else None,
            )
        call = t.blocked_call
        t.blocked_call = None
        if state is _TERMINATED:
            return
        if status == STATUS_USER_APC and t.apcs and call is not None:
            t.deferred = (call[0], call[1], status)
            k.push_apcs(t)
            self.make_runnable(t)
            return
        if call is None:
            t.pending = t.gpr[3] & M32
        else:
            ex = call[0]
            if k.call_recorder is None and ex.returns_status and t.return_fields is None:
                # ``finish_call``'s untraced status return, inline (most woken waits).
                status &= M32
                t.gpr[3] = status | 0xFFFFFFFF00000000 if status & 0x80000000 else status
                t.next_idx += 1
                t.pending = status
            else:
                k.finish_call(t, ex, call[1], status)
                t.pending = t.gpr[3] & M32
        if t.suspend_count > 0:
            t.state = ThreadState.SUSPENDED
            return
        t.state = _READY
        if t.program is not None:
            # ``Scheduler.make_ready``, inline when the priority's queue exists.
            sched = self._sched
            queue = sched._queues.get(t.priority)
            if queue is None:
                sched.make_ready(t)
            else:
                queue.append(t)
                sched.ready += 1

    def make_runnable(self, t: Thread) -> None:
        """``t`` may run again: ready (queued if it has a program), or suspended still."""
        if t.suspend_count > 0:
            t.state = ThreadState.SUSPENDED
            return
        t.state = ThreadState.READY
        if t.program is not None:
            self.k.scheduler.make_ready(t)

    # -- time ---------------------------------------------------------------------------------

    def system_time(self) -> int:
        """KeQuerySystemTime: 100 ns units since 1601, from the virtual clock."""
        return SYSTEM_TIME_BASE + self.k.clock

    def deadline_from(self, timeout_ptr: int, *, delay: bool = False) -> int | None:
        """A guest LARGE_INTEGER* timeout as a virtual deadline (None = forever).

        Canary (quirk ``wait_timeout_milliseconds``) converts to whole
        milliseconds: relative values truncate, positive ones are misread as a
        millisecond count, 0xFFFFFFFF ms means forever. The console keeps 100 ns
        precision and reads positive values as absolute system times.
        """
        if timeout_ptr == 0:
            return None
        k = self.k
        value = k.memory.read_s64(timeout_ptr)
        now = k.clock
        if delay and value > 0 and k.quirks.delay_ignores_absolute:
            return now
        if k.quirks.wait_timeout_milliseconds:
            if value == 0:
                return now
            ms = ((-value) // 10_000 if value < 0 else value) & M32
            if ms == M32:
                return None
            return now + ms * 10_000
        if value < 0:
            return clamp_deadline(now - value)
        return clamp_deadline(max(now, value - SYSTEM_TIME_BASE))
