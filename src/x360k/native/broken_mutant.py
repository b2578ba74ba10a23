"""Canary's bridged guest KMUTANT: an object with no lock behind it.

Canary can bridge a header of type 2, but the object it makes has no host
mutex, so every wait on it succeeds at once and nobody ever owns it (canary
itself crashes on a release; here a release by anyone is simply not an
owner's release). Modelled as a subclass so that handle exports treat it as
the mutant it claims to be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.mutant import Mutant

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class BrokenMutant(Mutant):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(owner=None)

    def is_signalled_for(self, thread: Thread) -> bool:
        return True

    def satisfy(self, thread: Thread) -> bool:
        return False

    def describe(self) -> str:
        return "bridged guest mutant without a lock (canary): every wait succeeds"
