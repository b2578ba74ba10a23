"""Events: notification (manual reset) and synchronization (auto reset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class Event(KernelObject):
    """Signalled while set; a satisfied wait resets a synchronization event."""

    TYPE = "Event"
    WAITABLE = True
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

    def describe(self) -> str:
        kind = "notification" if self.manual_reset else "synchronization"
        return f"{kind}, {'set' if self.state else 'not set'}"
