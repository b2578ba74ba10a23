"""Running guest routines on the calling thread before its call returns.

An APC routine already runs this way when a wait is interrupted; a DPC
inserted at PASSIVE_LEVEL does the same to KeInsertQueueDpc itself: the
routine runs on the inserting thread and only then does the call return.
The handler pushes the routine's program over the thread's own and answers
BLOCKED; the thread is made ready at once, runs the routine as its next
slice, and the call's ``kernel.return`` (with the handler's result) is
recorded when the routine ends, exactly as for an interrupted wait.

A routine with no program in this host (a scenario address nothing names,
with no CPU runtime) cannot run: :func:`routine_program` says so with a
``marker`` event and the caller carries on without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.exports.registry import BLOCKED
from x360k.objects.thread import Program, ThreadState

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread


def routine_program(
    k: KernelState, t: Thread, what: str, routine: int, args: tuple[int, ...]
) -> Program | None:
    """The program that runs ``routine(args)`` on ``t``, or None with a marker saying why not."""
    program = k.program_for(t, routine, args) if routine else None
    if program is None:
        k.emit(t, "marker", text=f"{what} 0x{routine:08x} cannot run in this host", entry=routine)
    return program


def can_nest(t: Thread) -> bool:
    """Whether a routine can run before the current call returns.

    Not while another call's return is already held back (a wait interrupted
    by APCs whose routines are running): there is one deferred return per thread.
    """
    return t.deferred is None


def run_before_return(k: KernelState, t: Thread, export: str, result: int, body: Program) -> int:
    """Make ``body`` run on ``t`` now; the current call of ``export`` then returns ``result``.

    Returns BLOCKED, which the handler returns in turn.
    """
    ex = k.exports.get(export)
    call_id = t.next_call_id - 1

    def chain() -> Program:
        t.blocked_call = None
        yield from body
        return None

    t.deferred = (ex, call_id, result)
    t.program_stack.append(t.program)
    t.program = chain()
    t.pending = None
    t.started = True
    t.state = ThreadState.READY
    # First in its queue: the routine runs before any other thread gets the CPU.
    k.scheduler.make_ready_first(t)
    return BLOCKED
