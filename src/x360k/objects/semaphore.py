"""Semaphores: signalled while the count is above zero; a satisfied wait takes one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class Semaphore(KernelObject):
    TYPE = "Semaphore"
    WAITABLE = True
    __slots__ = ("count", "maximum")

    def __init__(self, count: int, maximum: int) -> None:
        super().__init__()
        self.count = count
        self.maximum = maximum

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.count > 0

    def satisfy(self, thread: Thread) -> bool:
        self.count -= 1
        return False

    def signal_state(self) -> int:
        return self.count

    def describe(self) -> str:
        return f"count {self.count} of {self.maximum}"
