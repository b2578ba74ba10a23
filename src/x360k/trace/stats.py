"""Summary of a trace: counts per kind, export and thread; leaked handles; thread lives.

Handles are matched by sid (``handle.destroy`` carries the sid of the slot
it frees); a destroy without a sid is matched to the live slot with the same
raw handle value, in file order. A handle's creating call is the innermost
``kernel.call`` open on its thread when the ``handle.create`` arrives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from x360k.trace.event import TraceEvent


class ThreadStats(msgspec.Struct, kw_only=True):
    """One guest thread's life as the trace shows it."""

    tid: int
    raw_tid: int | None = None
    events: int = 0
    first_idx: int = 0
    last_idx: int = 0
    created_by: int | None = None
    created_at: int | None = None
    entry: int | None = None
    exited_at: int | None = None


class LiveHandle(msgspec.Struct, kw_only=True):
    """A handle slot created and never destroyed."""

    sid: str | None
    handle: int | None
    object_type: str | None
    tid: int
    idx: int
    created_by: str | None


class TraceStats(msgspec.Struct, kw_only=True):
    """Everything ``x360k trace stats`` reports."""

    events: int = 0
    kinds: dict[str, int] = msgspec.field(default_factory=dict)
    exports: dict[str, int] = msgspec.field(default_factory=dict)
    threads: list[ThreadStats] = msgspec.field(default_factory=list)
    handles_created: int = 0
    handles_destroyed: int = 0
    unmatched_destroys: int = 0
    leaked: list[LiveHandle] = msgspec.field(default_factory=list)


def compute_stats(events: Iterable[TraceEvent]) -> TraceStats:
    """One pass over the events, in file order."""
    kinds: Counter[str] = Counter()
    exports: Counter[str] = Counter()
    threads: dict[int, ThreadStats] = {}
    open_calls: dict[int, list[str | None]] = {}
    live: dict[str, LiveHandle] = {}
    live_by_handle: dict[int, str] = {}
    created = destroyed = unmatched = total = 0
    children: dict[int, tuple[int, int, int | None]] = {}
    for event in events:
        total += 1
        kinds[event.kind] += 1
        thread = threads.get(event.tid)
        if thread is None:
            thread = threads[event.tid] = ThreadStats(
                tid=event.tid, first_idx=event.idx, last_idx=event.idx
            )
        thread.events += 1
        thread.first_idx = min(thread.first_idx, event.idx)
        thread.last_idx = max(thread.last_idx, event.idx)
        if thread.raw_tid is None and event.raw_tid is not None:
            thread.raw_tid = event.raw_tid
        kind = event.kind
        if kind == "kernel.call":
            exports[event.name or "?"] += 1
            open_calls.setdefault(event.tid, []).append(event.name)
        elif kind == "kernel.return":
            stack = open_calls.get(event.tid)
            if stack:
                stack.pop()
        elif kind == "handle.create":
            created += 1
            stack = open_calls.get(event.tid)
            key = event.sid if event.sid is not None else f"@{event.tid}:{event.idx}"
            live[key] = LiveHandle(
                sid=event.sid,
                handle=event.handle,
                object_type=event.object_type,
                tid=event.tid,
                idx=event.idx,
                created_by=stack[-1] if stack else None,
            )
            if event.handle is not None:
                live_by_handle[event.handle] = key
        elif kind == "handle.destroy":
            key_or_none = event.sid
            if key_or_none is None or key_or_none not in live:
                key_or_none = live_by_handle.get(event.handle) if event.handle is not None else None
            gone = live.pop(key_or_none, None) if key_or_none is not None else None
            if gone is None:
                unmatched += 1
            else:
                destroyed += 1
                if gone.handle is not None and live_by_handle.get(gone.handle) == key_or_none:
                    del live_by_handle[gone.handle]
        elif kind == "thread.create" and event.child_tid is not None:
            children[event.child_tid] = (event.tid, event.idx, event.entry)
        elif kind == "thread.exit":
            thread.exited_at = event.idx
    for child, (parent, idx, entry) in children.items():
        info = threads.get(child)
        if info is None:
            info = threads[child] = ThreadStats(tid=child, first_idx=0, last_idx=0)
        info.created_by, info.created_at, info.entry = parent, idx, entry
    return TraceStats(
        events=total,
        kinds=dict(kinds.most_common()),
        exports=dict(exports.most_common()),
        threads=[threads[t] for t in sorted(threads)],
        handles_created=created,
        handles_destroyed=destroyed,
        unmatched_destroys=unmatched,
        leaked=sorted(live.values(), key=lambda h: (h.tid, h.idx)),
    )
