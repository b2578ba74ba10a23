"""A working mutant bridged from a guest KMUTANT (console profile).

Besides the signal state every dispatcher header carries, a KMUTANT shows its
owning KTHREAD (+0x18) and abandoned flag (+0x1C) to anyone who reads it, so
this mutant writes them back whenever ownership changes: on an acquiring
wait, a release, and abandonment when the owner ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.native import header as H
from x360k.objects.mutant import Mutant

if TYPE_CHECKING:
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread


class GuestMutant(Mutant):
    __slots__ = ("address", "memory")

    def __init__(self, memory: GuestMemory, address: int, owner: Thread | None) -> None:
        self.memory = memory
        self.address = address
        super().__init__(owner)
        self.sync()

    def sync(self) -> None:
        """Write owner and abandoned flag to the guest structure."""
        owner = self.owner.kthread if self.owner is not None else 0
        self.memory.write_u32(self.address + H.MUTANT_OWNER, owner)
        self.memory.write_u8(self.address + H.MUTANT_ABANDONED, 1 if self.abandoned else 0)

    def is_signalled_for(self, thread: Thread) -> bool:
        # NT's test: SignalState > 0, or the waiter owns it. A title may have
        # stored a state no release path produces (0 with no owner: nobody
        # can take it; above 1: free for several acquisitions).
        return self.recursion <= 0 or self.owner is thread

    def satisfy(self, thread: Thread) -> bool:
        was_abandoned = super().satisfy(thread)
        self.sync()
        return was_abandoned

    def release(self) -> int:
        previous = super().release()
        self.sync()
        return previous

    def abandon(self) -> None:
        super().abandon()
        self.sync()
