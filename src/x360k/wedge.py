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

from x360k.objects.mutant import Mutant
from x360k.objects.thread import Thread, ThreadState

if TYPE_CHECKING:
    from x360k.kernel import Kernel


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
        return "\n".join(lines)


def build_wedge_report(k: Kernel) -> WedgeReport:
    blocked: list[BlockedThread] = []
    live = [t for t in k.threads if not t.terminated]
    for t in k.threads:
        wb = t.wait
        if t.terminated or wb is None:
            continue
        objects: list[WaitedObject] = []
        for obj in wb.objects:
            others = [
                u.ordinal
                for u in live
                if u is not t
                and u.state is not ThreadState.BLOCKED
                and (u.program is not None or u.state is ThreadState.SUSPENDED)
            ]
            sids = [s for s in (k.sid_of(h) for h in obj.handles) if s]
            owner = obj.owner.ordinal if isinstance(obj, Mutant) and obj.owner else None
            note = ""
            if not others:
                note = "no other live thread can run to signal it"
            describe = obj.describe()
            objects.append(
                WaitedObject(
                    type=obj.TYPE,
                    handles=[f"0x{h:08X}" for h in obj.handles],
                    sids=sids,
                    name=obj.name.decode("latin-1") if obj.name else None,
                    state=describe,
                    signal_state=obj.signal_state(),
                    owner_tid=owner,
                    address=f"0x{obj.body:08X}" if obj.body else None,
                    reachable_by=others,
                    note=note,
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
                note=wb.note if wb.note != "delay" else "",
            )
        )
    return WedgeReport(
        clock=k.clock,
        blocked=blocked,
        ended=[t.ordinal for t in k.threads if t.terminated],
        suspended=[t.ordinal for t in k.threads if t.state is ThreadState.SUSPENDED],
        cycles=_cycles(k.threads),
    )


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
