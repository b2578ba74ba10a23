"""Stopping a run where the modelled kernel would use freed memory or bug-check.

Some guest calls are legal to make but leave the kernel being modelled in a
state it cannot go on from: dereferencing an object more times than it was
referenced, or closing a running thread's own handle (``NtClose(0xFFFFFFFE)``
under canary) until its object goes while the thread still runs. Canary frees
the object and goes on using it; the console bug-checks. x360k does neither:
the object table refuses the change before making it
(:class:`~x360k.handles.ObjectInUse`) and the kernel stops the run with a
report shaped like a guest fault (:class:`~x360k.cpu.fault.GuestFault`), so
whatever already reports guest faults (the CPU runner, ``x360k run``) reports
this too, naming the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.handles import ObjectInUse

if TYPE_CHECKING:
    from x360k.cpu.fault import GuestFault
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

#: What each profile's kernel does at such a call, for the report.
CONSEQUENCE: Final = {
    "canary": "canary would free the object and use it afterwards",
    "console": "the console kernel would bug-check (REFERENCE_BY_POINTER)",
}


def stop_for(k: KernelState, t: Thread, call: str, err: ObjectInUse) -> GuestFault:
    """The fault that stops the run at ``call`` (the table was left as it was)."""
    consequence = CONSEQUENCE.get(k.profile, "the kernel cannot go on")
    return stop_at(k, t, call, f"{err.why} ({err.obj.describe()}); {consequence}")


def stop_at(k: KernelState, t: Thread, call: str, reason: str) -> GuestFault:
    """The fault that stops the run at ``call`` for ``reason``, with a ``kernel stop`` marker.

    Also what KeBugCheck and the like raise: the kernel state is left as it is,
    so the report shows what the guest saw.
    """
    from x360k.cpu.fault import FaultReport, GuestFault

    gpr = t.gpr
    report = FaultReport(
        reason=f"{call}: {reason}",
        tid=t.ordinal,
        thread_id=t.thread_id,
        pc=(t.ret_addr or 0) & 0xFFFFFFFF,
        symbol=None,
        instruction=f"call {call}",
        registers={f"r{i}": gpr[i] & 0xFFFFFFFF for i in range(3, 11)},
        last_events=[f"[{idx}] call {name} tid={t.ordinal}" for idx, name in t.recent],
    )
    k.emit(t, "marker", text=f"kernel stop: {call}: {reason}")
    return GuestFault(report)
