"""Object directories: the nodes of the console's object namespace (not waitable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject

if TYPE_CHECKING:
    from x360k.objects.thread import Thread


class Directory(KernelObject):
    """A named container of named objects; names compare case-insensitively (ASCII).

    ``entries`` maps the folded element name to the name as created and the
    object, in insertion order (the order NtQueryDirectoryObject reports).
    """

    TYPE = "Directory"
    WAITABLE = False
    DEFAULT_OBJECT = True
    __slots__ = ("entries", "path")

    def __init__(self, path: bytes) -> None:
        super().__init__()
        #: The full path, for reports (b"\\" for the root).
        self.path = path
        self.entries: dict[bytes, tuple[bytes, KernelObject]] = {}

    def find(self, element: bytes) -> KernelObject | None:
        found = self.entries.get(element.lower())
        return None if found is None else found[1]

    def is_signalled_for(self, thread: Thread) -> bool:
        return True  # NT's default object: a wait on a directory is satisfied at once

    def describe(self) -> str:
        return f"{self.path.decode('latin-1')} ({len(self.entries)} entries)"
