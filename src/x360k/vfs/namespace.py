"""The guest's view of devices: device paths, symbolic links, and path resolution.

A path is resolved the way the Xbox object manager does it for files: a
leading ``\\??\\`` is dropped, a symbolic link whose name starts the path
(``game:``, ``d:``, ``cache:`` or one a title made with ObCreateSymbolicLink)
is replaced by its target, repeatedly, and the device whose path then starts
the path takes the rest. Every comparison folds ASCII case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from x360k.vfs.device import HostFolderDevice
from x360k.vfs.guest_path import (
    MAX_PATH,
    SEPARATOR,
    Refused,
    fold,
    split_relative,
    strip_dos_prefix,
)

#: Links may point at links; this many substitutions is plenty and stops loops.
MAX_LINK_DEPTH: Final = 8
#: Resolutions remembered per namespace before the memo starts over (titles use few paths).
RESOLVE_MEMO_LIMIT: Final = 4096

CDROM0: Final = "\\Device\\Cdrom0"
HARDDISK0_PARTITION1: Final = "\\Device\\Harddisk0\\Partition1"
HARDDISK0_CACHE0: Final = "\\Device\\Harddisk0\\Cache0"


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a guest path leads: a device and the checked names inside it."""

    device: HostFolderDevice
    names: tuple[str, ...]


def _starts(path_folded: str, prefix_folded: str) -> bool:
    if not path_folded.startswith(prefix_folded):
        return False
    n = len(prefix_folded)
    return len(path_folded) == n or path_folded[n] == SEPARATOR or prefix_folded.endswith(SEPARATOR)


@dataclass(slots=True)
class Namespace:
    """Devices and symbolic links of one kernel.

    Change devices and links only through the methods: resolution is a pure
    function of the path and of them, so :meth:`resolve` remembers its answers
    and the methods forget them.
    """

    devices: dict[str, HostFolderDevice] = field(default_factory=dict)
    #: folded link name -> (name as registered, target)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: guest path -> its resolution, or the (path, why) it was refused with
    _memo: dict[str, Resolved | tuple[str, str]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def add_device(self, device: HostFolderDevice) -> None:
        key = fold(device.path)
        if key in self.devices:
            raise ValueError(f"device {device.path} is already mounted")
        self.devices[key] = device
        self._memo.clear()

    def add_link(self, name: str, target: str) -> bool:
        """Register (or replace) a link; False for an empty name or target."""
        if not name or not target:
            return False
        self.links[fold(name)] = (name, target)
        self._memo.clear()
        return True

    def remove_link(self, name: str) -> bool:
        self._memo.clear()
        return self.links.pop(fold(name), None) is not None

    def link_target(self, name: str) -> str | None:
        found = self.links.get(fold(name))
        return None if found is None else found[1]

    def expand_links(self, path: str) -> str:
        """``path`` with its leading links replaced by their targets.

        Raises :class:`Refused` on loops and as soon as a substitution makes the
        path longer than :data:`~x360k.vfs.guest_path.MAX_PATH` (a title's own
        links could otherwise grow it without bound, eight times over).
        """
        for _ in range(MAX_LINK_DEPTH):
            if len(path) > MAX_PATH:
                raise Refused(path[:64] + "...", "path longer than 1024 bytes once links expand")
            folded = fold(path)
            best: tuple[str, str] | None = None
            for key, (name, target) in self.links.items():
                if _starts(folded, key) and (best is None or len(name) > len(best[0])):
                    best = (name, target)
            if best is None:
                return path
            path = best[1] + path[len(best[0]) :]
        if len(path) > MAX_PATH:
            raise Refused(path[:64] + "...", "path longer than 1024 bytes once links expand")
        raise Refused(path, "symbolic links nest too deep")

    def resolve(self, guest_path: str) -> Resolved:
        """The device and names a guest path reaches; :class:`Refused` if it reaches nothing.

        Every name is checked the first time a path is seen; later calls with
        the same text reuse that answer (a refusal included) until a device or
        link changes.
        """
        memo = self._memo
        known = memo.get(guest_path)
        if known is None:
            try:
                known = self._resolve(guest_path)
            except Refused as err:
                known = (err.path, err.why)
            if len(memo) >= RESOLVE_MEMO_LIMIT:
                memo.clear()
            memo[guest_path] = known
        if isinstance(known, tuple):
            raise Refused(*known)
        return known

    def _resolve(self, guest_path: str) -> Resolved:
        path = self.expand_links(strip_dos_prefix(guest_path))
        folded = fold(path)
        best: HostFolderDevice | None = None
        for key, device in self.devices.items():
            if _starts(folded, key) and (best is None or len(key) > len(best.path)):
                best = device
        if best is None:
            raise Refused(guest_path, "no device or link of that name")
        return Resolved(best, split_relative(guest_path, path[len(best.path) :]))
