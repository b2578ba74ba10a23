"""A trace as a Perfetto timeline: threads as tracks, calls and waits as slices, flow arrows.

Time axis (``time_axis``):

* ``virtual``: the trace's ``ts`` (virtual time, 100 ns ticks), so a wait is
  as long as the guest waited and tracks line up across threads;
* ``index``: each thread's event index (1 index = 1 µs on screen), for traces
  without time;
* ``auto`` (default): ``virtual`` when the first event has ``ts``.

On the virtual axis a thread's times are kept non-decreasing (an event
without ``ts``, or out of order, takes its thread's last time), so slices
always nest. A ``kernel.call`` opens a slice its ``kernel.return`` closes
(unfinished calls are closed at the end); ``wait.begin``/``wait.end`` make a
``wait`` slice inside it; every other kind is an instant; each handle slot's
life is a slice of its own keyed by sid.

Flow arrows, resolved once every event has been seen (so a trace sorted by
thread works as well as one in emission order):

* from a signal to each wait it satisfies: a ``wait.end`` whose status is
  ``STATUS_WAIT_n`` was woken by object ``n`` of its wait (every object for a
  wait-all); the signal is the latest signalling call on that object's handle
  (``NtSetEvent``, ``NtPulseEvent``, ``NtReleaseSemaphore``,
  ``NtReleaseMutant``, ``NtSignalAndWaitForSingleObjectEx``) at or before the
  wake, or, for a thread object, that thread's ``thread.exit``. A wait whose
  signaller the trace does not show gets no arrow (nothing is guessed).
* from a ``thread.create`` to the child thread's first event.

"At or before" compares virtual time where events have it, else file order.
Output stops at ``max_events`` written records with every open slice closed,
so the file is always complete. Formats: :mod:`x360k.trace.perfetto_sinks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from x360k.trace.errors import TraceFormatError
from x360k.trace.event import TraceEvent
from x360k.trace.perfetto_sinks import JsonSink, ProtoSink, Sink

DEFAULT_MAX_EVENTS: Final = 2_000_000
#: Output format by file suffix.
SUFFIXES: Final[dict[str, str]] = {
    ".json": "json",
    ".pftrace": "proto",
    ".perfetto-trace": "proto",
    ".pb": "proto",
    ".proto": "proto",
}
#: Exports that signal the object whose handle is their first argument.
SIGNAL_EXPORTS: Final = frozenset(
    {
        "NtSetEvent",
        "NtPulseEvent",
        "NtReleaseSemaphore",
        "NtReleaseMutant",
        "NtSignalAndWaitForSingleObjectEx",
    }
)
_NS_PER_TICK: Final = 100
_NS_PER_INDEX: Final = 1000
#: Records reserved per open slice and per pending flow, so closing never passes the cap.
_FLOW_RECORDS: Final = 4


class PerfettoResult(msgspec.Struct):
    """What was written."""

    written: int
    capped: bool
    source_events: int
    time_axis: str = "index"
    fmt: str = "json"
    flows: int = 0


def output_format(path: str | Path) -> str:
    """``json`` or ``proto`` from the file's suffix; TraceFormatError for any other."""
    suffix = Path(path).suffix.lower()
    fmt = SUFFIXES.get(suffix)
    if fmt is None:
        raise TraceFormatError(
            path,
            f"cannot tell the Perfetto format from {suffix or 'no suffix'!r}: use .json "
            "(trace-event JSON) or .pftrace (Perfetto protobuf)",
        )
    return fmt


@dataclass(slots=True)
class _Thread:
    last: int = 0
    stack: list[tuple[str, int | None]] = field(default_factory=list)
    waiting: bool = False
    wait_all: bool = False
    woke: bool = False  # a wait.end was seen inside the open call
    first: tuple[int, int] | None = None  # (time, order) of the first event


