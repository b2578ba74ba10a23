"""Timers: signalled on expiry; periodic ones re-arm; a wait resets a synchronization timer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.resettable import ResettableObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class Timer(ResettableObject):
    TYPE = "Timer"
    WAITABLE = True
    __slots__ = (
        "apc_context",
        "apc_routine",
        "apc_thread",
        "dpc",
        "due",
        "generation",
        "period",
    )

    def __init__(self, manual_reset: bool) -> None:
        super().__init__(manual_reset, False)
        #: Virtual time of the next expiry, None when not armed.
        self.due: int | None = None
        #: Period in 100 ns ticks (0 = one-shot).
        self.period = 0
        #: Bumped on every arm/cancel so that stale expiries in the clock queue are ignored.
        self.generation = 0
        self.apc_routine = 0
        self.apc_context = 0
        self.apc_thread: Thread | None = None
        #: KDPC queued on each expiry (KeSetTimer/KeSetTimerEx; 0 = none).
        self.dpc = 0

    def describe(self) -> str:
        kind = "notification" if self.manual_reset else "synchronization"
        armed = f"due at {self.due}" if self.due is not None else "not armed"
        return f"{kind}, {'signalled' if self.state else 'not signalled'}, {armed}"
