"""Open files and directories: one object per NtCreateFile, shared by its duplicates.

The position lives on the object, so a handle from NtDuplicateObject moves the
same position as the original. The object is also a wait target through an
internal auto-reset event, set whenever a read or write completes: a wait on
the file handle succeeds once per completed I/O and consumes it. Files
associated with I/O completion ports (NtSetInformationFile class 30) post a
packet to each of them for every completed I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from x360k.objects.base import KernelObject
from x360k.vfs import held
from x360k.vfs.guest_path import Refused

if TYPE_CHECKING:
    from x360k.objects.io_completion import IoCompletion
    from x360k.objects.thread import Thread
    from x360k.vfs.device import OpenNode
    from x360k.vfs.pattern import Pattern
    from x360k.vfs.sandbox import HostEntry


@dataclass(slots=True)
class Listing:
    """A directory enumeration in progress: the snapshot taken at the first query, and a cursor."""

    pattern: Pattern
    entries: list[HostEntry]
    cursor: int = 0


class File(KernelObject):
    """An open file or directory on a mounted device."""

    TYPE = "File"
    WAITABLE = True
    __slots__ = (
        "completions",
        "delete_on_close",
        "io_signalled",
        "listing",
        "node",
        "path",
        "position",
        "release_port",
        "synchronous",
    )

    def __init__(self, node: OpenNode, path: str, synchronous: bool) -> None:
        super().__init__()
        self.node = node
        #: The guest path as the title spelt it (``\??\`` dropped); traced in handle.create.
        self.path = path
        self.synchronous = synchronous
        self.position = 0
        #: The internal auto-reset event canary sets after every completed read or write.
        self.io_signalled = False
        #: (port, key) pairs from NtSetInformationFile class 30, in registration order.
        self.completions: list[tuple[IoCompletion, int]] = []
        self.listing: Listing | None = None
        self.delete_on_close = False
        #: Gives back the references this file holds on its ports (set by the export module).
        self.release_port: Callable[[IoCompletion], None] | None = None

    @property
    def is_directory(self) -> bool:
        return self.node.is_dir

    def is_signalled_for(self, thread: Thread) -> bool:
        return self.io_signalled

    def satisfy(self, thread: Thread) -> bool:
        self.io_signalled = False
        return False

    def signal_state(self) -> int:
        return 1 if self.io_signalled else 0

    def describe(self) -> str:
        kind = "directory" if self.node.is_dir else f"file at {self.position}"
        return f"{kind} {self.path}"

    def on_destroy(self) -> None:
        node = self.node
        if self.delete_on_close:
            # Through the held descriptors (never the path): see x360k.vfs.held. A refusal
            # (the entry moved or was replaced since the open) leaves the host untouched.
            with contextlib.suppress(Refused, OSError):
                held.remove(node.device.sandbox, node.held, directory=node.is_dir)
        node.close()
        release = self.release_port
        if release is not None:
            for port, _key in self.completions:
                release(port)
        self.completions.clear()