@dataclass(slots=True)
class _Flows:
    """What flow arrows need, gathered in one pass and resolved at the end."""

    handle_of: dict[str, int] = field(default_factory=dict)
    thread_of_sid: dict[str, int] = field(default_factory=dict)
    #: handle value -> [(order, time, tid)] of signalling calls.
    signals: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    exits: dict[int, tuple[int, int]] = field(default_factory=dict)
    thread_of_handle: dict[int, int] = field(default_factory=dict)
    #: (order, time, tid, sid or handle value) of each object that ended a wait.
    wakes: list[tuple[int, int, int, str | int]] = field(default_factory=list)
    #: (parent tid, time, child tid)
    creates: list[tuple[int, int, int]] = field(default_factory=list)
    #: the last thread.create per tid, waiting for its call's Thread handle.
    pending_child: dict[int, int] = field(default_factory=dict)


class _Exporter:
    def __init__(self, sink: Sink, limit: int, axis: str | None) -> None:
        self.sink = sink
        self.limit = limit
        self.axis = axis
        self.threads: dict[int, _Thread] = {}
        self.handles: dict[str, tuple[str, int, int]] = {}
        self.flows = _Flows()
        self.order = 0
        self.open_slices = 0
        #: the arguments of each thread's latest kernel.call (a wait's type is one of them)
        self.calls: dict[int, list[str] | None] = {}
        #: the arguments of open single-object waits, by (tid, call_id, name)
        self.call_args: dict[tuple[int, int | None, str], list[str] | None] = {}

    def time(self, event: TraceEvent, thread: _Thread) -> int:
        if self.axis == "virtual":
            t = event.ts * _NS_PER_TICK if event.ts is not None else thread.last
        else:
            t = event.idx * _NS_PER_INDEX
        thread.last = max(thread.last, t)
        return thread.last

    def room(self) -> bool:
        reserve = self.open_slices + len(self.handles) + 2
        reserve += _FLOW_RECORDS * (len(self.flows.wakes) + len(self.flows.creates))
        return self.sink.written + reserve <= self.limit

    def one(self, event: TraceEvent) -> None:
        if self.axis is None:
            self.axis = "virtual" if event.ts is not None else "index"
        self.order += 1
        tid = event.tid
        thread = self.threads.get(tid)
        if thread is None:
            thread = self.threads[tid] = _Thread()
            self.sink.thread(tid, _thread_name(event))
        t = self.time(event, thread)
        if thread.first is None:
            thread.first = (t, self.order)
        kind = event.kind
        if kind == "kernel.call":
            name = event.name or "?"
            thread.stack.append((name, event.call_id))
            self.calls[tid] = event.args
            if name in _SINGLE_WAIT_ARG:
                self.call_args[(tid, event.call_id, name)] = event.args
            self.open_slices += 1
            self.sink.begin(tid, t, name, {"args": event.args} if event.args else {})
            self.note_signal(event, t)
            return
        if kind == "kernel.return":
            position = _match(thread.stack, event)
            if position is None:
                self.instant(event, t)
                return
            woke = thread.woke
            self.end_wait(tid, thread, t)
            thread.woke = False
            if not woke:
                self.note_single_wait(event, thread.stack[position], t)
            status = {"status": f"0x{event.status:08x}"} if event.status is not None else {}
            while len(thread.stack) > position:
                name, _ = thread.stack.pop()
                self.open_slices -= 1
                self.sink.end(tid, t, name, status)
            return
        if kind == "wait.begin":
            self.end_wait(tid, thread, t)
            thread.waiting = True
            thread.wait_all = _is_wait_all(thread.stack, self.calls.get(tid))
            self.open_slices += 1
            self.sink.begin(tid, t, "wait", {"objects": event.objects} if event.objects else {})
            return
        if kind == "wait.end":
            self.note_wake(event, t, thread.wait_all)
            thread.woke = True
            if thread.waiting:
                self.end_wait(tid, thread, t, event.status)
                return
        elif kind == "handle.create" and event.sid is not None:
            self.note_handle(event)
            name = event.object_type or "handle"
            self.handles[event.sid] = (name, tid, t)
            self.sink.handle_begin(event.sid, tid, t, name)
        elif kind == "handle.destroy" and event.sid in self.handles:
            assert event.sid is not None
            name, _, begun = self.handles.pop(event.sid)
            self.sink.handle_end(event.sid, tid, max(t, begun), name, {})
        elif kind == "thread.create" and event.child_tid is not None:
            self.flows.creates.append((tid, t, event.child_tid))
            self.flows.pending_child[tid] = event.child_tid
        elif kind == "thread.exit":
            self.flows.exits[tid] = (self.order, t)
        self.instant(event, t)

    def end_wait(self, tid: int, thread: _Thread, t: int, status: int | None = None) -> None:
        if thread.waiting:
            thread.waiting = False
            self.open_slices -= 1
            self.sink.end(
                tid, t, "wait", {"status": f"0x{status:08x}"} if status is not None else {}
            )

    def instant(self, event: TraceEvent, t: int) -> None:
        args = {
            k: v
            for k, v in msgspec.structs.asdict(event).items()
            if v is not None and k not in ("tid", "kind")
        }
        name = event.kind if event.name is None else f"{event.kind} {event.name}"
        self.sink.instant(event.tid, t, name, args)

    # -- what flow arrows need --------------------------------------------------------------

    def note_handle(self, event: TraceEvent) -> None:
        assert event.sid is not None
        if event.handle is not None:
            self.flows.handle_of[event.sid] = event.handle
        child = self.flows.pending_child.get(event.tid)
        if event.object_type == "Thread" and child is not None:
            self.flows.thread_of_sid[event.sid] = child
            if event.handle is not None:
                self.flows.thread_of_handle[event.handle] = child
            del self.flows.pending_child[event.tid]

    def note_signal(self, event: TraceEvent, t: int) -> None:
        if event.name in SIGNAL_EXPORTS and event.args:
            try:
                handle = int(event.args[0], 16)
            except ValueError:
                return
            self.flows.signals.setdefault(handle, []).append((self.order, t, event.tid))

    def note_wake(self, event: TraceEvent, t: int, wait_all: bool) -> None:
        objects, status = event.objects, event.status
        if not objects or status is None:
            return
        if wait_all and status == 0:
            woken = objects
        elif status < len(objects):
            woken = [objects[status]]
        elif 0x80 <= status < 0x80 + len(objects):  # STATUS_ABANDONED_WAIT_n
            woken = [objects[status - 0x80]]
        else:
            return  # a timeout, an APC, an error: no object woke this wait
        for sid in woken:
            if sid:
                self.flows.wakes.append((self.order, t, event.tid, sid))

    def note_single_wait(self, event: TraceEvent, call: tuple[str, int | None], t: int) -> None:
        """A single-object wait that returned STATUS_WAIT_0 was ended by its handle's object.

        Used when the trace has no ``wait.end`` (canary records none): the waited
        handle is the call's argument, read from the matching ``kernel.call``.
        """
        position = _SINGLE_WAIT_ARG.get(call[0])
        args = self.call_args.get((event.tid, call[1], call[0]))
        if position is None or event.status not in (0, 0x80) or not args:
            return
        try:
            handle = int(args[position], 16)
        except (ValueError, IndexError):
            return
        self.flows.wakes.append((self.order, t, event.tid, handle))

    # -- the end ------------------------------------------------------------------------------

    def finish(self) -> int:
        """Close what is open, then draw the flow arrows; returns how many were drawn."""
        for tid, thread in self.threads.items():
            end = thread.last
            self.end_wait(tid, thread, end)
            while thread.stack:
                name, _ = thread.stack.pop()
                self.open_slices -= 1
                self.sink.end(tid, end, name, {})
        end = max((th.last for th in self.threads.values()), default=0)
        for sid, (name, tid, _) in self.handles.items():
            self.sink.handle_end(sid, tid, end, name, {"open_at_end": True})
        return self.draw_flows()

    def draw_flows(self) -> int:
        flows = self.flows
        use_time = self.axis == "virtual"
        drawn = 0
        for order, t, tid, sid in flows.wakes:
            source = self.signal_for(sid, order, t, use_time)
            if source is not None and source[0] != tid:  # an arrow within one track says nothing
                drawn += 1
                self.sink.flow(drawn, "signal", source, (tid, t))
        for parent, t, child in flows.creates:
            info = self.threads.get(child)
            if info is not None and info.first is not None:
                drawn += 1
                self.sink.flow(drawn, "thread.create", (parent, t), (child, info.first[0]))
        return drawn

    def signal_for(
        self, sid: str | int, order: int, t: int, use_time: bool
    ) -> tuple[int, int] | None:
        """(tid, time) of what signalled ``sid`` (or a handle value) last at or before the wake."""
        flows = self.flows
        if isinstance(sid, int):
            child = flows.thread_of_handle.get(sid)
        else:
            child = flows.thread_of_sid.get(sid)
        if child is not None:
            exit_at = flows.exits.get(child)
            if exit_at is not None and (exit_at[1] <= t if use_time else exit_at[0] < order):
                return child, exit_at[1]
            return None
        handle = sid if isinstance(sid, int) else flows.handle_of.get(sid)
        if handle is None:
            return None
        best: tuple[int, int, int] | None = None
        for s_order, s_time, s_tid in flows.signals.get(handle, ()):
            ok = s_time <= t if use_time else s_order < order
            if ok and (best is None or (s_time, s_order) > (best[1], best[0])):
                best = (s_order, s_time, s_tid)
        return (best[2], best[1]) if best is not None else None


