"""The Kernel facade: one kernel state, driven through the exact interface a guest uses.

``Kernel.call`` puts arguments in r3..r10 of a guest thread, runs the export
and returns r3; ``Kernel.run`` runs every thread's program on the
deterministic scheduler until all end, a wedge, or a limit. The work is done
by the parts this facade wires together, one module each:

- :mod:`x360k.call_path`: one export call, arguments to r3 and trace events;
- :mod:`x360k.blocking`: waits, timeouts, waking, signalling objects;
- :mod:`x360k.apcs`: user APCs as nested programs;
- :mod:`x360k.thread_lifecycle`: creating, starting, ending threads;
- :mod:`x360k.run_loop`: slices on the scheduler, idling, wedges;
- :mod:`x360k.kernel_trace`: the event stream and the object table's listener.

The facade holds the state they share (memory, object table, dispatcher,
scheduler, clock, threads) and exposes their operations as its own. Export
handlers see it through :class:`x360k.kernel_state.KernelState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from x360k.apcs import Apcs
from x360k.blocking import Blocking
from x360k.call_path import CallPath
from x360k.clock import SYSTEM_TIME_BASE
from x360k.dispatcher import Dispatcher
from x360k.exports.registry import Registry
from x360k.exports.table import all_exports
from x360k.handles import ObjectTable
from x360k.kernel_state import KernelParts, RoutineFactory, RoutineResolver
from x360k.kernel_trace import KernelTrace
from x360k.memory import GuestMemory
from x360k.objects.base import KernelObject, Module
from x360k.objects.event import Event
from x360k.objects.thread import Thread
from x360k.quirks import Profile, Quirks
from x360k.run_loop import (
    PREEMPT,
    SERVED,
    SLICE_ENDS,
    SLICE_GOES_ON,
    RunLoop,
    RunResult,
    WedgeError,
)
from x360k.scheduler import Scheduler
from x360k.thread_lifecycle import (
    CANARY_FIRST_THREAD_ID,
    DEFAULT_STACK,
    KTHREAD_SIZE,
    PCR_SIZE,
    START_DELAY,
    ThreadLifecycle,
)
from x360k.trace.call_records import CallRecorder, call_recorder_for
from x360k.trace.recorder import Recorder

__all__ = [
    "CANARY_FIRST_THREAD_ID",
    "DATA_EXPORTS_BASE",
    "DEFAULT_STACK",
    "KTHREAD_SIZE",
    "PCR_SIZE",
    "PREEMPT",
    "SERVED",
    "SLICE_ENDS",
    "SLICE_GOES_ON",
    "START_DELAY",
    "SYSTEM_TIME_BASE",
    "Kernel",
    "RoutineFactory",
    "RunResult",
    "WedgeError",
]

M32: Final = 0xFFFFFFFF
#: Where the kernel's data exports (object-type variables) live.
DATA_EXPORTS_BASE: Final = 0x80040000


class Kernel:
    """An xboxkrnl instance: memory, object table, threads, scheduler and trace."""

    _recorder: Recorder | None
    #: ``recorder`` as the call path records into it (:mod:`x360k.trace.call_records`).
    call_recorder: CallRecorder | None

    def __init__(
        self,
        profile: Profile = "canary",
        *,
        quirks: Mapping[str, bool] | None = None,
        recorder: Recorder | None = None,
        wait_events: bool = False,
        keep_destroyed: bool = False,
    ) -> None:
        # -- the shared state ------------------------------------------------------------------
        self.profile: Profile = profile
        self.quirks = Quirks.for_profile(profile, **dict(quirks or {}))
        self.recorder = recorder
        self.wait_events = wait_events
        self.keep_destroyed = keep_destroyed
        self.memory = GuestMemory()
        self.exports = Registry(all_exports())
        self.scheduler = Scheduler()
        self.clock = 0
        self.calls = 0
        self.threads: list[Thread] = []
        self.threads_by_kthread: dict[int, Thread] = {}
        self.current: Thread | None = None
        self.routines: dict[int, RoutineFactory] = {}
        #: Fallback for routine addresses with no registered program (the CPU runtime's hook).
        self.routine_resolver: RoutineResolver | None = None
        #: Guest body address -> object, for exports that take object pointers.
        self.bodies: dict[int, KernelObject] = {}
        #: Bodies the kernel allocated itself: body -> (block address, block size), freed
        #: with their object.
        self.owned_bodies: dict[int, tuple[int, int]] = {}
        #: Data exports (the object-type variables) -> guest address, and type -> address.
        self.data_exports: dict[str, int] = {}
        self.data_exports_by_type: dict[str, int] = {}
        #: Per-kernel extension state (native-object bridge, file system, TLS...).
        self.ext: dict[str, Any] = {}

        # -- the parts, and their operations as the facade's own ------------------------------
        self.dispatcher = Dispatcher(self)
        calls = CallPath(self)
        self.call = calls.call
        self.invoke = calls.invoke
        self.finish_call = calls.finish_call
        self.load_args = calls.load_args
        self.plan_for = calls.plan_for
        self.cpu_plan_for = calls.cpu_plan_for
        self.generic_call = calls.generic
        blocking = Blocking(self)
        self.signal = blocking.signal
        self.state_changed = blocking.state_changed
        self.wait = blocking.wait
        self.wake = blocking.wake
        self.make_runnable = blocking.make_runnable
        self.settle_immediate = blocking.settle_immediate
        self.delay = blocking.delay
        self.deadline_from = blocking.deadline_from
        self.system_time = blocking.system_time
        apcs = Apcs(self)
        self.queue_apc = apcs.queue_apc
        self.push_apcs = apcs.push_apcs
        self.finish_deferred = apcs.finish_deferred
        lifecycle = ThreadLifecycle(self)
        self.register_routine = lifecycle.register_routine
        self.program_for = lifecycle.program_for
        self.create_thread = lifecycle.create_thread
        self.start_thread = lifecycle.start_thread
        self.start_main = lifecycle.start_main
        self.spawn = lifecycle.spawn
        self.exit_thread = lifecycle.exit_thread
        self.thread_by_id = lifecycle.thread_by_id
        self.run_loop = loop = RunLoop(self, calls.plans)
        self.run = loop.run
        self.serve_call = loop.serve_call
        self.after_call = loop.after_call
        self.drive_until_unblocked = loop.drive_until_unblocked
        trace = KernelTrace(self, lifecycle.release, keep_destroyed)
        self.emit = trace.emit
        self.sid_of = trace.sid_of
        #: With keep_destroyed, every destroyed object in order.
        self.destroyed = trace.destroyed
        self.table = ObjectTable(self.quirks, trace)
        self._startup()

    @property
    def recorder(self) -> Recorder | None:
        """The trace sink, as given (None: tracing off)."""
        return self._recorder

    @recorder.setter
    def recorder(self, sink: Recorder | None) -> None:
        # The call path records into ``call_recorder``: kept in step with the sink here so
        # that a sink attached or detached mid-run is seen by the next call.
        self._recorder = sink
        self.call_recorder = call_recorder_for(sink)

    def _startup(self) -> None:
        from x360k.exports.ob import OBJECT_TYPE_EXPORTS
        from x360k.native.bridge import install as install_native_objects

        install_native_objects(self)  # k.ext["bridge"], ["native"]: guest-memory objects
        region = self.memory.map(DATA_EXPORTS_BASE, 0x10000, "kernel data")
        for i, (name, (_ordinal, type_name)) in enumerate(sorted(OBJECT_TYPE_EXPORTS.items())):
            address = region.base + 0x20 * i
            self.data_exports[name] = address
            self.data_exports_by_type[type_name] = address
        if self.quirks.canary_startup_objects:
            # Slot 0: the kernel's USB boot-enumeration event, bridged from guest memory
            # (untraced, never closed); slot 1: the executable module.
            boot = Event(manual_reset=True, state=False)
            self.table.add_handle(boot, traced=False)
            self.table.add_handle(Module("default.xex"), traced=False)
        self.main_thread = self.create_thread(start_address=0, context=0, traced=False)
        from x360k.exports.module_table import install as install_modules

        install_modules(self, DATA_EXPORTS_BASE)  # kernel variables, loader entries

    def ext_hook(self, name: str, *args: Any) -> None:
        """Let extensions (native objects, TLS) react to kernel events such as thread exit."""
        for hook in self.ext.get(f"hook:{name}", ()):
            hook(*args)


def as_parts(k: Kernel) -> KernelParts:
    """``k`` as its parts and handlers see it; mypy checks here that the facade satisfies
    :class:`~x360k.kernel_state.KernelParts` (and so ``KernelState``)."""
    return k
