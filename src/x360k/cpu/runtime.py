"""Guest threads as saved CPU contexts, driven as thread programs on the kernel's scheduler.

Each routine the guest starts (the entry point, an ExCreateThread start
routine, an APC routine) becomes a *CPU program*: a generator that loads its
register context into the shared engine and runs unicorn. Each import thunk's
``sc`` is a kernel call, made inside the interrupt hook (by the export's CPU
plan, or its call plan and the run loop's own per-call rules) while unicorn
keeps running, as long as a fresh start would be the same run (a spent quantum
rolls over in place when ``run`` would only start the same thread again);
otherwise unicorn stops and the program hands the call's verdict (``SERVED``)
to the run loop.
With ``serve_in_hook=False`` every ``sc`` stops unicorn and the program
yields the call ``(ordinal, args)`` like any scripted program. Either way the
kernel decides every interleaving; unicorn only ever runs one context at a
time, and a context that is parked (its call blocked, or another thread's
turn) is saved in a unicorn context.

Preemption is deterministic: when another thread is ready to run or a timed
event is pending, a run gets an instruction budget (unicorn's ``count``);
when it runs out the program yields ``PREEMPT`` (no kernel call, no trace
event) and the clock moves by the budget's virtual time. When nothing else
could run, counting would only slow the guest down and change nothing
observable (no other thread, no timer can act before this thread's next
kernel call), so the run is uncounted and at full speed.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from unicorn import ppc_const as R

from x360k.call_plans import CpuPlanHost
from x360k.cpu.engine import INTR_SYSCALL, Engine
from x360k.cpu.fault import INTERRUPT_NAMES, FaultReport, GuestFault, classify, disassemble
from x360k.cpu.loader import GuestImage
from x360k.cpu.shared_memory import share_memory
from x360k.cpu.thunks import RETURN_MARKER, RETURN_TRAMPOLINE, TRAMPOLINE_BASE, return_stub
from x360k.exports.kernel_variables import STAMP_PERIOD, refresh_time_stamp_bundle
from x360k.exports.registry import BLOCKED, Export
from x360k.memory import GuestMemoryError
from x360k.objects.thread import ThreadState
from x360k.run_loop import PREEMPT, SERVED, SLICE_ENDS, SLICE_GOES_ON
from x360k.trace.text_form import format_event

if TYPE_CHECKING:
    from x360k.call_plans import CpuPlan, Plan
    from x360k.kernel import Kernel
    from x360k.objects.thread import Program, Thread
    from x360k.trace.event import TraceEvent

M32: Final = 0xFFFFFFFF
#: Instructions a thread may run between two scheduling points while another could run.
BUDGET: Final = 100_000
#: Virtual time an exhausted budget costs (100 ns ticks): about 100k instructions at 3.2 GHz.
BUDGET_TICKS: Final = 300
#: Stack a nested routine (an APC) leaves untouched below the interrupted frame.
NESTED_FRAME_GAP: Final = 0x100
#: The uc_err codes for unmapped and protected accesses, by what was accessed.
_MEMORY_ERRORS: Final = {6: "read", 7: "write", 8: "fetch", 12: "write", 13: "read", 14: "fetch"}
_UC_ERR_INSN_INVALID: Final = 10
#: Fault reasons that mean "the CPU would not run this instruction" (then say what it is).
_UNRUNNABLE: Final = frozenset(
    {"illegal instruction", INTERRUPT_NAMES[96], INTERRUPT_NAMES[6], INTERRUPT_NAMES[73]}
)
#: The hook's own verdict after serving a call: the slice goes on, but unicorn must be
#: restarted (with a fresh, or now a first, instruction budget) rather than resumed.
_RESTART: Final = 2
_RUNNING: Final = ThreadState.RUNNING
#: What the interrupt hook keeps per ordinal: export, argument reader, plan.
_CallEntry = tuple[Export, "Callable[[Any, int], tuple[int, ...]] | None", "Plan | None"]


@dataclass(slots=True)
class CpuContext:
    """One routine activation's registers: a unicorn context once it has been parked."""

    thread: Thread
    pc: int
    initial: list[tuple[int, int]]
    handle: Any = None


