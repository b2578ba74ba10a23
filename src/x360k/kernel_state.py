"""What an export handler sees of the kernel: a narrow, typed view of its state.

Handlers (``x360k.exports.*``), the native-object bridge, the object namespace
and the file system take a :class:`KernelState`, not the ``Kernel`` facade, so
those layers import downwards only, even for type checking: this module
imports nothing above the object table, the dispatcher and the scheduler.
``x360k.kernel.Kernel`` satisfies it structurally (a test checks that).

The kernel's own parts (call path, blocking, APCs, thread lifecycle, run loop)
see one another through :class:`KernelParts`, the same state plus the few
entry points they call across modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from x360k.call_plans import Plan
    from x360k.dispatcher import Dispatcher, WaitBlock
    from x360k.exports.registry import Export, Registry
    from x360k.handles import ObjectTable
    from x360k.memory import GuestMemory
    from x360k.objects.base import KernelObject
    from x360k.objects.thread import Program, Thread, UserApc
    from x360k.quirks import Profile, Quirks
    from x360k.scheduler import Scheduler
    from x360k.trace.call_records import CallRecorder
    from x360k.trace.recorder import Recorder

#: Builds the program a routine runs: (thread, arguments) -> generator.
RoutineFactory = Callable[["Thread", tuple[int, ...]], "Program"]
#: The CPU runtime's fallback for routine addresses with no registered program.
RoutineResolver = Callable[["Thread", int, tuple[int, ...]], "Program | None"]


class KernelState(Protocol):
    """The kernel as export handlers use it: state, and the operations on it they call."""

    profile: Profile
    quirks: Quirks
    memory: GuestMemory
    exports: Registry
    table: ObjectTable
    dispatcher: Dispatcher
    scheduler: Scheduler
    recorder: Recorder | None
    #: ``recorder`` as the call path records into it: itself, or an adapter building events.
    call_recorder: CallRecorder | None
    #: Virtual time (100 ns ticks) and export calls made so far.
    clock: int
    calls: int
    threads: list[Thread]
    threads_by_kthread: dict[int, Thread]
    main_thread: Thread
    current: Thread | None
    #: Guest body address -> object; bodies the kernel allocated (body -> block, size).
    bodies: dict[int, KernelObject]
    owned_bodies: dict[int, tuple[int, int]]
    data_exports: dict[str, int]
    data_exports_by_type: dict[str, int]
    #: Per-kernel extension state (native-object bridge, file system, TLS...).
    ext: dict[str, Any]

    # -- trace --
    def emit(self, thread: Thread, kind: str, **fields: Any) -> int: ...
    def sid_of(self, handle: int) -> str | None: ...

    # -- objects, waits and time --
    def signal(self, obj: KernelObject) -> None: ...
    def state_changed(self, obj: KernelObject) -> None: ...
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
    ) -> int: ...
    def wake(self, t: Thread, status: int, wb: WaitBlock | None = None) -> None: ...
    def deadline_from(self, timeout_ptr: int, *, delay: bool = False) -> int | None: ...
    def system_time(self) -> int: ...

    # -- threads and APCs --
    def queue_apc(self, t: Thread, apc: UserApc) -> None: ...
    def create_thread(
        self,
        start_address: int,
        context: int,
        *,
        suspended: bool = False,
        creator: Thread | None = None,
        stack_size: int = 0,
        traced: bool = True,
        program: Program | None = None,
        startup: int = 0,
        thread_id: int | None = None,
    ) -> Thread: ...
    def start_thread(self, t: Thread) -> None: ...
    def make_runnable(self, t: Thread) -> None: ...
    def exit_thread(self, t: Thread, exit_code: int) -> None: ...
    def thread_by_id(self, thread_id: int) -> Thread | None: ...
    def register_routine(self, factory: RoutineFactory, address: int | None = None) -> int: ...
    def program_for(
        self, thread: Thread, address: int, args: tuple[int, ...]
    ) -> Program | None: ...
    def ext_hook(self, name: str, *args: Any) -> None: ...


class KernelParts(KernelState, Protocol):
    """The kernel as its own parts see each other (the modules ``Kernel`` wires)."""

    wait_events: bool
    routines: dict[int, RoutineFactory]
    routine_resolver: RoutineResolver | None

    def invoke(self, t: Thread, ex: Export, decoded: Sequence[int] | None = None) -> int: ...
    def plan_for(self, export: str | int) -> Plan: ...
    def generic_call(self, t: Thread, export: str | int, args: tuple[int, ...]) -> int: ...
    def after_call(self, t: Thread) -> int: ...
    def finish_call(self, t: Thread, ex: Export, call_id: int, result: int) -> None: ...
    def load_args(self, t: Thread, ex: Export, args: tuple[int, ...]) -> Sequence[int] | None: ...
    def push_apcs(self, t: Thread) -> None: ...
    def finish_deferred(self, t: Thread) -> None: ...
    def settle_immediate(self, t: Thread) -> None: ...
    def delay(self, t: Thread, until: int) -> None: ...
    def drive_until_unblocked(self, t: Thread) -> None: ...
