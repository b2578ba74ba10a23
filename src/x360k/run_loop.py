"""The run loop, on top of the scheduler: slices, idling to the next deadline, and wedges.

``Kernel.run`` picks the ready thread the scheduler names, runs its program
for one slice (until it blocks, yields, ends, is preempted or spends its
quantum of calls), fires timed actions as they fall due, and when nothing is
ready jumps the virtual clock to the next deadline that could still wake a
thread, or stops with a wedge. ``Kernel.call`` blocking on a thread it drives
runs the other threads the same way until its call completes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from x360k.call_plans import Plan
from x360k.exports.registry import BLOCKED, Export
from x360k.kernel_state import KernelParts
from x360k.objects.base import KernelObject
from x360k.objects.thread import Thread, ThreadState
from x360k.scheduler import QUANTUM

M32: Final = 0xFFFFFFFF
#: What a program yields as its export to give up the CPU without a kernel call (no event,
#: no clock cost here): the CPU runtime's instruction budget ran out.
PREEMPT: Final = -1
#: What a program yields as its export after making a call itself (``Kernel.serve_call``)
#: that did not let it run on: its args are ``(verdict,)``, and the run loop follows the
#: verdict up exactly as for a yielded call, without making the call again.
SERVED: Final = -2
#: ``serve_call`` verdicts besides BLOCKED: the slice ends, or goes on with the same program.
SLICE_ENDS: Final = 0
SLICE_GOES_ON: Final = 1
#: A call count no run reaches: the call bound of a slice without a call limit.
NO_CALL_LIMIT: Final = 1 << 62
#: A clock no run reaches: ``run``'s time bound without ``max_time``.
NO_TIME_LIMIT: Final = 1 << 62
_RUNNING: Final = ThreadState.RUNNING
_READY: Final = ThreadState.READY


class WedgeError(RuntimeError):
    """A thread driven by ``Kernel.call`` blocked and nothing left could ever wake it."""

    def __init__(self, report: Any) -> None:
        super().__init__(report.render_text())
        self.report = report


@dataclass(slots=True)
class RunResult:
    """How ``Kernel.run`` ended."""

    #: "fault": a GuestFault stopped it (raised by ``run``; callers that catch it record this).
    outcome: Literal["finished", "wedge", "limit", "fault"]
    calls: int
    clock: int
    wedge: Any = None  # x360k.wedge.WedgeReport when outcome == "wedge"


def _wedge_report(k: KernelParts) -> Any:
    from x360k.wedge import build_wedge_report

    return build_wedge_report(k)


class RunLoop:
    """Runs the thread programs of one kernel on its scheduler."""

    __slots__ = (
        "_call_bound",
        "_interrupt_idle_since",
        "_plans",
        "_quantum_left",
        "_sched",
        "_slice_until",
        "k",
    )

    def __init__(self, k: KernelParts, plans: Mapping[str | int, Plan]) -> None:
        self.k = k
        self._sched = k.scheduler
        #: The call path's plans by export name or ordinal (filled by ``k.plan_for``).
        self._plans = plans
        #: The running slice's calls left in its quantum, and the call count at which it ends
        #: (its call limit, NO_CALL_LIMIT for none): ``after_call`` and the CPU plans.
        self._quantum_left = 0
        self._call_bound = NO_CALL_LIMIT
        #: For a slice ``run`` started: the clock at which ``run`` stops (its ``max_time``,
        #: or NO_TIME_LIMIT); None for one whose caller looks between slices itself.
        self._slice_until: int | None = None
        #: Since when only interrupt ticks could move the run on (x360k.kernel_workers).
        self._interrupt_idle_since: int | None = None

    def run(self, *, max_calls: int | None = None, max_time: int | None = None) -> RunResult:
        """Run every thread program until all end, a wedge, or a limit on calls or virtual time."""
        k = self.k
        call_bound = NO_CALL_LIMIT if max_calls is None else k.calls + max_calls
        sched = k.scheduler
        run_slice = self._run_slice
        until = NO_TIME_LIMIT if max_time is None else max_time
        while True:
            if k.calls >= call_bound:
                return RunResult("limit", k.calls, k.clock)
            t = sched.pick()
            if t is None:
                outcome = self._idle(max_time)
                if outcome is None:
                    continue
                if outcome == "wedge":
                    return RunResult("wedge", k.calls, k.clock, _wedge_report(k))
                return RunResult(outcome, k.calls, k.clock)
            if not t.system:
                self._interrupt_idle_since = None
            run_slice(t, call_bound, until)
            timed = sched._timed
            if timed and timed[0].when <= k.clock:
                sched.fire_due(k.clock)
            if max_time is not None and k.clock >= max_time:
                return RunResult("limit", k.calls, k.clock)

    def _idle(self, max_time: int | None) -> Literal["finished", "wedge", "limit"] | None:
        """No thread is ready: jump the clock to the next deadline, or say why we stop.

        Time only helps if something due can still wake a thread: armed timers
        that nobody waits on (and that queue no APC for an alertable waiter) fire
        for ever without changing anything, so they do not keep a wedge alive.
        """
        k = self.k
        deadline = k.scheduler.next_deadline()
        if deadline is not None and self._time_can_help():
            if max_time is not None and deadline > max_time:
                k.clock = max(k.clock, max_time)
                return "limit"
            k.clock = max(k.clock, deadline)
            k.scheduler.fire_due(k.clock)
            return None
        alive = [
            t for t in k.threads if not t.system and (t.program is not None or t.program_stack)
        ]
        if not alive:
            return "finished"
        return "wedge"

    def _time_can_help(self) -> bool:
        """Whether any pending timed action could make a thread runnable.

        Interrupt ticks (and timers with a DPC) run guest routines that might:
        they help within the limits of :func:`x360k.kernel_workers.interrupts_keep_alive`.
        """
        timers: list[KernelObject] = []
        interrupts = False
        for entry in self.k.scheduler.timed_entries():
            if entry.kind == "interrupt":
                interrupts = True
                continue
            if entry.kind != "timer":
                return True
            if getattr(entry.subject, "dpc", 0):
                interrupts = True
            timers.append(entry.subject)
        for t in self.k.threads:
            wb = t.wait
            if wb is None or wb.done or t.terminated:
                continue
            if wb.alertable and any(getattr(x, "apc_thread", None) is t for x in timers):
                return True
            hit = [o for o in wb.objects if any(o is x for x in timers)]
            if not hit:
                continue
            if not wb.wait_all:
                return True
            if all(o.is_signalled_for(t) or any(o is x for x in timers) for o in wb.objects):
                return True
        return interrupts and self._interrupts_can_help()

    def _interrupts_can_help(self) -> bool:
        from x360k.kernel_workers import interrupts_keep_alive

        k = self.k
        if self._interrupt_idle_since is None:
            self._interrupt_idle_since = k.clock
        return interrupts_keep_alive(k, self._interrupt_idle_since)

    def _run_slice(self, t: Thread, call_bound: int, until: int | None = None) -> None:
        """Run ``t`` until it blocks, yields, ends, is preempted or uses its quantum.

        ``call_bound``: the call count at which the slice ends (NO_CALL_LIMIT: none).
        ``until``: ``run``'s time bound, when ``run`` is the caller (see ``roll_over``).
        """
        k = self.k
        k.current = t
        t.state = _RUNNING
        t.yielded = False
        if not t.started:
            t.started = True
            if t.apcs:
                # APCs queued before the thread first ran are delivered as it starts.
                k.push_apcs(t)
        plans = self._plans
        sched = self._sched
        outer = self._quantum_left, self._call_bound, self._slice_until
        self._quantum_left = QUANTUM
        self._call_bound = call_bound
        self._slice_until = until
        try:
            while True:
                program = t.program
                if program is None:
                    return
                status = t.pending
                t.pending = None
                try:
                    if status is None:
                        export, args = next(program)
                    else:
                        export, args = program.send(status)
                except StopIteration as stop:
                    if t.program_stack:
                        t.program = t.program_stack.pop()
                        k.finish_deferred(t)
                        if t.program is None:
                            # A Kernel.call-driven thread has run its APCs; its call returns.
                            t.state = ThreadState.READY
                            return
                        continue
                    code = stop.value if isinstance(stop.value, int) else 0
                    k.exit_thread(t, code)
                    return
                plan = plans.get(export)
                if plan is None:
                    # Not a call made before: PREEMPT, SERVED, or an export's first call.
                    if export == PREEMPT:
                        break
                    if export == SERVED:
                        verdict = args[0]
                        if verdict == BLOCKED:
                            if t.wait is not None and t.wait.immediate is not None:
                                k.settle_immediate(t)
                            return
                        if verdict == SLICE_ENDS:
                            break
                        continue
                    plan = k.plan_for(export)
                result = plan(t, args)
                if result is None:
                    result = k.generic_call(t, export, args)
                if result == BLOCKED:
                    wb = t.wait
                    if wb is not None and wb.immediate is not None:
                        k.settle_immediate(t)
                    return
                # ``after_call``, inline (``result`` is r3 as unsigned).
                t.pending = result
                if t.state is not _RUNNING or t.yielded:
                    break
                quantum = self._quantum_left = self._quantum_left - 1
                priorities = sched._priorities
                if priorities and priorities[0] > t.priority and sched.higher_ready(t.priority):
                    break
                if k.calls >= call_bound:
                    break
                timed = sched._timed
                if timed and timed[0].when <= k.clock:
                    sched.fire_due(k.clock)
                if quantum <= 0:
                    break
        finally:
            k.current = None
            self._quantum_left, self._call_bound, self._slice_until = outer
        if t.state is _RUNNING:
            t.state = _READY
            sched.make_ready(t)

    def after_call(self, t: Thread) -> int:
        """A call of the running thread ``t`` completed: whether its slice goes on.

        The per-call rules of a slice, in one place for ``_run_slice`` and
        ``serve_call``: r3 becomes the value the program receives; the slice
        ends when ``t`` stopped running, yielded, a higher-priority thread is
        ready, the call limit or the quantum is reached; otherwise timed actions
        now due run first. Ending with ``t`` still RUNNING puts it back in the
        ready queue.
        """
        t.pending = t.gpr[3] & M32
        if t.state is not _RUNNING:
            return SLICE_ENDS
        quantum = self._quantum_left = self._quantum_left - 1
        sched = self._sched
        if t.yielded:
            return SLICE_ENDS
        # Only a priority above t's can preempt it: none exists, no need to look.
        priorities = sched._priorities
        if priorities and priorities[0] > t.priority and sched.higher_ready(t.priority):
            return SLICE_ENDS
        k = self.k
        if k.calls >= self._call_bound:
            return SLICE_ENDS
        timed = sched._timed
        if timed and timed[0].when <= k.clock:
            sched.fire_due(k.clock)
        return SLICE_GOES_ON if quantum > 0 else SLICE_ENDS

    def roll_over(self, t: Thread) -> bool:
        """Start the running thread ``t``'s next slice in place, if that is all ``run`` would do.

        For a program that serves its calls itself (the CPU runtime: leaving its
        slice means stopping and restarting unicorn, which costs more than a
        call), asked when ``after_call`` ended the slice. If the quantum was the
        only reason (``t`` still running, not yielded, no thread ready, nothing
        timed), ``run`` started the slice, and ``run`` would not stop between
        slices (call limit, ``max_time``), then ``run`` would put ``t`` back in
        the ready queue, pick it again at once and start its next slice: this
        does the same here (a fresh quantum, the idle-interrupt clock reset) and
        returns True; the program goes on as on SLICE_GOES_ON. False otherwise,
        having changed nothing. A slice ``drive_until_unblocked`` started never
        rolls over: its caller looks at its own thread between slices.
        """
        until = self._slice_until
        k = self.k
        sched = self._sched
        if (
            until is None
            or k.clock >= until
            or k.calls >= self._call_bound
            or self._quantum_left > 0
            or sched.ready
            or sched._timed
            or t.state is not _RUNNING
            or t.yielded
            or k.current is not t
        ):
            return False
        if not t.system:
            self._interrupt_idle_since = None
        self._quantum_left = QUANTUM
        return True

    def serve_call(self, t: Thread, ex: Export, args: Sequence[int]) -> int:
        """Make the running thread's call from inside its program, without a yield.

        For programs that can carry on by themselves after a call (the CPU
        runtime's interrupt hook: leaving and re-entering unicorn costs more than
        the call). ``args`` are the (at most eight) 32-bit register arguments;
        ``t.ret_addr`` and ``t.gpr[1]`` must already be set. The call and what
        follows it are exactly ``_run_slice``'s for a yielded call. Returns
        BLOCKED, SLICE_ENDS or SLICE_GOES_ON. On SLICE_GOES_ON the program may
        take ``t.pending`` (clearing it) and run on; otherwise, or if it cannot,
        it must yield ``(SERVED, (verdict,))`` so the run loop acts on the verdict.
        """
        k = self.k
        ordinal = ex.ordinal
        plan = self._plans.get(ordinal) or k.plan_for(ordinal)
        result = plan(t, tuple(args))
        if result is None:
            n = len(args)
            t.gpr[3 : 3 + n] = args
            result = k.invoke(t, ex, args if n == ex.nargs else None)
        if result == BLOCKED:
            return BLOCKED
        return self.after_call(t)

    def drive_until_unblocked(self, t: Thread) -> None:
        """Run other threads until ``t``'s blocked call completes, or report the wedge."""
        k = self.k
        saved = k.current
        sched = k.scheduler
        try:
            k.settle_immediate(t)
            while t.blocked_call is not None or t.deferred is not None:
                timed = sched._timed
                if timed and timed[0].when <= k.clock:
                    sched.fire_due(k.clock)
                    continue
                other = sched.pick()
                if other is None:
                    if self._idle(None) is not None:
                        raise WedgeError(_wedge_report(k))
                    continue
                if not other.system:
                    self._interrupt_idle_since = None
                self._run_slice(other, NO_CALL_LIMIT)
        finally:
            k.current = saved
