"""Wedge reports: who waits on what, since when, and who could still wake it.

A wedge is the state where no thread can run and no timer or timeout can ever
fire. The report is built from the kernel's state at that moment and says,
for each blocked thread, what it waits on (type, handles, sids, name, state,
owner), since when, its last calls, and which live threads could still signal
each object; objects no other live thread can reach are called out, and
ownership cycles between mutant holders are named as deadlocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from x360k.objects.base import KernelObject
from x360k.objects.mutant import Mutant
from x360k.objects.thread import Thread, ThreadState

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState


class Holder(msgspec.Struct, kw_only=True):
    """One live handle to a waited-on object and the thread whose call made it."""

    handle: str
    sid: str | None
    #: Ordinal of the thread whose call created this handle (None: made by the kernel).
    created_by: int | None
    #: That thread's state now: ready, blocked, suspended, delayed, terminated...
    creator_state: str | None


class WaitedObject(msgspec.Struct, kw_only=True):
    type: str
    handles: list[str]
    sids: list[str]
    name: str | None
    state: str
    signal_state: int
    owner_tid: int | None = None
    address: str | None = None
    reachable_by: list[int] = msgspec.field(default_factory=list)
    holders: list[Holder] = msgspec.field(default_factory=list)
    note: str = ""


class BlockedThread(msgspec.Struct, kw_only=True):
    tid: int
    thread_id: int
    state: str
    wait_kind: str
    since: int
    alertable: bool
    objects: list[WaitedObject]
    last_calls: list[str]
    note: str = ""


class WedgeReport(msgspec.Struct, kw_only=True):
    """Schema-versioned, JSON-serialisable description of a wedge."""

    version: int = 1
    clock: int
    blocked: list[BlockedThread]
    ended: list[int]
    suspended: list[int]
    cycles: list[list[int]]
    #: Live threads with no program to run (driven by Kernel.call, or an unknown start).
    idle: list[int] = msgspec.field(default_factory=list)
    #: Interrupt sources still firing (vsync, audio): they alone could not end the wait.
    interrupts: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    def render_text(self) -> str:
        lines = [
            f"WEDGE at virtual time {self.clock} ({self.clock / 10_000:.3f} ms): "
            f"no thread can run and no timer or timeout can fire."
        ]
        for b in self.blocked:
            head = (
                f"  thread {b.tid} (id {b.thread_id}) {b.state} in {b.wait_kind} since "
                f"t={b.since}{' (alertable)' if b.alertable else ''}"
            )
            lines.append(head)
            if b.note:
                lines.append(f"    {b.note}")
            for o in b.objects:
                name = f" name={o.name!r}" if o.name else ""
                where = f" at {o.address}" if o.address else ""
                handles = ",".join(o.handles) or "no handle"
                sids = ",".join(o.sids) or "-"
                lines.append(
                    f"    waits on {o.type}{where} handle {handles} sid {sids}{name}: {o.state}"
                )
                if o.owner_tid is not None:
                    lines.append(f"      owned by thread {o.owner_tid}")
                for hd in o.holders:
                    maker = (
                        "the kernel"
                        if hd.created_by is None
                        else f"thread {hd.created_by} ({hd.creator_state})"
                    )
                    lines.append(f"      handle {hd.handle} sid {hd.sid or '-'} made by {maker}")
                if o.reachable_by:
                    who = ", ".join(str(t) for t in o.reachable_by)
                    lines.append(f"      could be signalled by live thread(s) {who}")
                if o.note:
                    lines.append(f"      {o.note}")
            if b.last_calls:
                lines.append(f"    last calls: {'; '.join(b.last_calls)}")
        for cycle in self.cycles:
            lines.append("  deadlock cycle: " + " -> ".join(f"thread {t}" for t in cycle))
        if self.ended:
            lines.append("  ended threads: " + ", ".join(str(t) for t in self.ended))
        if self.suspended:
            lines.append("  suspended threads: " + ", ".join(str(t) for t in self.suspended))
        if self.idle:
            lines.append("  threads with no program: " + ", ".join(str(t) for t in self.idle))
        for source in self.interrupts:
            lines.append(f"  still firing, to no effect: {source}")
        return "\n".join(lines)


def build_wedge_report(k: KernelState) -> WedgeReport:
    """Describe the kernel's wedge: every blocked thread, what it waits on and who could help.

    Handles are process-wide, so any live thread *could* use any handle; the
    report names the threads that actually made each live handle to an object
    (their calls created it), which is who the title gave the object to. An
    object none of whose handles belong to another live thread is called out
    as unreachable.
    """
    blocked: list[BlockedThread] = []
    by_ordinal = {t.ordinal: t for t in k.threads}
    # The native-object layer names bridged objects and critical sections (x360k.native).
    object_note = k.ext.get("wedge:object_note")
    wait_note = k.ext.get("wedge:wait_note")
    for t in k.threads:
        wb = t.wait
        if t.terminated or wb is None:
            continue
        objects: list[WaitedObject] = []
        for obj in wb.objects:
            holders = _holders(k, obj, by_ordinal)
            makers = sorted(
                {
                    h.created_by
                    for h in holders
                    if h.created_by is not None and h.created_by != t.ordinal
                }
            )
            reachable = [m for m in makers if not by_ordinal[m].terminated]
            owner = obj.owner.ordinal if isinstance(obj, Mutant) and obj.owner else None
            objects.append(
                WaitedObject(
                    type=obj.TYPE,
                    handles=[f"0x{h:08X}" for h in obj.handles],
                    sids=[s for s in (k.sid_of(h) for h in obj.handles) if s],
                    name=obj.name.decode("latin-1") if obj.name else None,
                    state=obj.describe(),
                    signal_state=obj.signal_state(),
                    owner_tid=owner,
                    address=f"0x{obj.body:08X}" if obj.body else None,
                    reachable_by=reachable,
                    holders=holders,
                    note=(object_note(k, obj) if object_note is not None else None)
                    or _reach_note(obj, t, makers, reachable, by_ordinal),
                )
            )
        kind = (
            "delay"
            if wb.note == "delay"
            else ("wait-all" if wb.wait_all else ("wait" if len(wb.objects) == 1 else "wait-any"))
        )
        blocked.append(
            BlockedThread(
                tid=t.ordinal,
                thread_id=t.thread_id,
                state=t.state.value,
                wait_kind=kind,
                since=wb.since,
                alertable=wb.alertable,
                objects=objects,
                last_calls=[f"[{idx}] {name}" for idx, name in t.recent],
                note=(wait_note(k, wb) if wait_note is not None else None)
                or (wb.note if wb.note != "delay" else ""),
            )
        )
    return WedgeReport(
        clock=k.clock,
        blocked=blocked,
        ended=[t.ordinal for t in k.threads if t.terminated],
        suspended=[t.ordinal for t in k.threads if t.state is ThreadState.SUSPENDED],
        cycles=_cycles(k.threads),
        idle=[
            t.ordinal
            for t in k.threads
            if not t.terminated and t.wait is None and t.program is None and not t.program_stack
        ],
        interrupts=list(k.ext["wedge:interrupts"]()) if "wedge:interrupts" in k.ext else [],
    )


def _holders(k: KernelState, obj: KernelObject, by_ordinal: dict[int, Thread]) -> list[Holder]:
    holders: list[Holder] = []
    for handle in obj.handles:
        key = k.table.sid_key(handle)
        maker = None if key < 0 else key >> 32
        who = by_ordinal.get(maker) if maker is not None else None
        holders.append(
            Holder(
                handle=f"0x{handle:08X}",
                sid=k.sid_of(handle),
                created_by=maker,
                creator_state=who.state.value if who is not None else None,
            )
        )
    return holders


def _reach_note(
    obj: KernelObject,
    waiter: Thread,
    makers: list[int],
    reachable: list[int],
    by_ordinal: dict[int, Thread],
) -> str:
    if isinstance(obj, Thread):
        return "" if not obj.terminated else "the thread has ended"
    if not obj.handles:
        return "no handle to it is left: nothing can reach it"
    if not makers:
        return "no other thread holds a handle to it: nothing else can reach it"
    if not reachable:
        ended = ", ".join(str(m) for m in makers)
        return f"every other thread that held a handle to it has ended ({ended})"
    if all(by_ordinal[m].state is ThreadState.BLOCKED for m in reachable):
        return "every live holder is itself blocked"
    return ""


def _cycles(threads: list[Thread]) -> list[list[int]]:
    """Threads that wait, through mutant ownership, on each other in a ring."""
    waits_for: dict[int, int] = {}
    for t in threads:
        wb = t.wait
        if wb is None or t.terminated:
            continue
        for obj in wb.objects:
            if isinstance(obj, Mutant) and obj.owner is not None and obj.owner is not t:
                waits_for[t.ordinal] = obj.owner.ordinal
                break
    cycles: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(waits_for):
        path: list[int] = []
        node: int | None = start
        while node is not None and node not in path and node not in seen:
            path.append(node)
            node = waits_for.get(node)
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            cycles.append([*cycle, cycle[0]])
        seen.update(path)
    return cycles
