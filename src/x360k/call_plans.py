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
from typing import TYPE_CHECKING, Any, Final, Protocol

from x360k.exports.registry import BLOCKED, Export, Returns
from x360k.handles import ObjectInUse
from x360k.memory import GuestMemoryError
from x360k.objects.thread import Thread, ThreadState
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

_TEMPLATE: Final = """
def bind(k, ex, finish_call, stop_for, hex_text, hex_get):
    handler = ex.handler
    name = ex.name
    module = ex.module
    ordinal = ex.ordinal

    def plan(t, args):
{unpack}
        if not ({checks}):
            return None
        gpr = t.gpr
{writes}
        k.calls += 1
        k.clock += {call_cost}
        call_id = t.next_call_id
        t.next_call_id = call_id + 1
        idx = t.next_idx
        t.recent.append((idx, name))
        t.next_idx = idx + 2
        rec = k.call_recorder
        if rec is not None:
            rec.record_call(
                t.ordinal, idx, name, module, ordinal, call_id, t.ret_addr, t.thread_id, k.clock,
                [{texts}],
            )
        try:
            result = handler(k, t{args})
        except GuestMemoryError:
            result = STATUS_ACCESS_VIOLATION
        except ObjectInUse as err:
            raise stop_for(k, t, name, err) from None
        if result == {blocked}:
            if t.state is not TERMINATED:
                t.blocked_call = (ex, call_id)
            return {blocked}
        if t.return_fields is None:
{returning}
        finish_call(t, ex, call_id, result)
        return gpr[3] & 0xFFFFFFFF

    return plan
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
                )
            return result""",
    Returns.VALUE: """\
            gpr[3] = result & 0xFFFFFFFFFFFFFFFF
            result &= M32
            idx = t.next_idx
            t.next_idx = idx + 1
            if rec is not None:
                rec.record_return(
                    t.ordinal, idx, name, module, ordinal, call_id, t.thread_id, k.clock,
                    None, result,
                )
            return result""",
    Returns.VOID: """\
            result = gpr[3] & 0xFFFFFFFF
            idx = t.next_idx
            t.next_idx = idx + 1
            if rec is not None:
                rec.record_return(
                    t.ordinal, idx, name, module, ordinal, call_id, t.thread_id, k.clock,
                    None, result,
                )
            return result""",
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
}


def plan_source(nargs: int, returns: Returns = Returns.STATUS) -> str:
    """The source of the plan binder for exports of ``nargs`` register arguments."""
    names = [f"a{i}" for i in range(nargs)]
    return _TEMPLATE.format(
        unpack=(
            f"        try:\n            ({', '.join(names)},) = args\n"
            "        except ValueError:\n            return None"
            if names
            else "        if args:\n            return None"
        ),
        args="".join(f", {a}" for a in names),
        checks=" and ".join(f"0 <= {a} <= 0xFFFFFFFF" for a in names) or "True",
        call_cost=CALL_COST,
        blocked=BLOCKED,
        writes="\n".join(f"        gpr[{3 + i}] = {a}" for i, a in enumerate(names)),
        texts=", ".join(f"hex_get({a}) or hex_text({a})" for a in names),
        returning=_RETURNING[returns],
    )


#: Compiled binders by arity and return kind: code only, the same for every kernel.
_BINDERS: dict[tuple[int, Returns], Callable[..., Plan]] = {}


def _binder(nargs: int, returns: Returns) -> Callable[..., Plan]:
    """The compiled binder for ``nargs`` (compiled on first use, then shared by all kernels)."""
    binder = _BINDERS.get((nargs, returns))
    if binder is None:
        namespace = dict(_GLOBALS)
        source = plan_source(nargs, returns)
        name = f"<x360k call plan, {nargs} args, returns {returns.value}>"
        exec(compile(source, name, "exec"), namespace)
        binder = _BINDERS[nargs, returns] = namespace["bind"]
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
