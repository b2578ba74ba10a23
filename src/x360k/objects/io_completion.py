"""I/O completion ports: a FIFO of packets, counted, and not a dispatcher object.

NtRemoveIoCompletion blocks on a port through the scheduler (the port reports
itself signalled while its count is above zero and a satisfied removal takes
one), but NtWait* cannot wait on it: ``WAITABLE`` is False, and what a wait on
it does is the ``unwaitable_objects_satisfy_single_waits`` quirk.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread

#: Canary counts packets with a host semaphore of this maximum (quirk io_completion_count_capped).
CANARY_COUNT_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Packet:
    key: int
    apc_context: int
    status: int
    information: int


class IoCompletion(KernelObject):
    """A completion port."""

    TYPE = "IoCompletion"
    WAITABLE = False
    __slots__ = ("count", "limit", "packets")

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.packets: deque[Packet] = deque()
        #: How many removals may succeed now (equals len(packets) unless the cap was hit).
        self.count = 0
        self.limit = limit

    def post(self, packet: Packet) -> None:
        """Queue a packet; the count stops growing at the limit while the queue keeps growing."""
        self.packets.append(packet)
        if self.limit is None or self.count < self.limit:
            self.count += 1

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.count > 0 and bool(self.packets)

    def satisfy(self, thread: Thread) -> bool:
        self.count -= 1
        return False

    def take(self) -> Packet:
        """The oldest packet (the removal's ``finish`` step, after :meth:`satisfy`)."""
        return self.packets.popleft()

    def describe(self) -> str:
        return f"{len(self.packets)} packet(s), count {self.count}"
