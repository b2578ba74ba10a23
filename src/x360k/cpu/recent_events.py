"""A recorder that keeps only the last few events: the context a fault report shows."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from x360k.trace.event import TraceEvent


class RecentEvents:
    """Remembers the newest ``size`` events of a run (any thread)."""

    #: Takes one event: the deque's own ``append`` (no Python frame per event).
    record: Callable[[TraceEvent], None]

    def __init__(self, size: int = 12) -> None:
        self.events: deque[TraceEvent] = deque(maxlen=size)
        self.record = self.events.append

    def close(self) -> None:
        pass
