"""Call plans: one export's whole call path, compiled once per arity and bound per kernel.

The generic path (:meth:`x360k.call_path.CallPath.invoke`) takes the arguments
as a sequence, reads the export's declaration on every call and calls the
handler with ``*args``. A plan does the same work for one export with its
arguments as positional parameters: written to r3..r10 one by one, formatted
for the trace through a cache of hex texts, the handler (bound once) called
with a fixed arity, and the status sign-extended into r3. The source of each
arity's plan is generated from one template (below) and compiled once per
process; binding it to a kernel and an export is a closure call.

A plan refuses (returns None, having changed nothing) when an argument is
not a plain 32-bit value; the caller then takes the generic path, which
masks arguments as a guest's registers would. Both paths record the same
events with the same fields, so traces do not depend on which ran; the golden
traces and the determinism tests hold both to that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from x360k.exports.registry import BLOCKED, Export, Returns
from x360k.handles import ObjectInUse
from x360k.memory import GuestMemoryError
from x360k.objects.thread import RECENT_MASK, Thread, ThreadState
from x360k.scheduler import CALL_COST
from x360k.status import STATUS_ACCESS_VIOLATION

if TYPE_CHECKING:
    from x360k.trace.call_records import CallRecorder

M32: Final = 0xFFFFFFFF
M64: Final = 0xFFFFFFFFFFFFFFFF
#: Plans exist for exports of at most this many (register) arguments.
MAX_PLAN_ARGS: Final = 8
#: Hex texts kept per kernel before the cache starts over (bounds its memory).
HEX_CACHE_LIMIT: Final = 1 << 16

#: A plan: (thread, arguments) -> r3 as unsigned, BLOCKED, or None (not taken: nothing done).
Plan = Callable[[Thread, tuple[int, ...]], "int | None"]
#: A CPU plan: serves the ``sc`` of the thread unicorn runs (see :func:`bind_cpu_plan`).
CpuPlan = Callable[[Thread], None]

#: The parts of a plan's source: how it starts (its arguments), the call itself (shared
#: by both kinds of plan), and how it ends. ``{...}`` fields are filled per arity.
_BIND: Final = """
def bind(k, ex, finish_call, stop_for, hex_text, hex_get{host}):
    handler = ex.handler
    name = ex.name
    module = ex.module
    ordinal = ex.ordinal
{host_names}
    def plan({params}):
"""

#: A kernel-side plan's start: the arguments as a tuple, unpacked and range-checked.
_ARGS_FROM_TUPLE: Final = """\
{unpack}
        if not ({checks}):
            return None
        gpr = t.gpr
{writes}
"""

#: A CPU plan's start: the ``sc``'s registers, read straight from unicorn's register file
#: (32-bit, so no range checks), and the stack pointer as the hook sets it. The return
#: address (``t.ret_addr``) is read from LR only where something reads it: a traced call's
#: record and a stop report (no handler does).
_ARGS_FROM_REGISTERS: Final = """\
        gpr = t.gpr
        gpr[1] = regs[1]
        program = t.program
{reads}
"""

_CALL: Final = """\
        k.calls += 1
        k.clock += {call_cost}
        call_id = t.next_call_id
        t.next_call_id = call_id + 1
        idx = t.next_idx
        slot = call_id & {recent_mask}
        t.recent_idx[slot] = idx
        t.recent_names[slot] = name
        t.next_idx = idx + 2
        rec = k.call_recorder
        if rec is not None:
{ret_addr}            rec.record_call(
                t.ordinal, idx, name, module, ordinal, call_id, t.ret_addr, t.thread_id, k.clock,
                [{texts}],
            )
        try:
            result = handler(k, t{args})
        except GuestMemoryError:
            result = STATUS_ACCESS_VIOLATION
        except ObjectInUse as err:
{ret_addr}            raise stop_for(k, t, name, err) from None
        if result == {blocked}:
            if t.state is not TERMINATED:
                t.blocked_call = (ex, call_id)
{blocked_end}
        if t.return_fields is None:
{returning}
        else:
            finish_call(t, ex, call_id, result)
            result = gpr[3] & 0xFFFFFFFF
"""

#: A kernel-side plan ends by returning r3 as unsigned (or BLOCKED) to its caller.
_RETURN_RESULT: Final = """\
        return result

    return plan
