"""A recorder that keeps only the last few events: the context a fault report shows."""

from __future__ import annotations

from collections import deque

from x360k.trace.event import TraceEvent


class RecentEvents:
    """Remembers the newest ``size`` events of a run (any thread)."""

    def __init__(self, size: int = 12) -> None:
        self.events: deque[TraceEvent] = deque(maxlen=size)

    def record(self, event: TraceEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass
