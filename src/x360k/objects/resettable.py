"""The shared core of events and timers: signalled while set, auto- or manual-reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class ResettableObject(KernelObject):
    """Signalled while ``state`` is set; a satisfied wait clears it unless ``manual_reset``.

    Events and timers differ only in how they become set (a call, an expiry), so
    the dispatcher side lives here once.
    """

    __slots__ = ("manual_reset", "state")

    def __init__(self, manual_reset: bool, state: bool) -> None:
        super().__init__()
        self.manual_reset = manual_reset
        self.state = state

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.state

    def satisfy(self, thread: Thread) -> bool:
        if not self.manual_reset:
            self.state = False
        return False

    def signal_state(self) -> int:
        return 1 if self.state else 0