"""

#: A CPU plan ends as the hook's ``after_call`` does when nothing else is ready or timed:
#: the quantum and the call limit taken, KeTimeStampBundle refreshed when due, r3 written,
#: and unicorn resumes. Anything else (the slice may end, the thread stopped running or
#: changed program) goes to the hook's own ``after`` with the result.
_RESUME: Final = """\
        if (
            sched.ready
            or sched._timed
            or t.state is not RUNNING
            or t.yielded
            or t.program is not program
        ):
            return after(t, result, program)
        quantum = loop._quantum_left - 1
        if quantum <= 0 or k.calls >= loop._call_bound:
            return after(t, result, program)
        loop._quantum_left = quantum
        if k.clock >= stamp[0]:
            refresh()
        regs[3] = result

    return plan
"""

#: What a CPU plan takes from its host (the CPU runtime's interrupt hook) besides the kernel.
_HOST_NAMES: Final = """\
    regs = host.regs
    lr = host.lr_index
    after = host.after
    refresh = host.refresh
    stamp = host.stamp
    loop = host.loop
    sched = k.scheduler
"""

#: How each kind of return lands in r3 and in its ``kernel.return`` (as ``finish_call`` does).
_RETURNING: Final = {
    Returns.STATUS: """\
            result &= 0xFFFFFFFF
            gpr[3] = result | 0xFFFFFFFF00000000 if result & 0x80000000 else result
            idx = t.next_idx
            t.next_idx = idx + 1
            if rec is not None:
                rec.record_return(
                    t.ordinal, idx, name, module, ordinal, call_id, t.thread_id, k.clock,
                    result, None,
                )""",
    Returns.VALUE: """\
            gpr[3] = result & 0xFFFFFFFFFFFFFFFF
            result &= 0xFFFFFFFF
            idx = t.next_idx
            t.next_idx = idx + 1
            if rec is not None:
                rec.record_return(
                    t.ordinal, idx, name, module, ordinal, call_id, t.thread_id, k.clock,
                    None, result,
                )""",
    Returns.VOID: """\
            result = gpr[3] & 0xFFFFFFFF
            idx = t.next_idx
            t.next_idx = idx + 1
            if rec is not None:
                rec.record_return(
                    t.ordinal, idx, name, module, ordinal, call_id, t.thread_id, k.clock,
                    None, result,
                )""",
}

_GLOBALS: Final[dict[str, Any]] = {
    "BLOCKED": BLOCKED,
    "CALL_COST": CALL_COST,
    "GuestMemoryError": GuestMemoryError,
    "M32": M32,
    "M64": M64,
    "ObjectInUse": ObjectInUse,
    "STATUS_ACCESS_VIOLATION": STATUS_ACCESS_VIOLATION,
    "TERMINATED": ThreadState.TERMINATED,
    "RUNNING": ThreadState.RUNNING,
}


def plan_source(nargs: int, returns: Returns = Returns.STATUS, *, cpu: bool = False) -> str:
    """The source of the plan binder for exports of ``nargs`` register arguments.

    ``cpu``: the CPU runtime's variant (see :func:`bind_cpu_plan`), the same call between
    a different start and end.
    """
    names = [f"a{i}" for i in range(nargs)]
    source = (
        _BIND
        + (_ARGS_FROM_REGISTERS if cpu else _ARGS_FROM_TUPLE)
        + _CALL
        + (_RESUME if cpu else _RETURN_RESULT)
    )
    return source.format(
        host=", host" if cpu else "",
        host_names=_HOST_NAMES if cpu else "",
        params="t" if cpu else "t, args",
        unpack=(
            f"        try:\n            ({', '.join(names)},) = args\n"
            "        except ValueError:\n            return None"
            if names
            else "        if args:\n            return None"
        ),
        args="".join(f", {a}" for a in names),
        checks=" and ".join(f"0 <= {a} <= 0xFFFFFFFF" for a in names) or "True",
        call_cost=CALL_COST,
        recent_mask=RECENT_MASK,
        blocked=BLOCKED,
        blocked_end=(
            f"            return after(t, {BLOCKED}, program)"
            if cpu
            else f"            return {BLOCKED}"
        ),
        writes="\n".join(f"        gpr[{3 + i}] = {a}" for i, a in enumerate(names)),
        reads="\n".join(f"        {a} = gpr[{3 + i}] = regs[{3 + i}]" for i, a in enumerate(names)),
        ret_addr="            t.ret_addr = regs[lr]\n" if cpu else "",
        texts=", ".join(f"hex_get({a}) or hex_text({a})" for a in names),
        returning=_RETURNING[returns],
    )


#: Compiled binders by arity, return kind and variant: code only, the same for every kernel.
_BINDERS: dict[tuple[int, Returns, bool], Callable[..., Any]] = {}


def _binder(nargs: int, returns: Returns, cpu: bool = False) -> Callable[..., Any]:
    """The compiled binder for ``nargs`` (compiled on first use, then shared by all kernels)."""
    binder = _BINDERS.get((nargs, returns, cpu))
    if binder is None:
        namespace = dict(_GLOBALS)
        source = plan_source(nargs, returns, cpu=cpu)
        kind = "CPU call plan" if cpu else "call plan"
        name = f"<x360k {kind}, {nargs} args, returns {returns.value}>"
        exec(compile(source, name, "exec"), namespace)
        binder = _BINDERS[nargs, returns, cpu] = namespace["bind"]
    return binder


def _refuse(t: Thread, args: tuple[int, ...]) -> int | None:
    """The plan of an export of more than eight arguments: always the generic path."""
    return None


class HexTexts:
    """``0x%08x`` texts of argument values, cached: a run passes the same few values often."""

    __slots__ = ("_cache", "get")

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}
        self.get = self._cache.get

    def text(self, value: int) -> str:
        cache = self._cache
        if len(cache) >= HEX_CACHE_LIMIT:
            cache.clear()
        text = cache[value] = f"0x{value:08x}"
        return text


class PlanHost(Protocol):
    """What a plan touches of its kernel besides the thread: the counters and the recorder."""

    calls: int
    clock: int
    call_recorder: CallRecorder | None


def bind_plan(
    k: PlanHost,
    ex: Export,
    finish_call: Callable[[Thread, Export, int, int], None],
    hex_texts: HexTexts,
) -> Plan:
    """``ex``'s plan bound to kernel ``k``."""
    from x360k.kernel_stop import stop_for

    if ex.nargs > MAX_PLAN_ARGS:
        return _refuse
    binder = _binder(ex.nargs, ex.returns)
    plan: Plan = binder(k, ex, finish_call, stop_for, hex_texts.text, hex_texts.get)
    return plan


