"""Mutants: owned by one thread at a time, recursively; abandoned when the owner ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class Mutant(KernelObject):
    TYPE = "Mutant"
    WAITABLE = True
    __slots__ = ("abandoned", "owner", "recursion")

    def __init__(self, owner: Thread | None) -> None:
        super().__init__()
        self.owner = owner
        self.recursion = 1 if owner is not None else 0
        #: Set when the owner ended while holding it; reported by the next acquiring wait.
        self.abandoned = False
        if owner is not None:
            owner.owned_mutants.append(self)

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.owner is None or self.owner is thread

    def satisfy(self, thread: Thread) -> bool:
        if self.owner is None:
            self.owner = thread
            thread.owned_mutants.append(self)
        self.recursion += 1
        was_abandoned = self.abandoned
        self.abandoned = False
        return was_abandoned

    def release(self) -> int:
        """One release by the owner; returns the recursion count before it."""
        previous = self.recursion
        self.recursion -= 1
        if self.recursion == 0 and self.owner is not None:
            self.owner.owned_mutants.remove(self)
            self.owner = None
        return previous

    def abandon(self) -> None:
        """The owner ended: free the mutant and mark it abandoned."""
        if self.owner is not None:
            self.owner.owned_mutants.remove(self)
        self.owner = None
        self.recursion = 0
        self.abandoned = True

    def signal_state(self) -> int:
        return 1 - self.recursion

    def describe(self) -> str:
        if self.owner is None:
            return "free" + (" (abandoned)" if self.abandoned else "")
        return f"owned by thread {self.owner.ordinal} (recursion {self.recursion})"
