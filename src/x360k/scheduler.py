"""The deterministic scheduler: ready queues by priority, and a virtual-time queue.

Which thread runs next depends only on priorities, creation ordinals and what
has happened so far: threads of equal priority run first-in first-out, a
thread keeps the CPU until it blocks, yields, ends or uses its quantum of
calls, and a thread woken at a higher priority preempts at the next call
boundary. Time is virtual (100 ns ticks): it moves by a fixed cost per call,
and jumps to the earliest deadline when every thread is blocked.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from x360k.clock import CLOCK_MAX
from x360k.objects.thread import Thread

#: Calls a thread may make before an equal-priority thread gets the CPU.
QUANTUM: Final = 64
#: Virtual time one export call costs (100 ns ticks): 1 us.
CALL_COST: Final = 10


class Scheduler:
    """Ready queues and the clock queue of one kernel."""

    def __init__(self) -> None:
        self._queues: dict[int, deque[Thread]] = {}
        self._priorities: list[int] = []
        self._timed: list[TimedEntry] = []
        self._seq = 0
        #: Threads in the ready queues (so "is any thread ready" is one read).
        self.ready = 0

    # -- ready threads ------------------------------------------------------------------------

    def make_ready(self, thread: Thread) -> None:
        queue = self._queues.get(thread.priority)
        if queue is None:
            queue = self._queues[thread.priority] = deque()
            self._priorities = sorted(self._queues, reverse=True)
        queue.append(thread)
        self.ready += 1

    def make_ready_first(self, thread: Thread) -> None:
        """Ready ``thread`` ahead of its priority's queue: it goes on before anyone else runs."""
        self.make_ready(thread)
        queue = self._queues[thread.priority]
        queue.pop()
        queue.appendleft(thread)

    def discard(self, thread: Thread) -> None:
        queue = self._queues.get(thread.priority)
        if queue is not None and thread in queue:
            queue.remove(thread)
            self.ready -= 1

    def pick(self) -> Thread | None:
        for priority in self._priorities:
            queue = self._queues[priority]
            if queue:
                self.ready -= 1
                return queue.popleft()
        return None

    def higher_ready(self, priority: int) -> bool:
        """Whether a thread of higher priority than ``priority`` is waiting to run."""
        for p in self._priorities:
            if p <= priority:
                return False
            if self._queues[p]:
                return True
        return False

    def any_ready(self) -> bool:
        return self.ready > 0

    # -- virtual time -------------------------------------------------------------------------

    def at(
        self, when: int, action: Callable[[], None], *, kind: str = "other", subject: Any = None
    ) -> TimedEntry:
        """Run ``action`` when the clock reaches ``when`` (ties in scheduling order).

        ``kind`` ("timeout", "start", "timer" or "other") and ``subject`` (the
        thread or timer concerned) let the kernel judge whether waiting for time
        can still wake anybody, and let wedge reports say what is pending.
        """
        self._seq += 1
        entry = TimedEntry(min(when, CLOCK_MAX), self._seq, action, kind, subject)
        heapq.heappush(self._timed, entry)
        return entry

    def _drop_cancelled(self) -> None:
        timed = self._timed
        while timed and timed[0].cancelled:
            heapq.heappop(timed)

    def next_deadline(self) -> int | None:
        """The earliest virtual time at which a live timed action will run."""
        self._drop_cancelled()
        return self._timed[0].when if self._timed else None

    def fire_due(self, now: int) -> bool:
        """Run every live action due at or before ``now``; True if any ran."""
        fired = False
        timed = self._timed
        while timed and timed[0].when <= now:
            entry = heapq.heappop(timed)
            if not entry.cancelled:
                entry.cancelled = True
                entry.action()
                fired = True
        return fired

    def timed_entries(self) -> list[TimedEntry]:
        return sorted(e for e in self._timed if not e.cancelled)


@dataclass(slots=True, order=True)
class TimedEntry:
    """An action queued for a virtual time; cancelling leaves it in the heap, inert."""

    when: int
    seq: int
    action: Callable[[], None] = field(compare=False)
    kind: str = field(default="other", compare=False)
    subject: Any = field(default=None, compare=False)
    cancelled: bool = field(default=False, compare=False)
