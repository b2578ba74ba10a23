"""User APCs: queued on a thread, run as a nested program on top of what it was running.

An alertable wait in progress ends with STATUS_USER_APC when an APC is queued;
the APC routines then run (FIFO, draining the queue as they go) before the
interrupted wait's ``kernel.return``, which is deferred until they end.
"""

from __future__ import annotations

from x360k.kernel_state import KernelParts
from x360k.objects.thread import Program, Thread, UserApc
from x360k.status import STATUS_USER_APC


class Apcs:
    """Queues and delivers user APCs for one kernel."""

    __slots__ = ("k",)

    def __init__(self, k: KernelParts) -> None:
        self.k = k

    def queue_apc(self, t: Thread, apc: UserApc) -> None:
        """Queue a user APC; an alertable wait in progress ends with STATUS_USER_APC."""
        t.apcs.append(apc)
        wb = t.wait
        if wb is not None and wb.alertable and not wb.done:
            self.k.dispatcher.complete(wb, STATUS_USER_APC)

    def _apc_chain(self, t: Thread) -> Program:
        k = self.k
        apcs = t.apcs
        while apcs:
            apc = apcs.popleft()
            program = k.program_for(t, apc.routine, (apc.context, apc.arg1, apc.arg2))
            k.emit(t, "marker", text=f"apc 0x{apc.routine:08x}", entry=apc.routine)
            if program is not None:
                yield from program
        return None

    def push_apcs(self, t: Thread) -> None:
        """Run ``t``'s queued user APCs (FIFO) on top of whatever it was running.

        The APC routines form one program pushed over the thread's own (None for
        a thread driven by ``Kernel.call``); it drains the queue as it runs, so
        APCs queued before the thread gets the CPU run too. When it ends, the
        interrupted program resumes and a deferred wait status is returned to it.
        """
        t.started = True
        t.program_stack.append(t.program)
        t.program = self._apc_chain(t)
        t.pending = None

    def finish_deferred(self, t: Thread) -> None:
        """The APCs that ended ``t``'s wait have run: the wait's call returns now."""
        if t.deferred is not None:
            ex, call_id, status = t.deferred
            t.deferred = None
            self.k.finish_call(t, ex, call_id, status)
            t.pending = t.gpr[3] & 0xFFFFFFFF
