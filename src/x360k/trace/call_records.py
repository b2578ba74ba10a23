"""Call records: a traced export call handed to the sink as two positional records.

An export call traces as three events (``import.call``, ``kernel.call``,
``kernel.return``), and building three :class:`~x360k.trace.event.TraceEvent`
structs costs more than the rest of the call path together. The kernel's call
path (the call plans and ``CallPath``) therefore does not build them: it hands
the sink the fields, positionally, in two calls, one before the handler runs
(:meth:`CallRecorder.record_call`) and one when the call returns
(:meth:`CallRecorder.record_return`, possibly much later, for a call that
blocked). Every other event still goes through ``record``.

A sink that wants :class:`TraceEvent` objects (the file writers, in-memory
lists, perfetto) need not know any of this: :func:`call_recorder_for` wraps it
in :class:`EventsFromCalls`, which builds exactly the events the kernel built
before, so every written trace stays byte-identical. A sink that can use the
fields as they come (one that counts, filters by name, or keeps nothing)
implements the two methods itself and pays only the calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from x360k.trace.event import TraceEvent
from x360k.trace.recorder import Recorder


@runtime_checkable
class CallRecorder(Protocol):
    """A :class:`~x360k.trace.recorder.Recorder` that also takes calls as positional records.

    Both methods are called in emission order with the other events: the
    ``kernel.return`` of a call that blocked comes after whatever the wait
    brought about on other threads.
    """

    def record(self, event: TraceEvent) -> None:
        """Take one event that is not part of a call record (handles, threads, waits...)."""

    def record_call(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        ret_addr: int | None,
        raw_tid: int,
        ts: int,
        args: list[str],
    ) -> None:
        """A call begins: ``import.call`` at ``idx`` and ``kernel.call`` (with ``args``,
        the arguments as hex texts) at ``idx + 1``, both at virtual time ``ts``."""

    def record_return(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        raw_tid: int,
        ts: int,
        status: int | None,
        ret: int | None,
    ) -> None:
        """A call returns: its ``kernel.return`` at ``idx``, with ``status`` (an export that
        returns a status) or ``ret`` (a value, or r3 after a void export), the other None."""

    def close(self) -> None:
        """Flush and release whatever the sink holds. Idempotent."""


class EventsFromCalls:
    """A :class:`CallRecorder` over a plain recorder: builds the events the records stand for.

    The events are the ones the kernel built itself before call records
    existed, field for field, so a sink behind this adapter sees no change.
    ``record`` and ``close`` are the sink's own, bound once.
    """

    __slots__ = ("close", "record", "sink")

    def __init__(self, sink: Recorder) -> None:
        self.sink = sink
        self.record = sink.record
        self.close = sink.close

    def record_call(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        ret_addr: int | None,
        raw_tid: int,
        ts: int,
        args: list[str],
    ) -> None:
        record = self.record
        record(
            TraceEvent(
                tid=tid,
                idx=idx,
                kind="import.call",
                name=name,
                module=module,
                ordinal=ordinal,
                call_id=call_id,
                ret_addr=ret_addr,
                raw_tid=raw_tid,
                ts=ts,
            )
        )
        record(
            TraceEvent(
                tid=tid,
                idx=idx + 1,
                kind="kernel.call",
                name=name,
                module=module,
                ordinal=ordinal,
                call_id=call_id,
                raw_tid=raw_tid,
                ts=ts,
                args=args,
            )
        )

    def record_return(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        raw_tid: int,
        ts: int,
        status: int | None,
        ret: int | None,
    ) -> None:
        self.record(
            TraceEvent(
                tid=tid,
                idx=idx,
                kind="kernel.return",
                name=name,
                module=module,
                ordinal=ordinal,
                call_id=call_id,
                raw_tid=raw_tid,
                ts=ts,
                status=status,
                ret=ret,
            )
        )


def call_recorder_for(sink: Recorder | None) -> CallRecorder | None:
    """What the kernel's call path records into for ``sink``: the sink itself when it takes
    call records, else the sink behind :class:`EventsFromCalls`; None when tracing is off."""
    if sink is None:
        return None
    if isinstance(sink, CallRecorder):
        return sink
    return EventsFromCalls(sink)
