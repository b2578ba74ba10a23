"""Kernel-owned guest threads that run guest routines when an interrupt source fires.

The kernel calls some guest routines on its own, not from any title call: a
timer's DPC when the timer expires, the graphics interrupt callback on each
vertical blank, an audio render client's callback when a frame has been
consumed (:mod:`x360k.exports.callbacks`). Each source has one kernel-owned
*worker*: a guest thread (KTHREAD, PCR, stack, untraced handle) made when the
title first enables the source, flagged ``Thread.system``, at
:data:`WORKER_PRIORITY` so it takes the CPU at the next call boundary. Its
program takes :class:`Job` records off a FIFO queue; each job leaves a
``marker`` saying why the routine runs, then runs it (through the routine
resolver, so CPU guests run real code on the worker). With no job the worker
*parks*: BLOCKED with no wait block, off the ready queue, until the next job.

Liveness (what ``RunLoop`` asks of :func:`interrupts_keep_alive`): a worker is
never a live thread for deciding that a run has finished, so a run whose
guest threads have all ended finishes though a source is still armed.
Interrupt ticks (scheduler entries of kind ``"interrupt"``, and timers with a
DPC) are a reason to let virtual time run only while a guest thread is alive,
and only for :data:`INTERRUPT_IDLE_LIMIT` of virtual time in which no guest
thread got the CPU: after that the run stops as a wedge, whose report names
the sources still firing (``wedge:interrupts``) beside what each thread waits on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports.nested import routine_program
from x360k.objects.thread import Program, ThreadState

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

EXT_KEY: Final = "kernel_workers"
#: Above the 0..31 range of thread priorities: an interrupt-time routine runs before any
#: title thread, as a DPC would.
WORKER_PRIORITY: Final = 32
#: Virtual time (100 ns ticks) interrupts alone may keep a run going with no guest thread
#: getting the CPU: 10 s (600 vertical blanks).
INTERRUPT_IDLE_LIMIT: Final = 10 * 10_000_000
#: The workers' guest thread ids: a range of their own, so they never shift the ids titles'
#: threads get (canary's host threads take ids from the same counter before the title runs).
WORKER_THREAD_IDS: Final = {"dpc": 0x100, "vsync": 0x101, "audio": 0x102}
#: What a job's routine is wrapped in (DPC context: IRQL and DpcActive), given thread and body.
Wrap = Callable[["Thread", Program], Program]


@dataclass(slots=True)
class Job:
    """One routine for a worker to run: why (the marker text), what, where and with what."""

    why: str
    what: str
    routine: int
    args: tuple[int, ...]
    wrap: Wrap | None = None
    #: Called as the job starts: False skips it without a trace (its source was withdrawn).
    prepare: Callable[[], bool] | None = None
    #: Called when the routine has returned (or could not run).
    done: Callable[[], None] | None = None


@dataclass(slots=True)
class Worker:
    """A kernel-owned thread and its queue of jobs."""

    name: str
    thread: Thread
    jobs: deque[Job] = field(default_factory=deque)
    parked: bool = False
    #: Jobs run so far (for reports and tests).
    ran: int = 0


@dataclass(slots=True)
class WorkerState:
    """Every worker of one kernel, and who describes the sources still firing."""

    workers: dict[str, Worker] = field(default_factory=dict)
    #: Source name -> a sentence describing it, for wedge reports (while it is armed).
    sources: dict[str, Callable[[], str]] = field(default_factory=dict)


def worker_state(k: KernelState) -> WorkerState:
    state = k.ext.get(EXT_KEY)
    if state is None:
        state = k.ext[EXT_KEY] = WorkerState()
        k.ext["wedge:interrupts"] = lambda: [describe() for describe in state.sources.values()]
    assert isinstance(state, WorkerState)
    return state


def is_kernel_object(obj: object) -> bool:
    """Whether ``obj`` is one of the kernel's own worker threads (not the title's to close)."""
    return getattr(obj, "system", False) is True


def worker_label(k: KernelState, t: Thread) -> str | None:
    """``kernel <source> worker`` for a kernel-owned thread, None for a title's thread."""
    if not t.system:
        return None
    for name, w in worker_state(k).workers.items():
        if w.thread is t:
            return f"kernel {name} worker"
    return "kernel worker"


def worker(k: KernelState, name: str) -> Worker:
    """The worker for source ``name``, made (parked) on first use."""
    state = worker_state(k)
    w = state.workers.get(name)
    if w is not None:
        return w
    previous = k.current
    t = k.create_thread(0, 0, traced=False, thread_id=WORKER_THREAD_IDS.get(name, 0x1FF))
    k.current = previous
    t.system = True
    t.priority = WORKER_PRIORITY
    w = state.workers[name] = Worker(name, t)
    t.program = _worker_program(k, w)
    _park(k, w)
    return w


def _park(k: KernelState, w: Worker) -> None:
    w.parked = True
    w.thread.state = ThreadState.BLOCKED
    k.scheduler.discard(w.thread)


def submit(k: KernelState, w: Worker, job: Job) -> None:
    """Queue ``job`` on ``w``; a parked worker becomes ready."""
    if w.thread.terminated:
        return
    w.jobs.append(job)
    if w.parked:
        w.parked = False
        if w.thread.suspend_count:
            # A title that found the handle suspended it: it runs once resumed.
            w.thread.state = ThreadState.SUSPENDED
            return
        w.thread.state = ThreadState.READY
        k.scheduler.make_ready(w.thread)


def _worker_program(k: KernelState, w: Worker) -> Program:
    from x360k.run_loop import PREEMPT

    t = w.thread
    while True:
        if not w.jobs:
            _park(k, w)
            yield (PREEMPT, ())
            continue
        job = w.jobs.popleft()
        if job.prepare is not None and not job.prepare():
            if job.done is not None:
                job.done()
            continue
        k.emit(t, "marker", text=job.why, entry=job.routine)
        program = routine_program(k, t, job.what, job.routine, job.args)
        if program is not None:
            yield from (job.wrap(t, program) if job.wrap is not None else program)
        w.ran += 1
        if job.done is not None:
            job.done()


def guest_alive(k: KernelState) -> bool:
    """Whether a title thread still has something to run or a call to finish.

    A thread driven one call at a time by ``Kernel.call`` counts only while its
    call is blocked (then ``drive_until_unblocked`` runs the others for it).
    """
    return any(
        not t.system
        and not t.terminated
        and (t.program is not None or bool(t.program_stack) or t.blocked_call is not None)
        for t in k.threads
    )


def interrupts_keep_alive(k: KernelState, idle_since: int) -> bool:
    """Whether pending interrupt ticks may still move virtual time on (see the module doc).

    ``idle_since`` is when the run loop last found only interrupts able to help
    with no guest thread run since.
    """
    return guest_alive(k) and k.clock - idle_since < INTERRUPT_IDLE_LIMIT