class SliceCounters(Protocol):
    """The run loop's count of the running slice: calls left in its quantum, and the call
    count at which it must end (``x360k.run_loop.NO_CALL_LIMIT`` when there is no limit)."""

    _quantum_left: int
    _call_bound: int


@dataclass(frozen=True, slots=True)
class CpuPlanHost:
    """What a CPU plan takes from the interrupt hook that calls it.

    ``regs``: unicorn's live register file (r0, r1, r3..r10 at their numbers, LR at
    ``lr_index``). ``loop``: the run loop, whose slice the calls count in.
    ``after(t, result, program)``: the hook's own follow-up of a call that may not
    simply resume (``result`` is r3 as unsigned, or BLOCKED; ``program`` the thread's
    program when the call began). ``stamp[0]``: the clock at which KeTimeStampBundle is
    next refreshed, by ``refresh()``.
    """

    regs: memoryview
    lr_index: int
    loop: SliceCounters
    stamp: list[int]
    after: Callable[[Thread, int, object], None]
    refresh: Callable[[], None]


def bind_cpu_plan(
    k: PlanHost,
    ex: Export,
    finish_call: Callable[[Thread, Export, int, int], None],
    hex_texts: HexTexts,
    host: CpuPlanHost,
) -> CpuPlan | None:
    """``ex``'s CPU plan for kernel ``k`` and interrupt hook ``host``; None if it has none.

    The kernel-side plan's call, with its arguments read from the ``sc``'s registers
    and the hook's per-call rules fused in: one frame between unicorn and the handler,
    no argument tuple. The hook calls it only for the kernel's current thread while the
    run is uncounted (nothing else could act before the thread's next call); it resumes
    unicorn itself when that still holds after the call and the slice goes on, and
    hands everything else to ``host.after``. Variadic exports and exports of more than
    eight arguments have none.
    """
    from x360k.kernel_stop import stop_for

    if ex.variadic or ex.nargs > MAX_PLAN_ARGS:
        return None
    binder = _binder(ex.nargs, ex.returns, cpu=True)
    plan: CpuPlan = binder(k, ex, finish_call, stop_for, hex_texts.text, hex_texts.get, host)
    return plan