class CpuRuntime:
    """Runs guest code for one kernel: the engine, the loaded image and the contexts."""

    def __init__(
        self, kernel: Kernel, image: GuestImage | None = None, *, serve_in_hook: bool = True
    ) -> None:
        self.k = kernel
        self.image = image
        self.engine = engine = Engine()
        share_memory(kernel.memory, engine)
        page = kernel.memory.map(TRAMPOLINE_BASE, 0x1000, "cpu trampolines")
        stub = return_stub()
        page.data[: len(stub)] = stub
        self._template = engine.new_context()
        engine.save_context(self._template)
        self.loaded: CpuContext | None = None
        self._exports: dict[int, Export] = {ex.ordinal: ex for ex in kernel.exports}
        self._interrupt = -1
        self._bad_access: tuple[int, int] | None = None
        #: Serve kernel calls inside the interrupt hook (off: stop unicorn at every ``sc``
        #: and yield the call, the reference behaviour the tests compare against).
        self.serve_in_hook = serve_in_hook
        #: While unicorn runs: the thread whose calls the hook may serve (None: it may not),
        #: and whether the run counts instructions.
        #: (set by the hook: ``_serve(thread, counted)``), and whether the run counts.
        self._serve: Callable[[Thread | None, bool], None] = lambda t, counted: None
        self._counted = False
        #: What the hook did with the last ``sc`` it served and stopped at (a verdict).
        self._served: int | None = None
        #: An exception raised inside the hook, re-raised once unicorn has stopped.
        self._failure: BaseException | None = None
        #: Unicorn is running (a served call must not start guest code again).
        self._in_run = False
        #: How often a thread ran out of its instruction budget and gave way.
        self.preemptions = 0
        #: Where fault reports take their "last events" from (the runner's ring buffer).
        self.recent: Iterable[TraceEvent] | None = None
        engine.hook_interrupts(self._interrupt_hook())
        engine.hook_invalid_memory(self._on_invalid_memory)
        kernel.routine_resolver = self.resolve
        kernel.ext["cpu"] = self

    # -- unicorn hooks ----------------------------------------------------------------------------

    def _interrupt_hook(self) -> Callable[[Any, int, Any], None]:
        """The interrupt hook: serves kernel calls without leaving unicorn when it may.

        Stopping and restarting unicorn costs more than a kernel call, so the
        call is made here, through the export's call plan and the run loop's own
        per-call rules. Unicorn resumes after the ``sc`` only if a fresh start
        would be the same run: the thread's slice goes on with the same program,
        and the run was uncounted and still would be (nothing else can act
        before the thread's next call). Otherwise it stops and the program
        hands the verdict to the run loop (``_run``). Any other interrupt, the
        return stub and unknown ordinals stop unicorn for the program to handle.

        While the run is uncounted and the registers are unicorn's own, an
        export called before is served by its CPU plan (``bind_cpu_plan``): the
        whole call and these rules in one frame, the arguments read from the
        register file. A closure over the hot objects: this runs once per guest
        kernel call.
        """
        engine = self.engine
        paths = engine.syscall_paths()
        regs, lr, read, write_r3 = paths.regs, paths.lr_index, paths.read, paths.write_r3
        stop = engine.stop
        k = self.k
        exports = self._exports
        # Per ordinal called so far: the export, the reader of its (at most eight) register
        # arguments, and its call plan (``Kernel.serve_call`` without the detour).
        calls: dict[int, _CallEntry] = {}
        # By ordinal, for each export called so far that has one: its CPU plan (live
        # registers only). A list: indexing it is the cheapest lookup there is.
        cpu_plans: list[CpuPlan | None] = [None] * (max(exports, default=0) + 1)

        serve_call = k.serve_call
        after_call = k.after_call
        loop = k.run_loop
        roll_over = loop.roll_over
        sched = k.scheduler
        #: When KeTimeStampBundle is next refreshed (canary's period: 1 ms of guest time).
        stamp = [0]
        #: The thread whose calls the hook may serve (None: it may not), and the same
        #: thread when its CPU plans may serve them (the run is uncounted).
        serving: Thread | None = None
        planned: Thread | None = None

        def refresh() -> None:
            refresh_time_stamp_bundle(k)
            stamp[0] = k.clock + STAMP_PERIOD

        def settle(t: Thread, verdict: int, program: object) -> None:
            """Resume unicorn after a served call, or stop it for the program and the run loop.

            ``verdict``: the call's (BLOCKED, or ``after_call``'s). A slice that ended on
            its quantum alone rolls over into the next one in place (``RunLoop.roll_over``)
            when the run is uncounted: a restart would only refresh KeTimeStampBundle (done
            here) and resume with r3.
            """
            if k.clock >= stamp[0]:
                refresh()
            if t.program is program:
                if verdict == SLICE_ENDS and not self._counted and roll_over(t):
                    refresh_time_stamp_bundle(k)  # what a fresh start of unicorn does
                    verdict = SLICE_GOES_ON
                if verdict == SLICE_GOES_ON:
                    if not self._counted and not sched._timed and not sched.ready:
                        regs[3] = t.pending  # type: ignore[assignment]
                        t.pending = None
                        if write_r3 is not None:
                            write_r3()
                        return
                    verdict = _RESTART
            self._served = verdict
            stop()

        def after(t: Thread, result: int, program: object) -> None:
            """A served call that may not simply resume (``result``: r3 as unsigned, or BLOCKED)."""
            settle(t, BLOCKED if result == BLOCKED else after_call(t), program)

        host = CpuPlanHost(regs, lr, loop, stamp, after, refresh)

        def entry(ordinal: int) -> _CallEntry | None:
            ex = exports.get(ordinal)
            if ex is None:
                return None
            found = calls[ordinal] = (
                ex,
                struct.Struct(f"={ex.register_args}I").unpack_from if ex.register_args else None,
                None if ex.variadic else k.plan_for(ordinal),
            )
            if read is None:
                cpu_plan = k.cpu_plan_for(ordinal, host)
                if cpu_plan is not None:
                    cpu_plans[ordinal] = cpu_plan
            return found

        def serve(t: Thread | None, counted: bool) -> None:
            # CPU plans serve only the kernel's current thread: that is decided here, once
            # per run (a handler that changed ``k.current`` would have to restore it, as
            # ``Kernel.call`` does).
            nonlocal serving, planned
            serving = t
            planned = None if counted or k.current is not t else t

        self._serve = serve

        def general(number: int) -> None:
            """Any interrupt but an ``sc`` a CPU plan serves: served here, or unicorn stops."""
            t = serving
            if number != INTR_SYSCALL or t is None:
                self._interrupt = number
                stop()
                return
            try:
                if read is not None:
                    read()
                call = calls.get(regs[0]) or entry(regs[0])
                if call is None or k.current is not t:
                    self._interrupt = number
                    stop()
                    return
                ex, unpack, plan_ = call
                t.ret_addr = regs[lr]
                t.gpr[1] = regs[1]
                program = t.program
                args = unpack(regs, 12) if unpack is not None else ()  # r3.. at byte 12
                result = None if plan_ is None else plan_(t, args)
                if result is None:  # variadic, or more than eight arguments: the generic way
                    settle(t, serve_call(t, ex, args), program)
                    return
                if (
                    result != BLOCKED
                    and not self._counted
                    and not sched.ready
                    and not sched._timed
                    and t.state is _RUNNING
                    and not t.yielded
                    and t.program is program
                ):
                    # ``after_call`` when nothing else is ready or timed (so nothing can
                    # preempt, and no timer is due), inline; unicorn resumes on SLICE_GOES_ON.
                    quantum = loop._quantum_left - 1
                    if quantum > 0 and k.calls < loop._call_bound:
                        loop._quantum_left = quantum
                        if k.clock >= stamp[0]:
                            refresh()
                        regs[3] = result
                        if write_r3 is not None:
                            write_r3()
                        return
                after(t, result, program)
                return
            except BaseException as exc:  # re-raised by the program once unicorn stopped
                self._failure = exc
            stop()

        def failed(exc: BaseException) -> None:
            self._failure = exc  # re-raised by the program once unicorn has stopped
            stop()

        def hook(uc: Any, number: int, data: Any) -> None:
            t = planned
            if t is not None and number == 8:  # INTR_SYSCALL
                try:
                    plan = cpu_plans[regs[0]]
                except IndexError:  # r0 is no ordinal at all (the return stub's marker)
                    plan = None
                if plan is not None:
                    try:
                        plan(t)
                    except BaseException as exc:
                        failed(exc)
                    return
            general(number)

        return hook

    def _on_invalid_memory(
        self, uc: Any, access: int, address: int, size: int, value: int, data: Any
    ) -> bool:
        self._bad_access = (address & M32, size)
        return False

    # -- programs ---------------------------------------------------------------------------------

    def resolve(self, thread: Thread, address: int, args: tuple[int, ...]) -> Program:
        """The kernel's routine resolver: any code address runs as guest code.

        A thread that already runs a program is being interrupted (an APC): its
        routine gets a frame below the interrupted one on the same stack.
        """
        sp = thread.gpr[1] & M32
        if thread.program is not None or thread.program_stack:
            sp = (sp - NESTED_FRAME_GAP) & ~0xF
        return self.program(thread, address, args, sp)

    def start_main(self, entry: int) -> Thread:
        t = self.k.main_thread
        return self.k.start_main(self.program(t, entry, (), t.gpr[1] & M32))

    def program(self, thread: Thread, entry: int, args: tuple[int, ...], sp: int) -> Program:
        """A CPU program running ``entry(args...)`` on ``thread`` with stack pointer ``sp``."""
        with contextlib.suppress(GuestMemoryError):
            self.k.memory.write_u32(sp, 0)  # the ABI's back chain: no caller frame
        if self.image is not None and self.image.tls:
            from x360k.exports.tls import thread_block

            thread_block(self.k, thread)  # a XEX's static TLS is there before its code runs
        initial = [
            (R.UC_PPC_REG_1, sp),
            (R.UC_PPC_REG_13, thread.pcr),
            (R.UC_PPC_REG_LR, RETURN_TRAMPOLINE),
        ]
        initial += [(R.UC_PPC_REG_3 + i, a & M32) for i, a in enumerate(args[:8])]
        return self._run(CpuContext(thread, entry & M32, initial))

    def _load(self, ctx: CpuContext) -> None:
        engine = self.engine
        previous = self.loaded
        if previous is not None:
            if previous.handle is None:
                previous.handle = engine.new_context()
            engine.save_context(previous.handle)
        if ctx.handle is None:
            engine.restore_context(self._template)
            engine.write_regs(ctx.initial)
        else:
            engine.restore_context(ctx.handle)
        self.loaded = ctx

    def _contended(self) -> bool:
        """Whether anything but the running thread could act before its next kernel call."""
        sched = self.k.scheduler
        return sched.any_ready() or (bool(sched._timed) and sched.next_deadline() is not None)

    def _run(self, ctx: CpuContext) -> Program:
        engine = self.engine
        exports = self._exports
        t = ctx.thread
        pc = ctx.pc
        status: int | None = None
        try:
            while True:
                if self._in_run:
                    raise RuntimeError(
                        "guest code started from inside a kernel call served in the CPU hook"
                    )
                if self.loaded is not ctx:
                    self._load(ctx)
                if status is not None:
                    engine.write_r3(status)
                    status = None
                self._interrupt = -1
                refresh_time_stamp_bundle(self.k)  # KeTimeStampBundle as guest code resumes
                counted = self._contended()
                self._counted = counted
                self._in_run = True
                self._serve(t if self.serve_in_hook else None, counted)
                try:
                    error = engine.start(pc, BUDGET if counted else 0)
                finally:
                    self._in_run = False
                    self._serve(None, False)
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                served = self._served
                if served is not None:
                    self._served = None
                    pc = engine.read_reg(R.UC_PPC_REG_PC)
                    if served == _RESTART:
                        # What the run loop does for a slice that goes on: send t.pending.
                        status = t.pending
                        t.pending = None
                    else:
                        status = yield (SERVED, (served,))
                    continue
                regs = engine.call_registers()
                pc = regs[0]
                if error:
                    raise self._fault(t, pc, self._memory_reason(error), regs)
                number = self._interrupt
                if number == INTR_SYSCALL:
                    r0 = regs[2]
                    if r0 == RETURN_MARKER:
                        return regs[4]
                    ex = exports.get(r0)
                    if ex is None:
                        raise self._fault(t, pc - 4, self._missing_import(pc - 8, r0), regs)
                    t.ret_addr = regs[1]
                    t.gpr[1] = regs[3]
                    status = yield (r0, tuple(regs[4 : 4 + ex.register_args]))
                    continue
                if number >= 0:
                    reason = INTERRUPT_NAMES.get(number, f"interrupt {number}")
                    raise self._fault(t, pc - 4, reason, regs)
                if pc == 0:
                    raise self._fault(t, 0, "jump to address 0", regs)
                self.preemptions += 1
                self.k.clock += BUDGET_TICKS
                yield (PREEMPT, ())
        finally:
            if self.loaded is ctx:
                self.loaded = None
            if ctx.handle is not None:
                engine.free_context(ctx.handle)
                ctx.handle = None

    # -- faults -----------------------------------------------------------------------------------

    def _missing_import(self, thunk: int, r0: int) -> str:
        """Why a call through the thunk at ``thunk`` (its ``li r0``) cannot be served."""
        named = self.image.unresolved.get(thunk) if self.image is not None else None
        if named is not None:
            return f"not implemented: {named}"
        return f"call to xboxkrnl ordinal {r0} (0x{r0:x}), which x360k lacks"

    def _memory_reason(self, error: int) -> str:
        what = _MEMORY_ERRORS.get(error)
        bad = self._bad_access
        self._bad_access = None
        if error == _UC_ERR_INSN_INVALID:
            return "illegal instruction"
        if what is None:
            return f"unicorn error {error}"
        state = "protected" if error >= 12 else "unmapped"  # UC_ERR_*_PROT: a page's protection
        if bad is None:
            return f"{what} of {state} memory"
        return f"{what} of {state} memory at 0x{bad[0]:08x} ({bad[1]} bytes)"

    def _fault(self, t: Thread, pc: int, reason: str, regs: list[int]) -> GuestFault:
        k = self.k
        pc &= M32
        try:
            code = k.memory.read_bytes(pc, 4)
        except GuestMemoryError:
            code = b""
        instruction = disassemble(code, pc) if code else "<unmapped>"
        what = classify(code) if reason in _UNRUNNABLE else None
        if what is not None:
            reason = f"{reason}: {what}"
        registers = self.engine.snapshot()
        registers["pc"] = pc
        if self.recent is not None:
            last = [format_event(e, with_tid=True) for e in self.recent]
        else:
            last = [f"[{idx}] call {name} tid={t.ordinal}" for idx, name in t.recent]
        report = FaultReport(
            reason=reason,
            tid=t.ordinal,
            thread_id=t.thread_id,
            pc=pc,
            symbol=self.image.symbolize(pc) if self.image is not None else None,
            instruction=instruction,
            registers=registers,
            last_events=last,
        )
        k.emit(t, "marker", text=f"guest fault: {reason}", entry=pc)
        return GuestFault(report)
