"""The call path: one export call on one thread, from its arguments to r3 and its trace events.

``Kernel.call`` (a test or tool calling as a guest would) and the run loop
(a thread program's yielded call, a CPU thunk's ``sc``) both come here: the
arguments are put where a guest puts them (r3..r10, then the stack), decoded
by the registry's declaration, ``import.call`` / ``kernel.call`` recorded, the
handler run, and the status sign-extended into r3 with ``kernel.return``. A
handler that returns ``BLOCKED`` leaves the call open on the thread; the
blocking module finishes it when the wait completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from x360k.call_plans import CpuPlan, CpuPlanHost, HexTexts, Plan, bind_cpu_plan, bind_plan
from x360k.exports.registry import BLOCKED, Export, Returns, invoke_args
from x360k.handles import ObjectInUse
from x360k.kernel_state import KernelParts
from x360k.memory import GuestMemoryError
from x360k.objects.thread import RECENT_MASK, Thread, ThreadState
from x360k.scheduler import CALL_COST
from x360k.status import STATUS_ACCESS_VIOLATION
from x360k.trace.event import TraceEvent

M32: Final = 0xFFFFFFFF
M64: Final = 0xFFFFFFFFFFFFFFFF


class CallPath:
    """Makes export calls on the kernel's threads."""

    __slots__ = ("_hex", "_lookup", "k", "plans")

    def __init__(self, k: KernelParts) -> None:
        self.k = k
        self._lookup = k.exports.lookup_table
        #: Export name or ordinal -> its plan for this kernel (bound on first use).
        self.plans: dict[str | int, Plan] = {}
        self._hex = HexTexts()

    def plan_for(self, export: str | int) -> Plan:
        """The plan of an export named by name or ordinal (UnknownExportError if none)."""
        plans = self.plans
        plan = plans.get(export)
        if plan is None:
            ex = self._lookup.get(export) or self.k.exports.get(export)
            plan = plans.get(ex.ordinal)
            if plan is None:
                plan = plans[ex.ordinal] = bind_plan(self.k, ex, self.finish_call, self._hex)
            plans[export] = plan
        return plan

    def cpu_plan_for(self, ordinal: int, host: CpuPlanHost) -> CpuPlan | None:
        """The CPU plan of the export ``ordinal`` for the interrupt hook ``host`` (None: none).

        Made afresh on each request: a CPU runtime asks once per export and keeps it.
        """
        ex = self._lookup.get(ordinal) or self.k.exports.get(ordinal)
        return bind_cpu_plan(self.k, ex, self.finish_call, self._hex, host)

    def call(self, export: str | int, *args: int, thread: Thread | None = None) -> int:
        """Call an export exactly as a guest would; returns r3 as an unsigned 32-bit int.

        Arguments go to r3..r10 (and the stack beyond eight). If the call blocks,
        the other threads' programs run until it completes; if nothing can ever
        complete it, :class:`~x360k.run_loop.WedgeError` carries the wedge report.
        """
        k = self.k
        previous = k.current
        t = thread if thread is not None else (previous or k.main_thread)
        plan = self.plans.get(export) or self.plan_for(export)
        k.current = t
        try:
            result = plan(t, args)
            if result is None:
                result = self.generic(t, export, args)
            if result == BLOCKED:
                k.drive_until_unblocked(t)
                result = t.gpr[3] & M32
        finally:
            k.current = previous
        return result

    def generic(self, t: Thread, export: str | int, args: tuple[int, ...]) -> int:
        """A call its plan did not take (arguments not as declared): r3, or BLOCKED."""
        ex = self._lookup.get(export) or self.k.exports.get(export)
        if self.invoke(t, ex, self.load_args(t, ex, args)) == BLOCKED:
            return BLOCKED
        return t.gpr[3] & M32

    def load_args(self, t: Thread, ex: Export, args: tuple[int, ...]) -> Sequence[int] | None:
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
        memory = self.k.memory
        try:
            for i, value in enumerate(extra):
                memory.write_u64(sp + 0x50 + 8 * i, value & M32)
        except GuestMemoryError:
            # The thread's stack pointer leads nowhere (KeSetCurrentStackPointers can put
            # it anywhere): the arguments never arrive, and the call, reading them, gets
            # STATUS_ACCESS_VIOLATION as a guest's would.
            pass

    def invoke(self, t: Thread, ex: Export, decoded: Sequence[int] | None = None) -> int:
        """Decode, run and finish one export call on ``t``; BLOCKED if it must wait.

        ``decoded`` short-cuts the register read when the caller already holds
        the 32-bit arguments it has just written to r3..r10.
        """
        k = self.k
        k.calls += 1
        k.clock += CALL_COST
        args: Sequence[int] | None
        if decoded is not None:
            args = decoded
        elif ex.nargs > 8:
            try:
                args = invoke_args(k.memory, t, ex)
            except GuestMemoryError:
                args = None
        else:
            args = [value & M32 for value in t.gpr[3 : 3 + ex.nargs]]
        call_id = t.next_call_id
        t.next_call_id = call_id + 1
        idx = t.next_idx
        slot = call_id & RECENT_MASK
        t.recent_idx[slot] = idx
        t.recent_names[slot] = ex.name
        t.next_idx = idx + 2
        rec = k.call_recorder
        if rec is not None:
            rec.record_call(
                t.ordinal,
                idx,
                ex.name,
                ex.module,
                ex.ordinal,
                call_id,
                t.ret_addr,
                t.thread_id,
                k.clock,
                (ex.args_format % tuple(args)).split() if args else [],
            )
        if args is None:
            result = STATUS_ACCESS_VIOLATION
        else:
            try:
                result = ex.handler(k, t, *args)
            except GuestMemoryError:
                result = STATUS_ACCESS_VIOLATION
            except ObjectInUse as err:
                from x360k.kernel_stop import stop_for

                raise stop_for(k, t, ex.name, err) from None
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
        self.finish_call(t, ex, call_id, result)
        return result

    def finish_call(self, t: Thread, ex: Export, call_id: int, result: int) -> None:
        """Put a call's result in r3 and record its ``kernel.return`` (now, or when woken)."""
        gpr = t.gpr
        is_status = ex.returns_status
        if is_status:
            result &= M32
            gpr[3] = result | 0xFFFFFFFF00000000 if result & 0x80000000 else result
        elif ex.returns is Returns.VALUE:
            gpr[3] = result & M64
        idx = t.next_idx
        t.next_idx = idx + 1
        k = self.k
        rec = k.call_recorder
        if rec is not None:
            status = result if is_status else None
            ret = None if is_status else gpr[3] & M32
            extra = t.return_fields
            if extra:
                # Fields only this call's return carries (a file offset, a debug text): the
                # one return recorded as a whole event.
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
                        ts=k.clock,
                        status=status,
                        ret=ret,
                        **extra,
                    )
                )
            else:
                rec.record_return(
                    t.ordinal,
                    idx,
                    ex.name,
                    ex.module,
                    ex.ordinal,
                    call_id,
                    t.thread_id,
                    k.clock,
                    status,
                    ret,
                )
        elif t.return_fields:
            t.return_fields = None
