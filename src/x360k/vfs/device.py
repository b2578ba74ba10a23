"""A device backed by a host folder, and the NtCreateFile dispositions on it.

The device answers in NTSTATUS values so the exports stay thin: every host
error becomes one of the statuses the reference lists for file creation, and
anything the sandbox refuses becomes STATUS_NO_SUCH_FILE, the status of a
missing path, so a title learns nothing about what lies outside.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_NO_SUCH_FILE,
    STATUS_NOT_A_DIRECTORY,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_SUCCESS,
)
from x360k.vfs.guest_path import Refused
from x360k.vfs.held import DIR_FLAGS, Held, hold, open_directory
from x360k.vfs.sandbox import HostEntry, Lookup, Sandbox

# CreateDisposition values.
FILE_SUPERSEDE: Final = 0
FILE_OPEN: Final = 1
FILE_CREATE: Final = 2
FILE_OPEN_IF: Final = 3
FILE_OVERWRITE: Final = 4
FILE_OVERWRITE_IF: Final = 5
# IO_STATUS_BLOCK.Information after a create.
FILE_SUPERSEDED: Final = 0
FILE_OPENED: Final = 1
FILE_CREATED: Final = 2
FILE_OVERWRITTEN: Final = 3
FILE_EXISTS: Final = 4
FILE_DOES_NOT_EXIST: Final = 5
# CreateOptions bits canary looks at.
FILE_DIRECTORY_FILE: Final = 0x01
FILE_SYNCHRONOUS_IO_ALERT: Final = 0x10
FILE_SYNCHRONOUS_IO_NONALERT: Final = 0x20
FILE_NON_DIRECTORY_FILE: Final = 0x40
# DesiredAccess bits that ask for reading or writing data (specific and generic).
READ_ACCESS: Final = 0x00000001 | 0x80000000 | 0x10000000
WRITE_ACCESS: Final = 0x00000002 | 0x00000004 | 0x40000000 | 0x10000000
#: Information after replacing an existing file, by disposition (anything else: FILE_OPENED).
_REPLACED: Final = {
    FILE_SUPERSEDE: FILE_SUPERSEDED,
    FILE_OVERWRITE: FILE_OVERWRITTEN,
    FILE_OVERWRITE_IF: FILE_OVERWRITTEN,
}


def status_for(err: BaseException) -> int:
    """The NTSTATUS a host failure (or a sandbox refusal) is reported as."""
    if isinstance(err, Refused):
        return STATUS_NO_SUCH_FILE
    if isinstance(err, OSError):
        code = err.errno
        if code == errno.EEXIST:
            return STATUS_OBJECT_NAME_COLLISION
        if code == errno.ENOTEMPTY:
            return STATUS_DIRECTORY_NOT_EMPTY
        if code == errno.EISDIR:
            return STATUS_FILE_IS_A_DIRECTORY
        if code in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
            return STATUS_NO_SUCH_FILE
        if code in (errno.EMFILE, errno.ENFILE):
            # The host ran out of descriptors (each open entry holds two): a resource, not a right.
            return STATUS_INSUFFICIENT_RESOURCES
    return STATUS_ACCESS_DENIED


@dataclass(slots=True)
class OpenNode:
    """What a successful open hands to a file object: where it is, and the descriptors held.

    Every operation through the guest's handle goes through ``held`` (see
    :mod:`x360k.vfs.held`); ``real`` is where the entry was at the open, kept
    for messages only.
    """

    device: HostFolderDevice
    names: tuple[str, ...]
    real: str
    is_dir: bool
    held: Held
    writable: bool
    readable: bool

    @property
    def fd(self) -> int:
        """The entry's own descriptor (a directory's too); -1 once closed."""
        return self.held.fd

    def close(self) -> None:
        self.held.close()


@dataclass(slots=True)
class OpenOutcome:
    status: int
    action: int
    node: OpenNode | None = None


@dataclass(slots=True)
class VolumeInfo:
    """Fixed, deterministic volume figures (a trace must not depend on the host's free space)."""

    label: str = ""
    serial: int = 0x58333630
    file_system: str = "FATX"
    bytes_per_sector: int = 512
    sectors_per_cluster: int = 32
    total_clusters: int = 0x80000
    free_clusters: int = 0x40000


@dataclass(slots=True)
class HostFolderDevice:
    """A guest device path (``\\Device\\Cdrom0``) showing one host folder."""

    path: str
    root: Path
    writable: bool = False
    volume: VolumeInfo = field(default_factory=VolumeInfo)
    sandbox: Sandbox = field(init=False)

    def __post_init__(self) -> None:
        self.sandbox = Sandbox(self.root)

    @property
    def cluster_size(self) -> int:
        return self.volume.bytes_per_sector * self.volume.sectors_per_cluster

    def allocation_size(self, size: int) -> int:
        c = self.cluster_size
        return (size + c - 1) // c * c

    # -- lookups ----------------------------------------------------------------------------------

    def stat(self, names: tuple[str, ...]) -> tuple[int, HostEntry | None]:
        """(status, entry) for a path: STATUS_NO_SUCH_FILE when missing or refused."""
        try:
            entry = self.sandbox.locate(names)
        except (Refused, OSError) as err:
            return status_for(err), None
        return (STATUS_SUCCESS, entry) if entry is not None else (STATUS_NO_SUCH_FILE, None)

    # -- open / create ----------------------------------------------------------------------------

    def open(
        self, names: tuple[str, ...], disposition: int, options: int, access: int
    ) -> OpenOutcome:
        """Open or create ``names`` as NtCreateFile's disposition and options say."""
        try:
            return self._open(names, disposition, options, access)
        except (Refused, OSError) as err:
            return OpenOutcome(status_for(err), FILE_DOES_NOT_EXIST)

    def _open(
        self, names: tuple[str, ...], disposition: int, options: int, access: int
    ) -> OpenOutcome:
        if not names:
            root = self.sandbox.locate(names)
            if root is None:
                return OpenOutcome(STATUS_NO_SUCH_FILE, FILE_DOES_NOT_EXIST)
            return self._open_existing(names, root, None, disposition, options, access)
        found = self.sandbox.lookup(names)
        if found is None:
            return OpenOutcome(STATUS_NO_SUCH_FILE, FILE_DOES_NOT_EXIST)
        try:
            entry = found.entry
            if entry is None:
                return self._create(found, names, disposition, options, access)
            names = (*names[:-1], entry.name)
            return self._open_existing(names, entry, found, disposition, options, access)
        finally:
            found.close()

    def _create(
        self, found: Lookup, names: tuple[str, ...], disposition: int, options: int, access: int
    ) -> OpenOutcome:
        if disposition in (FILE_OPEN, FILE_OVERWRITE):
            return OpenOutcome(STATUS_NO_SUCH_FILE, FILE_DOES_NOT_EXIST)
        if not self.writable:
            return OpenOutcome(STATUS_ACCESS_DENIED, FILE_DOES_NOT_EXIST)
        sb = self.sandbox
        name = names[-1]
        if options & FILE_DIRECTORY_FILE:
            real = sb.make_child_directory(found, name)
            fd = self._open_directory(found, name, real)
            held = hold(sb, fd, found.dir_fd, name, real)
            node = OpenNode(self, names, real, True, held, False, True)
        else:
            fd, real = sb.create_child(found, name)
            held = hold(sb, fd, found.dir_fd, name, real)
            readable = bool(access & READ_ACCESS)
            node = OpenNode(self, names, real, False, held, bool(access & WRITE_ACCESS), readable)
        return OpenOutcome(STATUS_SUCCESS, FILE_CREATED, node)

    def _open_directory(self, found: Lookup | None, name: str, real: str) -> int:
        """A descriptor of a directory a lookup found (relative to its parent when held)."""
        if found is not None and found.dir_fd >= 0:
            return os.open(name, DIR_FLAGS, dir_fd=found.dir_fd)
        return open_directory(self.sandbox, real)

    def _open_existing(
        self,
        names: tuple[str, ...],
        entry: HostEntry,
        found: Lookup | None,
        disposition: int,
        options: int,
        access: int,
    ) -> OpenOutcome:
        """Open what a lookup found (``found`` is None for the device root)."""
        if disposition == FILE_CREATE:
            return OpenOutcome(STATUS_OBJECT_NAME_COLLISION, FILE_EXISTS)
        if entry.is_dir and options & FILE_NON_DIRECTORY_FILE:
            # Canary leaves Information unset on this path; x360k writes nothing there.
            return OpenOutcome(STATUS_FILE_IS_A_DIRECTORY, -1)
        want_write = bool(access & WRITE_ACCESS)
        replace = disposition in (FILE_SUPERSEDE, FILE_OVERWRITE, FILE_OVERWRITE_IF)
        if (replace or want_write) and not self.writable:
            return OpenOutcome(STATUS_ACCESS_DENIED, FILE_EXISTS)
        sb = self.sandbox
        dir_fd = -1 if found is None else found.dir_fd
        if entry.is_dir:
            if replace:
                return OpenOutcome(STATUS_ACCESS_DENIED, FILE_EXISTS)
            fd = self._open_directory(found, entry.name, entry.real)
            held = hold(sb, fd, dir_fd, entry.name, entry.real)
            node = OpenNode(self, names, entry.real, True, held, False, True)
            return OpenOutcome(STATUS_SUCCESS, FILE_OPENED, node)
        write = want_write or replace
        if found is None:  # the device root was replaced by a file under us
            fd = sb.open_file(entry.real, write=write)
        else:
            fd = sb.open_child(found, write=write)
        held = hold(sb, fd, dir_fd, entry.name, entry.real)
        if replace:
            try:
                os.ftruncate(held.fd, 0)
            except OSError:
                held.close()
                raise
        action = _REPLACED.get(disposition, FILE_OPENED)
        readable = bool(access & READ_ACCESS)
        node = OpenNode(self, names, entry.real, False, held, want_write, readable)
        return OpenOutcome(STATUS_SUCCESS, action, node)

    def check_directory_option(self, node: OpenNode, options: int) -> int:
        """NT's rule for FILE_DIRECTORY_FILE on a file (canary does not apply it)."""
        if options & FILE_DIRECTORY_FILE and not node.is_dir:
            return STATUS_NOT_A_DIRECTORY
        return STATUS_SUCCESS
