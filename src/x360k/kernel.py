"""The Kernel facade: one kernel state, driven through the exact interface a guest uses.

``Kernel.call`` puts arguments in r3..r10 of a guest thread, runs the export
and returns r3; ``Kernel.run`` runs every thread's program on the
deterministic scheduler until all end, a wedge, or a limit. Export handlers
(``x360k.exports.*``) reach the state through the attributes here: guest
memory, the object table, the dispatcher and the scheduler.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from x360k.clock import SYSTEM_TIME_BASE, clamp_deadline
from x360k.dispatcher import Dispatcher, WaitBlock, satisfy_now
from x360k.exports.registry import BLOCKED, Export, Registry, Returns, invoke_args
from x360k.exports.table import all_exports
from x360k.handles import ObjectInUse, ObjectTable
from x360k.memory import GuestMemory, GuestMemoryError
from x360k.objects.base import KernelObject, Module
from x360k.objects.event import Event
from x360k.objects.thread import Program, Thread, ThreadState, UserApc
from x360k.quirks import Profile, Quirks
from x360k.scheduler import CALL_COST, QUANTUM, Scheduler
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_TIMEOUT,
    STATUS_USER_APC,
)
from x360k.trace.event import TraceEvent, make_sid
from x360k.trace.recorder import Recorder

M32: Final = 0xFFFFFFFF
M64: Final = 0xFFFFFFFFFFFFFFFF
KTHREAD_SIZE: Final = 0xAB0
PCR_SIZE: Final = 0x2D8
DEFAULT_STACK: Final = 64 * 1024
#: Canary sleeps 10 ms before a new thread's start routine (quirk thread_start_delay).
START_DELAY: Final = 10 * 10_000
#: First guest thread id: canary's counter is shared with five host threads started earlier.
CANARY_FIRST_THREAD_ID: Final = 6

#: A dispatcher header's signal_state field (written as unsigned, read by guests as LONG).
_SIGNAL_STATE: Final = struct.Struct(">I")
#: Where the kernel's data exports (object-type variables) live.
DATA_EXPORTS_BASE: Final = 0x80040000

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

#: Builds the program a routine runs: (thread, arguments) -> generator.
RoutineFactory = Callable[[Thread, tuple[int, ...]], Program]


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


def _allocate_all(mem: GuestMemory, sizes: tuple[int, ...]) -> list[int]:
    """System blocks of ``sizes`` (16-aligned), all or none: MemoryError frees what was taken."""
    got: list[int] = []
    try:
        for size in sizes:
            got.append(mem.alloc_system(size, 16))
    except MemoryError:
        for address, size in zip(got, sizes, strict=False):
            mem.free_system(address, size, 16)
        raise
    return got


class Kernel:
    """An xboxkrnl instance: memory, object table, threads, scheduler and trace."""

    def __init__(
        self,
        profile: Profile = "canary",
        *,
        quirks: Mapping[str, bool] | None = None,
        recorder: Recorder | None = None,
        wait_events: bool = False,
        keep_destroyed: bool = False,
    ) -> None:
        self.profile: Profile = profile
        self.quirks = Quirks.for_profile(profile, **dict(quirks or {}))
        self.recorder = recorder
        self.wait_events = wait_events
        #: Console profile: guest dispatcher headers' signal_state follows every change.
        self._sync_headers = not self.quirks.guest_signal_state_stale
        self.keep_destroyed = keep_destroyed
        self.memory = GuestMemory()
        self.exports = Registry(all_exports())
        self._export_lookup = self.exports.lookup_table
        self.table = ObjectTable(self.quirks, self)
        self.dispatcher = Dispatcher(self)
        self.scheduler = Scheduler()
        self.clock = 0
        self.calls = 0
        #: The running slice's calls left in its quantum, and its call limit (``_after_call``).
        self._quantum_left = 0
        self._call_limit: int | None = None
        self.threads: list[Thread] = []
        self.threads_by_kthread: dict[int, Thread] = {}
        self.current: Thread | None = None
        self.routines: dict[int, RoutineFactory] = {}
        #: Fallback for routine addresses with no registered program (the CPU runtime's hook).
        self.routine_resolver: Callable[[Thread, int, tuple[int, ...]], Program | None] | None = (
            None
        )
        self._next_routine = 0x82F00000
        self._next_thread_id = CANARY_FIRST_THREAD_ID if profile == "canary" else 1
        #: Guest body address -> object, for exports that take object pointers.
        self.bodies: dict[int, KernelObject] = {}
        #: Bodies the kernel allocated itself: body -> (block address, block size), freed
        #: with their object.
        self.owned_bodies: dict[int, tuple[int, int]] = {}
        #: With keep_destroyed, every destroyed object in order (off by default: a long run
        #: would keep every object it ever made alive). ``table.destroyed_count`` counts them.
        self.destroyed: list[KernelObject] = []
        #: Data exports (the object-type variables) -> guest address, and type -> address.
        self.data_exports: dict[str, int] = {}
        self.data_exports_by_type: dict[str, int] = {}
        #: Per-kernel extension state (native-object bridge, file system, TLS...).
        self.ext: dict[str, Any] = {}
        self._startup()

    # -- start-up ---------------------------------------------------------------------------------

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

    # -- TableListener ------------------------------------------------------------------------

    def handle_created(self, handle: int, obj: KernelObject, traced: bool) -> int:
        thread = self.current or (self.threads[0] if self.threads else None)
        if not traced or thread is None:
            return -1
        idx = thread.next_idx
        if self.recorder is None:
            thread.next_idx = idx + 1
        else:
            self.emit(
                thread,
                "handle.create",
                handle=handle,
                sid=make_sid(thread.ordinal, idx),
                object_type=obj.TYPE,
                path=self._path_of(obj),
            )
        return (thread.ordinal << 32) | idx

    def handle_destroyed(self, handle: int, obj: KernelObject, sid_key: int, traced: bool) -> None:
        if not obj.handles:
            for hook in self.ext.get("hook:last_handle_closed", ()):
                hook(obj)  # the console's object namespace detaches temporary names
        thread = self.current or (self.threads[0] if self.threads else None)
        if not traced or thread is None or sid_key < 0:
            return
        if self.recorder is None:
            thread.next_idx += 1
        else:
            self.emit(
                thread,
                "handle.destroy",
                handle=handle,
                sid=make_sid(sid_key >> 32, sid_key & M32),
                object_type=obj.TYPE,
            )

    def object_destroyed(self, obj: KernelObject) -> None:
        if self.keep_destroyed:
            self.destroyed.append(obj)
        owned = self.owned_bodies.pop(obj.body, None)
        if owned is not None:
            self.bodies.pop(obj.body, None)
            self.memory.free_system(*owned)
        if isinstance(obj, Thread):
            # An ended thread's last handle is gone: its KTHREAD, PCR and stack go back to
            # the system arena, so titles that churn through threads do not grow memory.
            self.bodies.pop(obj.kthread, None)
            self.threads_by_kthread.pop(obj.kthread, None)
            self.memory.free_system(obj.kthread, KTHREAD_SIZE, 16)
            self.memory.free_system(obj.pcr, PCR_SIZE, 16)
            self.memory.free_system(obj.stack_base - obj.stack_size, obj.stack_size, 16)

    @staticmethod
    def _path_of(obj: KernelObject) -> str | None:
        path = getattr(obj, "path", None)
        return path if isinstance(path, str) else None

    def sid_of(self, handle: int) -> str | None:
        """The sid of a live slot (None for untraced or free slots)."""
        key = self.table.sid_key(handle)
        return None if key < 0 else make_sid(key >> 32, key & M32)

    # -- trace --------------------------------------------------------------------------------

    def emit(self, thread: Thread, kind: str, **fields: Any) -> int:
        """Record one event in ``thread``'s stream; returns its index (counted even when off)."""
        idx = thread.next_idx
        thread.next_idx = idx + 1
        rec = self.recorder
        if rec is not None:
            rec.record(
                TraceEvent(
                    tid=thread.ordinal,
                    idx=idx,
                    kind=kind,
                    raw_tid=thread.thread_id,
                    ts=self.clock,
                    **fields,
                )
            )
        return idx

    # -- calls --------------------------------------------------------------------------------

    def call(self, export: str | int, *args: int, thread: Thread | None = None) -> int:
        """Call an export exactly as a guest would; returns r3 as an unsigned 32-bit int.

        Arguments go to r3..r10 (and the stack beyond eight). If the call blocks,
        the other threads' programs run until it completes; if nothing can ever
        complete it, :class:`WedgeError` carries the wedge report.
        """
        t = thread if thread is not None else (self.current or self.main_thread)
        ex = self._export_lookup.get(export) or self.exports.get(export)
        n = len(args)
        if 0 < n == ex.nargs <= 8 and min(args) >= 0 and max(args) <= M32:
            # The common case, inline: plain 32-bit values, exactly as many as declared.
            t.gpr[3 : 3 + n] = args
            decoded: Sequence[int] | None = args
        else:
            decoded = self._load_args(t, ex, args)
        previous = self.current
        self.current = t
        try:
            if self._invoke(t, ex, decoded) == BLOCKED:
                self._drive_until_unblocked(t)
        finally:
            self.current = previous
        return t.gpr[3] & M32

    def _load_args(self, t: Thread, ex: Export, args: tuple[int, ...]) -> Sequence[int] | None:
        """Put a call's arguments where a guest would: r3..r10, then the stack.

        Returns the arguments as the dispatcher would decode them when that is
        simply ``args`` (plain 32-bit values, as many as the export declares), so
        the dispatcher can skip reading the registers back.
        """
        gpr = t.gpr
        n = len(args)
        if n > 8:
            gpr[3:11] = [value & M64 for value in args[:8]]
            self._write_stack_args(t, args[8:])
            return None
        if n and (min(args) < 0 or max(args) > M32):
            gpr[3 : 3 + n] = [value & M64 for value in args]
            return None
        gpr[3 : 3 + n] = args
        return args if n == ex.nargs else None

    def _write_stack_args(self, t: Thread, extra: tuple[int, ...]) -> None:
        sp = t.gpr[1] & M32
        for k, value in enumerate(extra):
            self.memory.write_u64(sp + 0x50 + 8 * k, value & M32)

    def _invoke(self, t: Thread, ex: Export, decoded: Sequence[int] | None = None) -> int:
        """Decode, run and finish one export call on ``t``; BLOCKED if it must wait.

        ``decoded`` short-cuts the register read when the caller already holds
        the 32-bit arguments it has just written to r3..r10.
        """
        self.calls += 1
        self.clock += CALL_COST
        args: Sequence[int] | None
        if decoded is not None:
            args = decoded
        elif ex.nargs > 8:
            try:
                args = invoke_args(self, t, ex)
            except GuestMemoryError:
                args = None
        else:
            args = [value & M32 for value in t.gpr[3 : 3 + ex.nargs]]
        call_id = t.next_call_id
        t.next_call_id = call_id + 1
        idx = t.next_idx
        t.recent.append((idx, ex.name))
        t.next_idx = idx + 2
        rec = self.recorder
        if rec is not None:
            tid, raw, now = t.ordinal, t.thread_id, self.clock
            rec.record(
                TraceEvent(
                    tid=tid,
                    idx=idx,
                    kind="import.call",
                    name=ex.name,
                    module=ex.module,
                    ordinal=ex.ordinal,
                    call_id=call_id,
                    ret_addr=t.ret_addr,
                    raw_tid=raw,
                    ts=now,
                )
            )
            rec.record(
                TraceEvent(
                    tid=tid,
                    idx=idx + 1,
                    kind="kernel.call",
                    name=ex.name,
                    module=ex.module,
                    ordinal=ex.ordinal,
                    call_id=call_id,
                    raw_tid=raw,
                    ts=now,
                    args=(ex.args_format % tuple(args)).split() if args else [],
                )
            )
        if args is None:
            result = STATUS_ACCESS_VIOLATION
        else:
            try:
                result = ex.handler(self, t, *args)
            except GuestMemoryError:
                result = STATUS_ACCESS_VIOLATION
            except ObjectInUse as err:
                from x360k.kernel_stop import stop_for

                raise stop_for(self, t, ex.name, err) from None
        if result == BLOCKED:
            if t.state is not ThreadState.TERMINATED:
                t.blocked_call = (ex, call_id)
            return BLOCKED
        if rec is None and ex.returns_status and t.return_fields is None:
            # The common case, inline: an untraced call returning a status.
            result &= M32
            t.gpr[3] = result | 0xFFFFFFFF00000000 if result & 0x80000000 else result
            t.next_idx += 1
            return result
        self._finish_call(t, ex, call_id, result)
        return result

    def _finish_call(self, t: Thread, ex: Export, call_id: int, result: int) -> None:
        gpr = t.gpr
        is_status = ex.returns_status
        if is_status:
            result &= M32
            gpr[3] = result | 0xFFFFFFFF00000000 if result & 0x80000000 else result
        elif ex.returns is Returns.VALUE:
            gpr[3] = result & M64
        idx = t.next_idx
        t.next_idx = idx + 1
        rec = self.recorder
        if rec is not None:
            extra = t.return_fields
            if extra:
                t.return_fields = None
            rec.record(
                TraceEvent(
                    tid=t.ordinal,
                    idx=idx,
                    kind="kernel.return",
                    name=ex.name,
                    module=ex.module,
                    ordinal=ex.ordinal,
                    call_id=call_id,
                    raw_tid=t.thread_id,
                    ts=self.clock,
                    status=result if is_status else None,
                    ret=None if is_status else gpr[3] & M32,
                    **(extra or {}),
                )
            )
        elif t.return_fields:
            t.return_fields = None

    # -- threads ------------------------------------------------------------------------------

    def register_routine(self, factory: RoutineFactory, address: int | None = None) -> int:
        """Make ``factory`` the program behind a guest code address (allocated if not given).

        Scripted threads name their start routines and APC routines this way; the
        CPU runtime instead installs :attr:`routine_resolver` for real code.
        """
        if address is None:
            address = self._next_routine
            self._next_routine += 0x10
        self.routines[address] = factory
        return address

    def program_for(self, thread: Thread, address: int, args: tuple[int, ...]) -> Program | None:
        factory = self.routines.get(address)
        if factory is not None:
            return factory(thread, args)
        if self.routine_resolver is not None:
            return self.routine_resolver(thread, address, args)
        return None

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
    ) -> Thread:
        """Make a guest thread: KTHREAD, PCR and stack in guest memory, a slot, a self reference.

        Without an explicit ``program`` the thread runs ``startup(start_address,
        context)`` when a XapiThreadStartup routine is given, else
        ``start_address(context)``.
        """
        mem = self.memory
        size = max(16 * 1024, (stack_size + 0xFFF) & ~0xFFF) if stack_size else DEFAULT_STACK
        # MemoryError (the guest's system arena cannot hold it) leaves nothing behind: the
        # caller answers STATUS_NO_MEMORY.
        blocks = _allocate_all(mem, (KTHREAD_SIZE, PCR_SIZE, size))
        t = Thread(len(self.threads), self._next_thread_id)
        self._next_thread_id += 1
        t.kthread, t.pcr, stack = blocks
        t.stack_size = size
        t.stack_base = stack + size
        t.body = t.kthread
        self.bodies[t.kthread] = t
        mem.write_u8(t.kthread, 6)  # dispatcher header type: thread
        mem.write_u8(t.kthread + 2, KTHREAD_SIZE // 4 & 0xFF)
        mem.write_u32(t.kthread + 0x5C, t.stack_base)
        mem.write_u32(t.kthread + 0x60, t.stack_base - t.stack_size)
        mem.write_u32(t.kthread + 0x14C, t.thread_id)
        mem.write_u32(t.kthread + 0x150, start_address)
        mem.write_u32(t.pcr + 0x70, t.stack_base)
        mem.write_u32(t.pcr + 0x74, t.stack_base - t.stack_size)
        mem.write_u32(t.pcr + 0x100, t.kthread)
        t.gpr[1] = t.stack_base - 0x100
        t.gpr[13] = t.pcr
        t.start_address = start_address
        t.start_context = context
        t.creator = creator
        self.threads.append(t)
        self.threads_by_kthread[t.kthread] = t
        previous = self.current
        self.current = creator if creator is not None else previous
        try:
            self.table.add_handle(t, traced=traced)
        finally:
            self.current = previous
        # The running thread's self reference: a second count on its slot (canary) or a
        # reference on the object (console); released when the thread ends.
        self.table.reference(t)
        if creator is not None:
            self.emit(
                creator,
                "thread.create",
                child_tid=t.ordinal,
                child_raw_tid=t.thread_id,
                entry=start_address,
                handle=t.handles[0] if t.handles else None,
            )
        if program is None and startup:
            program = self.program_for(t, startup, (start_address, context))
        if program is None and start_address:
            program = self.program_for(t, start_address, (context,))
        t.program = program
        if suspended:
            t.suspend_count = 1
            mem.write_u8(t.kthread + 0xBC, 1)
            t.state = ThreadState.SUSPENDED
        else:
            self._start(t)
        return t

    def _start(self, t: Thread) -> None:
        """Make a new (or resumed-for-the-first-time) thread runnable."""
        t.launched = True
        if self.quirks.thread_start_delay and t.creator is not None and t.pending is None:
            self._delay(t, self.clock + START_DELAY)
            return
        t.state = ThreadState.READY
        if t.program is not None:
            self.scheduler.make_ready(t)

    def start_main(self, program: Program) -> Thread:
        """Give the main thread (ordinal 0) its program and make it runnable."""
        t = self.main_thread
        t.program = program
        if t.state is ThreadState.READY:
            self.scheduler.make_ready(t)
        return t

    def spawn(self, program: Program, *, suspended: bool = False) -> Thread:
        """A new thread running ``program`` (as if the main thread had created it)."""
        return self.create_thread(
            0, 0, suspended=suspended, creator=self.main_thread, program=program
        )

    def exit_thread(self, t: Thread, exit_code: int) -> None:
        """End ``t``: abandon its mutants, signal it, drop its self reference."""
        if t.state is ThreadState.TERMINATED:
            return
        if t.wait is not None:
            self.dispatcher.detach(t.wait)
        self.scheduler.discard(t)
        t.state = ThreadState.TERMINATED
        t.exit_code = exit_code & M32
        t.program = None
        t.program_stack.clear()
        t.apcs.clear()
        mem = self.memory
        mem.write_u8(t.kthread + 0xBE, 1)
        mem.write_u32(t.kthread + 4, 1)
        mem.write_u32(t.kthread + 0x140, t.exit_code)
        previous = self.current
        self.current = t
        try:
            self.emit(t, "thread.exit", ret=t.exit_code)
            for mutant in list(t.owned_mutants):
                mutant.abandon()
                self.signal(mutant)  # the console's header shows the mutant free
            self.dispatcher.signal(t)
            self.table.dereference(t, t)
            self.ext_hook("thread_exit", t)
        finally:
            self.current = previous

    def ext_hook(self, name: str, *args: Any) -> None:
        """Let extensions (native objects, TLS) react to kernel events such as thread exit."""
        for hook in self.ext.get(f"hook:{name}", ()):
            hook(*args)

    def thread_by_id(self, thread_id: int) -> Thread | None:
        for t in self.threads:
            if t.thread_id == thread_id:
                return t
        return None

    # -- blocking and waking ------------------------------------------------------------------

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
        if objects:
            status = satisfy_now(t, objects, wait_all)
            if status is not None:
                if not self.quirks.guest_signal_state_stale:
                    for obj in objects:
                        self.state_changed(obj)
                return finish(status) if finish is not None else status
        wb = WaitBlock(t, objects, wait_all, alertable, deadline, finish, note)
        if alertable and t.apcs:
            self._park(t, wb, objects_too=False)
            wb.immediate = STATUS_USER_APC
            return BLOCKED
        if deadline is not None and deadline <= self.clock:
            if self.quirks.wait_timeout_yields:
                t.yielded = True
            return finish(STATUS_TIMEOUT) if finish is not None else STATUS_TIMEOUT
        self._park(t, wb, objects_too=True)
        if deadline is not None:
            wb.timer = self.scheduler.at(
                deadline, lambda: self._time_out(wb), kind="timeout", subject=t
            )
        return BLOCKED

    def _time_out(self, wb: WaitBlock) -> None:
        if self.quirks.wait_timeout_yields:
            wb.thread.yielded = True
        self.dispatcher.complete(wb, STATUS_TIMEOUT)

    def _settle_immediate(self, t: Thread) -> None:
        """End a wait that was decided while its call was being made (see ``wait``)."""
        wb = t.wait
        if wb is not None and wb.immediate is not None and t.blocked_call is not None:
            self.dispatcher.complete(wb, wb.immediate)

    def _park(self, t: Thread, wb: WaitBlock, *, objects_too: bool) -> None:
        if objects_too:
            self.dispatcher.begin(wb)
        else:
            t.wait = wb
            wb.since = self.clock
        t.state = ThreadState.BLOCKED
        if self.wait_events:
            self.emit(t, "wait.begin", objects=self._wait_sids(wb))

    def _wait_sids(self, wb: WaitBlock) -> list[str]:
        return [(self.sid_of(o.handles[0]) or "") if o.handles else "" for o in wb.objects]

    def _delay(self, t: Thread, until: int) -> None:
        """Hold a new thread back until ``until`` (canary's start delay)."""
        t.state = ThreadState.DELAYED
        t.wake_at = until
        self.scheduler.at(until, lambda: self._end_delay(t, until), kind="start", subject=t)

    def _end_delay(self, t: Thread, until: int) -> None:
        if t.state is ThreadState.DELAYED and t.wake_at == until:
            t.wake_at = None
            self._make_runnable(t)

    def wake(self, t: Thread, status: int, wb: WaitBlock | None = None) -> None:
        """A blocked call of ``t`` completes with ``status``; ``t`` becomes runnable."""
        if self.wait_events and t.state is ThreadState.BLOCKED:
            self.emit(
                t,
                "wait.end",
                status=status & M32,
                objects=self._wait_sids(wb) if wb is not None else None,
            )
        call = t.blocked_call
        t.blocked_call = None
        if t.state is ThreadState.TERMINATED:
            return
        if status == STATUS_USER_APC and t.apcs and call is not None:
            t.deferred = (call[0], call[1], status)
            self._push_apcs(t)
            self._make_runnable(t)
            return
        if call is not None:
            self._finish_call(t, call[0], call[1], status)
        t.pending = t.gpr[3] & M32
        self._make_runnable(t)

    def _make_runnable(self, t: Thread) -> None:
        if t.suspend_count > 0:
            t.state = ThreadState.SUSPENDED
            return
        t.state = ThreadState.READY
        if t.program is not None:
            self.scheduler.make_ready(t)

    def queue_apc(self, t: Thread, apc: UserApc) -> None:
        """Queue a user APC; an alertable wait in progress ends with STATUS_USER_APC."""
        t.apcs.append(apc)
        wb = t.wait
        if wb is not None and wb.alertable and not wb.done:
            self.dispatcher.complete(wb, STATUS_USER_APC)

    def _apc_chain(self, t: Thread) -> Program:
        apcs = t.apcs
        while apcs:
            apc = apcs.popleft()
            program = self.program_for(t, apc.routine, (apc.context, apc.arg1, apc.arg2))
            self.emit(t, "marker", text=f"apc 0x{apc.routine:08x}", entry=apc.routine)
            if program is not None:
                yield from program
        return None

    def _push_apcs(self, t: Thread) -> None:
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

    def _finish_deferred(self, t: Thread) -> None:
        if t.deferred is not None:
            ex, call_id, status = t.deferred
            t.deferred = None
            self._finish_call(t, ex, call_id, status)
            t.pending = t.gpr[3] & M32

    # -- running ------------------------------------------------------------------------------

    def run(self, *, max_calls: int | None = None, max_time: int | None = None) -> RunResult:
        """Run every thread program until all end, a wedge, or a limit on calls or virtual time."""
        call_limit = None if max_calls is None else self.calls + max_calls
        sched = self.scheduler
        while True:
            if call_limit is not None and self.calls >= call_limit:
                return RunResult("limit", self.calls, self.clock)
            t = sched.pick()
            if t is None:
                outcome = self._idle(max_time)
                if outcome is None:
                    continue
                if outcome == "wedge":
                    from x360k.wedge import build_wedge_report

                    return RunResult("wedge", self.calls, self.clock, build_wedge_report(self))
                return RunResult(outcome, self.calls, self.clock)
            self._run_slice(t, call_limit)
            timed = sched._timed
            if timed and timed[0].when <= self.clock:
                sched.fire_due(self.clock)
            if max_time is not None and self.clock >= max_time:
                return RunResult("limit", self.calls, self.clock)

    def _idle(self, max_time: int | None) -> Literal["finished", "wedge", "limit"] | None:
        """No thread is ready: jump the clock to the next deadline, or say why we stop.

        Time only helps if something due can still wake a thread: armed timers
        that nobody waits on (and that queue no APC for an alertable waiter) fire
        for ever without changing anything, so they do not keep a wedge alive.
        """
        deadline = self.scheduler.next_deadline()
        if deadline is not None and self._time_can_help():
            if max_time is not None and deadline > max_time:
                self.clock = max(self.clock, max_time)
                return "limit"
            self.clock = max(self.clock, deadline)
            self.scheduler.fire_due(self.clock)
            return None
        alive = [t for t in self.threads if t.program is not None or t.program_stack]
        if not alive:
            return "finished"
        return "wedge"

    def _time_can_help(self) -> bool:
        """Whether any pending timed action could make a thread runnable."""
        timers: list[KernelObject] = []
        for entry in self.scheduler.timed_entries():
            if entry.kind != "timer":
                return True
            timers.append(entry.subject)
        for t in self.threads:
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
        return False

    def _run_slice(self, t: Thread, call_limit: int | None) -> None:
        """Run ``t`` until it blocks, yields, ends, is preempted or uses its quantum."""
        self.current = t
        t.state = ThreadState.RUNNING
        t.yielded = False
        if not t.started:
            t.started = True
            if t.apcs:
                # APCs queued before the thread first ran are delivered as it starts.
                self._push_apcs(t)
        lookup = self._export_lookup
        sched = self.scheduler
        outer = self._quantum_left, self._call_limit
        self._quantum_left = QUANTUM
        self._call_limit = call_limit
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
                        self._finish_deferred(t)
                        if t.program is None:
                            # A Kernel.call-driven thread has run its APCs; its call returns.
                            t.state = ThreadState.READY
                            return
                        continue
                    code = stop.value if isinstance(stop.value, int) else 0
                    self.exit_thread(t, code)
                    return
                if export == PREEMPT:
                    break
                if export == SERVED:
                    verdict = args[0]
                else:
                    ex = lookup.get(export) or self.exports.get(export)
                    decoded = self._load_args(t, ex, args)
                    blocked = self._invoke(t, ex, decoded) == BLOCKED
                    verdict = BLOCKED if blocked else self._after_call(t)
                if verdict == BLOCKED:
                    if t.wait is not None and t.wait.immediate is not None:
                        self._settle_immediate(t)
                    return
                if verdict == SLICE_ENDS:
                    break
        finally:
            self.current = None
            self._quantum_left, self._call_limit = outer
        if t.state is ThreadState.RUNNING:
            t.state = ThreadState.READY
            sched.make_ready(t)

    def _after_call(self, t: Thread) -> int:
        """A call of the running thread ``t`` completed: whether its slice goes on.

        The per-call rules of a slice, in one place for ``_run_slice`` and
        ``serve_call``: r3 becomes the value the program receives; the slice
        ends when ``t`` stopped running, yielded, a higher-priority thread is
        ready, the call limit or the quantum is reached; otherwise timed actions
        now due run first. Ending with ``t`` still RUNNING puts it back in the
        ready queue.
        """
        t.pending = t.gpr[3] & M32
        if t.state is not ThreadState.RUNNING:
            return SLICE_ENDS
        self._quantum_left -= 1
        sched = self.scheduler
        if t.yielded or sched.higher_ready(t.priority):
            return SLICE_ENDS
        limit = self._call_limit
        if limit is not None and self.calls >= limit:
            return SLICE_ENDS
        timed = sched._timed
        if timed and timed[0].when <= self.clock:
            sched.fire_due(self.clock)
        return SLICE_GOES_ON if self._quantum_left > 0 else SLICE_ENDS

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
        n = len(args)
        t.gpr[3 : 3 + n] = args
        if self._invoke(t, ex, args if n == ex.nargs else None) == BLOCKED:
            return BLOCKED
        return self._after_call(t)

    def _drive_until_unblocked(self, t: Thread) -> None:
        """Run other threads until ``t``'s blocked call completes, or report the wedge."""
        saved = self.current
        sched = self.scheduler
        try:
            self._settle_immediate(t)
            while t.blocked_call is not None or t.deferred is not None:
                timed = sched._timed
                if timed and timed[0].when <= self.clock:
                    sched.fire_due(self.clock)
                    continue
                other = sched.pick()
                if other is None:
                    if self._idle(None) is not None:
                        from x360k.wedge import build_wedge_report

                        raise WedgeError(build_wedge_report(self))
                    continue
                self._run_slice(other, None)
        finally:
            self.current = saved

    # -- helpers for handlers -----------------------------------------------------------------

    def state_changed(self, obj: KernelObject) -> None:
        """Keep a guest dispatcher header's signal_state true (console profile only).

        The field's place in its region's buffer is looked up once per object and
        body: regions never move, and this runs on every signal and satisfied wait.
        """
        body = obj.body
        if body and self._sync_headers:
            cell = obj.signal_cell
            if cell is None or cell[0] != body:
                buf, off = self.memory.span(body + 4, 4)
                cell = obj.signal_cell = (body, buf, off)
            _SIGNAL_STATE.pack_into(cell[1], cell[2], obj.signal_state() & M32)

    def signal(self, obj: KernelObject) -> None:
        """An object's state changed in a way that may satisfy waiters."""
        if obj.waiters:
            self.dispatcher.signal(obj)
        if obj.body and self._sync_headers:
            self.state_changed(obj)

    def system_time(self) -> int:
        """KeQuerySystemTime: 100 ns units since 1601, from the virtual clock."""
        return SYSTEM_TIME_BASE + self.clock

    def deadline_from(self, timeout_ptr: int, *, delay: bool = False) -> int | None:
        """A guest LARGE_INTEGER* timeout as a virtual deadline (None = forever).

        Canary (quirk ``wait_timeout_milliseconds``) converts to whole
        milliseconds: relative values truncate, positive ones are misread as a
        millisecond count, 0xFFFFFFFF ms means forever. The console keeps 100 ns
        precision and reads positive values as absolute system times.
        """
        if timeout_ptr == 0:
            return None
        value = self.memory.read_s64(timeout_ptr)
        now = self.clock
        if delay and value > 0 and self.quirks.delay_ignores_absolute:
            return now
        if self.quirks.wait_timeout_milliseconds:
            if value == 0:
                return now
            ms = ((-value) // 10_000 if value < 0 else value) & M32
            if ms == M32:
                return None
            return now + ms * 10_000
        if value < 0:
            return clamp_deadline(now - value)
        return clamp_deadline(max(now, value - SYSTEM_TIME_BASE))
