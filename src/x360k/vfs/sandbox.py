"""A host folder the guest may see into and never out of.

Every guest-visible host path goes through :class:`Sandbox`. Names are looked
up one at a time, case-insensitively as the Xbox compares them; every step is
resolved with ``os.path.realpath`` and must stay inside the mounted folder, so
a host symlink that points outside is refused rather than followed. Files are
opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again *after* opening
(``fstat`` for a regular file, ``/proc/self/fd`` for where the descriptor
really points), so nothing outside is read, listed or written even if the
folder changes between the check and the open. Only regular files and
directories are visible: FIFOs, sockets and device nodes are refused before
they could block or leak.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from x360k.vfs.guest_path import Refused, component_problem, fold

_PROC_FD = "/proc/self/fd"
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One visible entry: its host spelling, resolved host path and what ``lstat`` said."""

    name: str
    real: str
    is_dir: bool
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int


class Sandbox:
    """Case-insensitive, containment-checked access to one host folder."""

    __slots__ = ("_prefix", "root")

    def __init__(self, root: str | Path) -> None:
        real = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real):
            raise ValueError(f"{root}: not a directory")
        self.root = real
        self._prefix = real if real.endswith(os.sep) else real + os.sep

    # -- containment ------------------------------------------------------------------------------

    def contains(self, real: str) -> bool:
        """Whether a resolved host path is the root or below it."""
        return real == self.root or real.startswith(self._prefix)

    def _follow(self, host_path: str) -> str:
        """Resolve every link in ``host_path``; refuse it if the result is outside the root."""
        real = os.path.realpath(host_path)
        if not self.contains(real):
            raise Refused(host_path, "resolves outside the mounted folder")
        return real

    @staticmethod
    def _describe(name: str, real: str, st: os.stat_result) -> HostEntry:
        if stat.S_ISLNK(st.st_mode):
            # Became a link after it was resolved: something is racing us.
            raise Refused(real, "changed into a link while being resolved")
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            raise Refused(real, "neither a regular file nor a directory")
        return HostEntry(
            name,
            real,
            is_dir,
            0 if is_dir else st.st_size,
            st.st_atime_ns,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )

    def _entry(self, name: str, real: str) -> HostEntry | None:
        """Describe ``real`` (already resolved), or None when it is gone."""
        try:
            st = os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self._describe(name, real, st)

    # -- lookup -----------------------------------------------------------------------------------

    def child(self, dir_real: str, name: str) -> HostEntry | None:
        """The entry called ``name`` (case-insensitively) in a resolved directory, or None.

        An exact match wins; otherwise the first case-insensitive match in
        sorted order, so the choice is deterministic when the host holds both
        ``A`` and ``a``. Only a link costs a ``realpath``; a plain entry is
        checked with the one ``lstat`` that found it.
        """
        host = name
        path = os.path.join(dir_real, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            key = fold(name)
            try:
                found = sorted(n for n in os.listdir(dir_real) if fold(n) == key)
            except (FileNotFoundError, NotADirectoryError):
                return None
            if not found:
                return None
            host = found[0]
            path = os.path.join(dir_real, host)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return None
        except NotADirectoryError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return self._entry(host, self._follow(path))
        return self._describe(host, path, st)

    def locate(self, names: tuple[str, ...]) -> HostEntry | None:
        """The entry ``names`` lead to from the root: None if missing, Refused on escape."""
        entry = self._entry("", self.root)
        for name in names:
            if entry is None or not entry.is_dir:
                return None
            entry = self.child(entry.real, name)
        return entry

    def locate_parent(self, names: tuple[str, ...]) -> tuple[HostEntry, HostEntry | None] | None:
        """The parent directory of ``names`` and the last name's entry if present.

        None when the parent is missing or not a directory.
        """
        parent = self.locate(names[:-1])
        if parent is None or not parent.is_dir:
            return None
        return parent, self.child(parent.real, names[-1])

    # -- files ------------------------------------------------------------------------------------

    def _verify_fd(self, fd: int, *, directory: bool = False) -> None:
        st = os.fstat(fd)
        ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
        if not ok:
            raise Refused(str(fd), "opened something that is not a plain file")
        try:
            where = os.readlink(f"{_PROC_FD}/{fd}")
        except OSError:
            return  # no procfs: the realpath check before opening is what we have
        if not self.contains(where):
            raise Refused(where, "descriptor points outside the mounted folder")

    def open_file(self, real: str, *, write: bool) -> int:
        """Open an existing regular file that :meth:`locate` returned."""
        fd = os.open(real, (os.O_RDWR if write else os.O_RDONLY) | _OPEN_FLAGS)
        try:
            self._verify_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def create_file(self, parent_real: str, name: str) -> tuple[int, str]:
        """Create a new empty file (never through an existing name or link); returns (fd, path)."""
        self._check_new_name(parent_real, name)
        path = os.path.join(parent_real, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
        try:
            self._verify_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd, path

    def make_directory(self, parent_real: str, name: str) -> str:
        self._check_new_name(parent_real, name)
        path = os.path.join(parent_real, name)
        os.mkdir(path, 0o755)
        return self._follow(path)

    def _check_new_name(self, parent_real: str, name: str) -> None:
        if component_problem(name) is not None or self._follow(parent_real) != parent_real:
            raise Refused(name, "not a plain name in a resolved folder")

    # -- directories ------------------------------------------------------------------------------

    def list_directory(self, dir_real: str) -> list[HostEntry]:
        """Visible entries of a directory, sorted by folded name then exact name.

        Hidden from the guest: names it could not spell (see
        :func:`~x360k.vfs.guest_path.component_problem`), links that resolve
        outside the folder (their targets are never looked at), and anything
        that is not a regular file or a directory.
        """
        if self._follow(dir_real) != dir_real:
            raise Refused(dir_real, "directory moved while being listed")
        out: list[HostEntry] = []
        with os.scandir(dir_real) as it:
            for de in it:
                if component_problem(de.name) is not None:
                    continue
                try:
                    real = self._follow(de.path) if de.is_symlink() else de.path
                    entry = self._entry(de.name, real)
                except Refused:
                    continue
                if entry is not None:
                    out.append(entry)
        out.sort(key=lambda e: (fold(e.name), e.name))
        return out

    # -- changes ----------------------------------------------------------------------------------

    def _plain(self, real: str) -> None:
        if not self.contains(real) or real == self.root or os.path.islink(real):
            raise Refused(real, "not a plain entry inside the mounted folder")

    def remove(self, real: str, *, directory: bool) -> None:
        self._plain(real)
        if directory:
            os.rmdir(real)
        else:
            os.unlink(real)

    def rename(self, src_real: str, dst_parent_real: str, dst_name: str, *, replace: bool) -> str:
        """Move an entry to ``dst_parent_real/dst_name``; returns the new resolved path."""
        self._plain(src_real)
        self._check_new_name(dst_parent_real, dst_name)
        dst = os.path.join(dst_parent_real, dst_name)
        if os.path.lexists(dst):
            if not replace:
                raise FileExistsError(dst)
            self._plain(dst)
        os.replace(src_real, dst)
        return dst
