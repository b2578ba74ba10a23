"""An open entry held by descriptors: what every operation through a guest handle acts on.

A guest handle must act on what it was opened on, never on a path looked up
again later: between the open and a rename, a delete or a change of times, a
host process may have swapped a directory on the way for a link to somewhere
outside the mount, and a path string would follow it there. So an open file or
directory keeps

* ``fd``, a descriptor of the entry itself (times are read with ``fstat`` and set
  with ``futimens`` on it, listings come from it), and
* ``parent_fd`` and ``name``, a descriptor of the directory it lives in and its
  host name there (renames are ``renameat`` and deletes ``unlinkat`` relative to
  it, so they never leave that directory).

Before every act :func:`check` re-verifies the pair: both descriptors still
inside the mounted folder (``/proc/self/fd``) and ``name`` in ``parent_fd`` still
the same inode as ``fd`` (``fstatat`` without following links). Anything else is
refused as a missing path. After a rename the new place is verified the same way.
The device root has no parent the guest may touch (``parent_fd`` -1): renaming
or deleting it is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from x360k.vfs.guest_path import Refused, component_problem

if TYPE_CHECKING:
    from x360k.vfs.sandbox import Sandbox

_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC


def where(fd: int) -> str | None:
    """Where a descriptor points now (None without procfs)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


@dataclass(slots=True)
class Held:
    """An open entry: its own descriptor, its directory's descriptor and its name there."""

    fd: int
    parent_fd: int
    name: str
    dev: int
    ino: int

    def close(self) -> None:
        """Give both descriptors back (idempotent)."""
        for fd in (self.fd, self.parent_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.parent_fd = -1

    def __del__(self) -> None:
        # A kernel dropped with handles still open must not leak host descriptors.
        self.close()


def open_directory(sb: Sandbox, real: str) -> int:
    """A descriptor of the resolved directory ``real``, walked from the root without links.

    ``real`` came from ``realpath`` (no links in it); opening it one name at a
    time from the held root with ``O_NOFOLLOW`` refuses a link swapped in since.
    """
    if not sb.contains(real):
        raise Refused(real, "resolves outside the mounted folder")
    fd = os.dup(sb.root_fd)
    rest = real[len(sb.root) :].strip(os.sep)
    try:
        for name in rest.split(os.sep) if rest else ():
            if name in ("", ".", ".."):
                raise Refused(real, "not a plain name")
            try:
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused(real, "changed into a link while being resolved") from None
                raise
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def hold(sb: Sandbox, fd: int, dir_fd: int, name: str, real: str) -> Held:
    """Anchor a freshly opened ``fd`` (which this takes over: closed on failure).

    ``dir_fd`` is the directory the open went through (borrowed: duplicated
    here), or -1 when a link was on the way; then the directory is opened again
    from where ``fd`` really points (``real`` without procfs), and checked to
    hold ``fd`` under that name.
    """
    parent = -1
    try:
        st = os.fstat(fd)
        if dir_fd >= 0:
            # Opened just now as ``name`` relative to ``dir_fd`` without following links (and a
            # file checked through /proc already): the pair holds by construction. Every act
            # checks it again anyway.
            parent = os.dup(dir_fd)
            return Held(fd, parent, name, st.st_dev, st.st_ino)
        at = where(fd) or real
        if not sb.contains(at):
            raise Refused(at, "descriptor points outside the mounted folder")
        if at == sb.root:
            return Held(fd, -1, "", st.st_dev, st.st_ino)
        head, _, name = at.rpartition(os.sep)
        parent = open_directory(sb, head or os.sep)
        held = Held(fd, parent, name, st.st_dev, st.st_ino)
        _same_entry(held)
    except BaseException:
        os.close(fd)
        if parent >= 0:
            os.close(parent)
        raise
    return held


def _same_entry(held: Held) -> os.stat_result:
    """``held.name`` in its directory is still ``held.fd``'s inode (links never followed)."""
    try:
        st = os.stat(held.name, dir_fd=held.parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise Refused(held.name, "no longer where it was opened") from None
    if (st.st_dev, st.st_ino) != (held.dev, held.ino):
        raise Refused(held.name, "replaced since it was opened")
    return st


def _inside(sb: Sandbox, fd: int) -> None:
    at = where(fd)
    if at is not None and not sb.contains(at):
        raise Refused(at, "moved outside the mounted folder since it was opened")


def check(sb: Sandbox, held: Held, *, placed: bool = False) -> os.stat_result:
    """Refuse unless ``held`` is still inside the folder; ``placed``: and still at its name.

    An entry the host has removed (no links left) is refused too. Returns the
    entry's ``fstat``.
    """
    if held.fd < 0:
        raise Refused("", "closed")
    _inside(sb, held.fd)
    st = os.fstat(held.fd)
    if st.st_nlink == 0:
        raise Refused(held.name, "removed from the host since it was opened")
    if placed:
        if held.parent_fd < 0:
            raise Refused(sb.root, "the device root cannot be renamed or deleted")
        _inside(sb, held.parent_fd)
        _same_entry(held)
    return st


def set_times(sb: Sandbox, held: Held, atime_ns: int, mtime_ns: int) -> None:
    """``futimens`` on the held descriptor."""
    check(sb, held)
    os.utime(held.fd, ns=(atime_ns, mtime_ns))


def remove(sb: Sandbox, held: Held, *, directory: bool) -> None:
    """``unlinkat`` (``AT_REMOVEDIR`` for a directory) of the held name in its held directory."""
    check(sb, held, placed=True)
    if directory:
        os.rmdir(held.name, dir_fd=held.parent_fd)
    else:
        os.unlink(held.name, dir_fd=held.parent_fd)


def rename(sb: Sandbox, held: Held, dst_fd: int, dst_name: str, *, replace: bool) -> None:
    """``renameat`` the held entry to ``dst_name`` in the directory ``dst_fd`` (borrowed).

    An existing different entry there is an ``EEXIST`` unless ``replace``; a link
    there is refused (it is never replaced, nor its target). ``held`` then
    points at the new place, verified.
    """
    if component_problem(dst_name) is not None:
        raise Refused(dst_name, "not a plain name")
    check(sb, held, placed=True)
    _inside(sb, dst_fd)
    try:
        existing = os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if existing is not None and (existing.st_dev, existing.st_ino) != (held.dev, held.ino):
        if stat.S_ISLNK(existing.st_mode):
            raise Refused(dst_name, "a link stands at the new name")
        if not replace:
            raise FileExistsError(errno.EEXIST, "exists", dst_name)
    os.rename(held.name, dst_name, src_dir_fd=held.parent_fd, dst_dir_fd=dst_fd)
    new_parent = os.dup(dst_fd)
    os.close(held.parent_fd)
    held.parent_fd, held.name = new_parent, dst_name
    check(sb, held, placed=True)


def list_names(held: Held) -> list[str]:
    """The names in a held directory."""
    return os.listdir(held.fd)
