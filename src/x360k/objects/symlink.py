"""Symbolic-link objects: what NtOpenSymbolicLinkObject hands out (not waitable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class SymbolicLink(KernelObject):
    """A handle's view of one link of the file namespace, target captured at open."""

    TYPE = "SymbolicLink"
    WAITABLE = False
    DEFAULT_OBJECT = True
    __slots__ = ("link_name", "path", "target")

    def __init__(self, link_name: str, target: str) -> None:
        super().__init__()
        self.link_name = link_name
        self.target = target
        #: Traced in handle.create, as for files.
        self.path = link_name

    def is_signalled_for(self, thread: Thread) -> bool:
        return True  # NT's default object: a wait on a link is satisfied at once

    def describe(self) -> str:
        return f"{self.link_name} -> {self.target}"