def write_perfetto(
    events: Iterable[TraceEvent],
    path: str | Path,
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
    time_axis: str = "auto",
    fmt: str | None = None,
) -> PerfettoResult:
    """Write ``events`` as a Perfetto trace (``fmt`` json or proto; default from the suffix)."""
    if time_axis not in ("auto", "virtual", "index"):
        raise ValueError(f"time_axis must be auto, virtual or index, not {time_axis!r}")
    fmt = fmt or output_format(path)
    seen = 0
    capped = False
    with Path(path).open("wb") as out:
        sink: Sink = JsonSink(out) if fmt == "json" else ProtoSink(out, f"x360k {Path(path).name}")
        exporter = _Exporter(sink, max_events, None if time_axis == "auto" else time_axis)
        for event in events:
            if not exporter.room():
                capped = True
                break
            seen += 1
            exporter.one(event)
        flows = exporter.finish()
        sink.close()
    axis = exporter.axis or ("index" if time_axis == "auto" else time_axis)
    return PerfettoResult(sink.written, capped, seen, axis, fmt, flows)


def _match(stack: list[tuple[str, int | None]], event: TraceEvent) -> int | None:
    """Stack position of the call this return closes (by call_id, else by name)."""
    for position in range(len(stack) - 1, -1, -1):
        name, call_id = stack[position]
        if (event.call_id is not None and call_id == event.call_id) or (
            event.call_id is None and name == event.name
        ):
            return position
    return None


#: Single-object waits and the argument holding the waited handle.
_SINGLE_WAIT_ARG: Final = {"NtWaitForSingleObjectEx": 0, "NtSignalAndWaitForSingleObjectEx": 1}
#: Multi-object waits and the argument holding their WAIT_TYPE (0 = wait all).
_WAIT_TYPE_ARG: Final = {"NtWaitForMultipleObjectsEx": 2, "KeWaitForMultipleObjects": 2}


def _is_wait_all(stack: list[tuple[str, int | None]], args: list[str] | None) -> bool:
    position = _WAIT_TYPE_ARG.get(stack[-1][0]) if stack else None
    if position is None or not args or len(args) <= position:
        return False
    try:
        return int(args[position], 16) == 0
    except ValueError:
        return False


def _thread_name(event: TraceEvent) -> str:
    if event.raw_tid is None:
        return f"tid {event.tid}"
    return f"tid {event.tid} ({event.raw_tid:08X})"
