"""Guest threads: a register file, a program, and a waitable kernel object.

A thread runs a *program*: a generator that yields the next export call as
``(name_or_ordinal, args)`` and receives the status (r3) back, returning its
exit code when it ends. Scripted scenario threads are plain generators; the
CPU runtime drives a CPU context through the same protocol. A thread without
a program is driven one call at a time with ``Kernel.call(..., thread=t)``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from x360k.objects.base import KernelObject

#: How many of a thread's last calls its reports show (a power of two: a ring by call id).
RECENT_CALLS: Final = 8
RECENT_MASK: Final = RECENT_CALLS - 1

if TYPE_CHECKING:
    from x360k.dispatcher import WaitBlock
    from x360k.objects.mutant import Mutant

#: What a program yields: the export (name or ordinal) and its integer arguments.
CallRequest = tuple[str | int, tuple[int, ...]]
#: A thread program: yields calls, receives r3 after each, returns the exit code.
Program = Generator[CallRequest, int, int | None]


class ThreadState(enum.Enum):
    READY = "ready"
    RUNNING = "running"
    BLOCKED = "blocked"
    SUSPENDED = "suspended"
    DELAYED = "delayed"
    TERMINATED = "terminated"


@dataclass(slots=True)
class UserApc:
    """A queued user-mode APC: routine(normal_context, arg1, arg2) on the target thread."""

    routine: int
    context: int
    arg1: int
    arg2: int


class Thread(KernelObject):
    """A guest thread; signalled once it has ended."""

    TYPE = "Thread"
    WAITABLE = True
    __slots__ = (
        "apcs",
        "blocked_call",
        "creator",
        "deferred",
        "exit_code",
        "gpr",
        "kthread",
        "launched",
        "next_call_id",
        "next_idx",
        "ordinal",
        "owned_mutants",
        "pcr",
        "pending",
        "priority",
        "program",
        "program_stack",
        "recent_idx",
        "recent_names",
        "ret_addr",
        "return_fields",
        "stack_base",
        "stack_size",
        "start_address",
        "start_context",
        "started",
        "state",
        "suspend_count",
        "system",
        "thread_id",
        "wait",
        "wake_at",
        "yielded",
    )

    def __init__(self, ordinal: int, thread_id: int) -> None:
        super().__init__()
        self.ordinal = ordinal
        self.thread_id = thread_id
        self.gpr: list[int] = [0] * 32
        self.program: Program | None = None
        #: Programs interrupted by a nested one (an APC routine runs on top of its thread);
        #: None stands for "no program": a thread driven by ``Kernel.call`` running its APCs.
        self.program_stack: list[Program | None] = []
        #: Whether the thread has had its first time slice (it drains early APCs then).
        self.started = False
        #: Whether it has been released to run (start delay included); False while it is
        #: still suspended from creation.
        self.launched = False
        #: r3 to send into the program when it next runs (None before its first step).
        self.pending: int | None = None
        self.state = ThreadState.READY
        self.priority = 0
        self.suspend_count = 0
        self.wait: WaitBlock | None = None
        self.wake_at: int | None = None
        self.apcs: deque[UserApc] = deque()
        self.next_idx = 0
        self.next_call_id = 0
        self.exit_code: int | None = None
        self.owned_mutants: list[Mutant] = []
        self.start_address = 0
        self.start_context = 0
        self.creator: Thread | None = None
        self.kthread = 0
        self.pcr = 0
        self.stack_base = 0
        self.stack_size = 0
        #: The last RECENT_CALLS calls' event indices and export names, for wedge and stop
        #: reports: call id ``c`` at slot ``c & RECENT_MASK`` (read them through ``recent``).
        #: Two flat rings cost a call less than a tuple appended to a bounded deque.
        self.recent_idx: list[int] = [0] * RECENT_CALLS
        self.recent_names: list[str] = [""] * RECENT_CALLS
        #: Guest return address of the current call (set by the CPU runtime; a CPU plan sets it
        #: only for the call's trace record or a stop report, the only places it is read).
        self.ret_addr: int | None = None
        #: The (export, call id) a blocked thread is inside.
        self.blocked_call: tuple[Any, int] | None = None
        #: A wait's (export, call id, status) held back while its APCs run.
        self.deferred: tuple[Any, int, int] | None = None
        #: Extra fields (offset, length...) a handler asks to put on its kernel.return event.
        self.return_fields: dict[str, Any] | None = None
        #: Set by NtYieldExecution: give up the rest of the quantum.
        self.yielded = False
        #: A kernel-owned thread (x360k.kernel_workers): it runs interrupt-time guest
        #: routines and never keeps a run alive on its own.
        self.system = False

    @property
    def terminated(self) -> bool:
        return self.state is ThreadState.TERMINATED

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.state is ThreadState.TERMINATED

    def signal_state(self) -> int:
        return 1 if self.state is ThreadState.TERMINATED else 0

    @property
    def recent(self) -> list[tuple[int, str]]:
        """The thread's last few calls as (event index, export), oldest first."""
        end = self.next_call_id
        idx, names = self.recent_idx, self.recent_names
        return [
            (idx[c & RECENT_MASK], names[c & RECENT_MASK])
            for c in range(max(0, end - RECENT_CALLS), end)
        ]

    def describe(self) -> str:
        if self.terminated:
            return f"ended with exit code {self.exit_code}"
        return f"{self.state.value}"

    def __repr__(self) -> str:
        return f"<Thread {self.ordinal} id={self.thread_id} {self.state.value}>"
