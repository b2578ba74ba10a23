"""Spin locks: a guest word holding the owner's PCR address, 0 when free.

A thread that finds the word taken would spin on a real console; under the
deterministic scheduler it waits on a :class:`SpinLockWord` instead, which is
signalled when the word reads 0 and, when a waiter is satisfied, writes that
waiter's PCR into the word. Only KfReleaseSpinLock-style exports wake
waiters: a title that frees the word with its own store leaves them parked
(the wedge report then names the lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread

#: PCR offset of the current IRQL (u8).
PCR_IRQL: Final = 0x18
DISPATCH_LEVEL: Final = 2


class SpinLockWord(KernelObject):
    """The waitable face of one guest spin-lock word (no handle, no guest header)."""

    TYPE = "SpinLock"
    WAITABLE = True
    __slots__ = ("address", "memory")

    def __init__(self, memory: GuestMemory, address: int) -> None:
        super().__init__()
        self.memory = memory
        self.address = address

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.memory.read_u32(self.address) == 0

    def satisfy(self, thread: Thread) -> bool:
        self.memory.write_u32(self.address, thread.pcr)
        return False

    def signal_state(self) -> int:
        return 1 if self.memory.read_u32(self.address) == 0 else 0

    def describe(self) -> str:
        word = self.memory.read_u32(self.address)
        held = f"held by PCR 0x{word:08X}" if word else "free"
        return f"spin lock word at 0x{self.address:08X}, {held}"
