"""Events: notification (manual reset) and synchronization (auto reset)."""

from __future__ import annotations

from x360k.objects.resettable import ResettableObject


class Event(ResettableObject):
    """Signalled while set; a satisfied wait resets a synchronization event."""

    TYPE = "Event"
    WAITABLE = True
    __slots__ = ()

    def describe(self) -> str:
        kind = "notification" if self.manual_reset else "synchronization"
        return f"{kind}, {'set' if self.state else 'not set'}"
