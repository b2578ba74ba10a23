"""Recorders: where the kernel sends the events it emits.

The kernel holds ``recorder: Recorder | None``; ``None`` means tracing is off
and every emit site is skipped by one attribute test. A recorder assigns
nothing itself: the kernel fills ``tid`` and ``idx`` so that every sink sees
the same events. Export calls reach a recorder as call records, built into
events for it unless it takes them as they come (:mod:`x360k.trace.call_records`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from x360k.trace.event import TraceEvent


class Recorder(Protocol):
    """A sink for trace events, in emission order across all threads."""

    def record(self, event: TraceEvent) -> None:
        """Take one event; must not keep a reference it expects to change."""

    def close(self) -> None:
        """Flush and release whatever the sink holds. Idempotent."""


class MemoryRecorder:
    """Keeps every event in a list: for tests and for small scenario runs."""

    #: Takes one event: the list's own ``append``, so recording one costs no Python frame.
    record: Callable[[TraceEvent], None]

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.record = self.events.append

    def close(self) -> None:
        pass

    def thread(self, tid: int) -> list[TraceEvent]:
        """The events of one thread, in index order."""
        return [e for e in self.events if e.tid == tid]


class TeeRecorder:
    """Sends every event to several sinks (a file and memory, say)."""

    def __init__(self, *sinks: Recorder) -> None:
        self.sinks = sinks

    def record(self, event: TraceEvent) -> None:
        for sink in self.sinks:
            sink.record(event)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
