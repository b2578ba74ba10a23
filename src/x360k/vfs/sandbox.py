"""A host folder the guest may see into and never out of.

Every guest-visible host path goes through :class:`Sandbox`. Names are looked
up one at a time, case-insensitively as the Xbox compares them.

The usual walk (:meth:`Sandbox.lookup`) holds a descriptor of the mounted
folder and opens each directory *relative to its parent's descriptor* with
``O_NOFOLLOW | O_DIRECTORY``; the file at the end is opened the same way with
``O_NOFOLLOW | O_NONBLOCK``. Names are plain (never ``.``, ``..`` or with a
separator) and no link is ever followed on that walk, so no link swapped in
under it can carry it outside, and no ``realpath`` is needed.

A link on the way stops that walk; the lookup then starts over on the
link-following walk, where every step is resolved with ``os.path.realpath``
and must stay inside the folder (a link pointing outside is refused rather
than followed). Either way a file is checked again after opening (``fstat``
says regular file, ``/proc/self/fd`` says where the descriptor really points,
which also catches a directory moved out of the folder mid-walk). Only regular
files and directories are visible: FIFOs, sockets and device nodes are
refused before they could block or leak.
"""

from __future__ import annotations

import errno
import os
import stat
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from x360k.vfs.guest_path import Refused, component_problem, fold
from x360k.vfs.held import where

_PROC_FD = "/proc/self/fd"
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS: Final = os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
#: A directory listing is remembered only once the directory's times are this much older than
#: the listing: a change within the same timestamp tick would otherwise leave its times as
#: they were and the remembered listing stale (the "racily clean" problem).
_SETTLED_NS: Final = 1_000_000_000
#: Directories whose case-insensitive name table is remembered before the memo starts over.
_LISTING_MEMO_LIMIT: Final = 1024
#: Names the direct walk never passes to the host (they would leave the directory it is in).
_NOT_PLAIN: Final = frozenset(["", ".", ".."])


#: Why a regular file with more than one name is refused: another name may lie outside the
#: folder, and nothing on the file says where (see docs/files.md, "Threat model").
_HARD_LINK: Final = "a hard link (more than one name): it may be a file outside the folder"


class _Indirect(Exception):
    """The direct walk met something it does not follow (a link): use the link-following walk."""


@dataclass(slots=True)
class _Listing:
    """A directory's folded names, valid while the directory's stat stamp is unchanged."""

    stamp: tuple[int, int, int, int]
    by_fold: dict[str, str]


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


@dataclass(slots=True)
class Lookup:
    """What a path leads to: its parent directory and the last name's entry (None: absent).

    ``dir_fd`` is the parent directory's descriptor when the direct walk found
    it (the caller closes it with :meth:`close`), -1 when a link was on the way
    and the paths must be re-checked on use.
    """

    parent_real: str
    entry: HostEntry | None
    dir_fd: int
    #: Whether ``dir_fd`` is this lookup's own (not the sandbox's descriptor of the root).
    owned: bool = False

    def close(self) -> None:
        if self.owned:
            os.close(self.dir_fd)
            self.owned = False


class Sandbox:
    """Case-insensitive, containment-checked access to one host folder."""

    __slots__ = ("__weakref__", "_listings", "_prefix", "_root_fd", "root")

    def __init__(self, root: str | Path) -> None:
        real = os.path.realpath(os.fspath(root))
        if not os.path.isdir(real):
            raise ValueError(f"{root}: not a directory")
        self.root = real
        self._prefix = real if real.endswith(os.sep) else real + os.sep
        #: The mounted folder itself, held for the sandbox's lifetime: the direct walk starts here.
        self._root_fd = os.open(real, _DIR_FLAGS)
        weakref.finalize(self, os.close, self._root_fd)
        #: (st_dev, st_ino) of a directory -> its folded names, for case-insensitive lookups.
        self._listings: dict[tuple[int, int], _Listing] = {}

    @property
    def root_fd(self) -> int:
        """The held descriptor of the mounted folder (borrowed: never close it)."""
        return self._root_fd

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
        if not is_dir and st.st_nlink > 1:
            raise Refused(real, _HARD_LINK)
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
        if not names:
            return self._entry("", self.root)
        found = self.lookup(names)
        if found is None:
            return None
        found.close()
        return found.entry

    def _locate_following(self, names: tuple[str, ...]) -> HostEntry | None:
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
        parent = self._locate_following(names[:-1])
        if parent is None or not parent.is_dir:
            return None
        return parent, self.child(parent.real, names[-1])

    def lookup(self, names: tuple[str, ...]) -> Lookup | None:
        """The parent of ``names`` (non-empty) and its last entry; None when the parent is missing.

        Tries the direct walk first; a link anywhere on the way means the
        link-following walk, with its containment checks, answers instead.
        """
        try:
            return self._lookup_direct(names)
        except _Indirect:
            pass
        found = self.locate_parent(names)
        if found is None:
            return None
        parent, entry = found
        return Lookup(parent.real, entry, -1)

    def _lookup_direct(self, names: tuple[str, ...]) -> Lookup | None:
        for name in names:
            if name in _NOT_PLAIN or os.sep in name:
                raise Refused(name, "not a plain name")
        root_fd = fd = self._root_fd
        hosts: list[str] = []
        try:
            for name in names[:-1]:
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    hosts.append(name)
                except FileNotFoundError:
                    sub = self._open_dir_folded(fd, name, hosts)
                except OSError as err:
                    raise self._why_stopped(err) from None
                if fd != root_fd:
                    os.close(fd)
                fd = sub
                if sub < 0:
                    return None
            if hosts:
                parent_real = self._prefix + os.sep.join(hosts)
                entry = self._stat_child(fd, parent_real + os.sep, names[-1])
            else:
                parent_real = self.root
                entry = self._stat_child(fd, self._prefix, names[-1])
        except BaseException:
            if fd != root_fd and fd >= 0:
                os.close(fd)
            raise
        return Lookup(parent_real, entry, fd, fd != root_fd)

    @staticmethod
    def _why_stopped(err: OSError) -> BaseException:
        """A link (ELOOP, or ENOTDIR under O_DIRECTORY) or a file where a directory was asked for:
        the link-following walk tells which and answers as it always did."""
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            return _Indirect()
        return err

    def _folded_candidates(self, dir_fd: int, name: str) -> Iterator[str]:
        """Host spellings to try for ``name`` once its exact spelling is missing.

        First the remembered listing's answer; if that name has gone, a fresh listing's.
        """
        host, fresh = self._spelling(dir_fd, name, fresh=False)
        if host is None:
            return
        yield host
        if not fresh:
            again, _ = self._spelling(dir_fd, name, fresh=True)
            if again is not None and again != host:
                yield again

    def _open_dir_folded(self, dir_fd: int, name: str, hosts: list[str]) -> int:
        for host in self._folded_candidates(dir_fd, name):
            try:
                sub = os.open(host, _DIR_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise self._why_stopped(err) from None
            hosts.append(host)
            return sub
        return -1

    def _stat_child(self, dir_fd: int, dir_prefix: str, name: str) -> HostEntry | None:
        """The entry ``name`` in ``dir_fd`` (a link there is :class:`_Indirect`), or None.

        ``dir_prefix`` is the directory's resolved path with a trailing separator.
        """
        try:
            return self._describe_child(dir_fd, dir_prefix, name)
        except FileNotFoundError:
            pass
        for host in self._folded_candidates(dir_fd, name):
            try:
                return self._describe_child(dir_fd, dir_prefix, host)
            except FileNotFoundError:
                continue
        return None

    def _describe_child(self, dir_fd: int, dir_prefix: str, host: str) -> HostEntry:
        st = os.stat(host, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise _Indirect
        return self._describe(host, dir_prefix + host, st)

    def _spelling(self, dir_fd: int, name: str, *, fresh: bool) -> tuple[str | None, bool]:
        """(host name matching ``name`` case-insensitively in ``dir_fd``, whether just listed).

        The first match in sorted order wins. Each directory's table is
        remembered under its identity and stat stamp, so a change by the kernel
        or the host (a new mtime or ctime) is seen; ``fresh`` lists again
        whatever the memo says.
        """
        st = os.fstat(dir_fd)
        key = (st.st_dev, st.st_ino)
        stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_nlink)
        listings = self._listings
        known = listings.get(key)
        listed = fresh or known is None or known.stamp != stamp
        if listed:
            listed_at = time.time_ns()
            by_fold: dict[str, str] = {}
            for host in sorted(os.listdir(dir_fd)):
                by_fold.setdefault(fold(host), host)
            known = _Listing(stamp, by_fold)
            if listed_at - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS:
                if len(listings) >= _LISTING_MEMO_LIMIT:
                    listings.clear()
                listings[key] = known
            else:
                listings.pop(key, None)
        assert known is not None
        return known.by_fold.get(fold(name)), listed

    # -- files ------------------------------------------------------------------------------------

    def _verify_fd(self, fd: int, *, directory: bool = False) -> None:
        """A plain file (or directory), and still inside the folder now that it is open.

        Kept after the direct walk too: a directory a host process moves out of
        the folder while a path is being walked would otherwise carry the walk
        outside with it.
        """
        st = os.fstat(fd)
        ok = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
        if not ok:
            raise Refused(str(fd), "opened something that is not a plain file")
        if not directory and st.st_nlink > 1:
            raise Refused(str(fd), _HARD_LINK)
        try:
            where = os.readlink(f"{_PROC_FD}/{fd}")
        except OSError:
            return  # no procfs: the realpath check before opening is what we have
        if not self.contains(where):
            raise Refused(where, "descriptor points outside the mounted folder")

    def _verified(self, fd: int) -> int:
        """``fd`` once :meth:`_verify_fd` accepts it; closed (and the refusal raised) otherwise."""
        try:
            self._verify_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_child(self, found: Lookup, *, write: bool) -> int:
        """Open the existing regular file a :meth:`lookup` found."""
        entry = found.entry
        assert entry is not None
        if found.dir_fd < 0:
            return self.open_file(entry.real, write=write)
        flags = (os.O_RDWR if write else os.O_RDONLY) | _OPEN_FLAGS
        return self._verified(os.open(entry.name, flags, dir_fd=found.dir_fd))

    def create_child(self, found: Lookup, name: str) -> tuple[int, str]:
        """Create a new empty file in a :meth:`lookup`'s parent; returns (fd, path)."""
        if found.dir_fd < 0:
            return self.create_file(found.parent_real, name)
        if component_problem(name) is not None:
            raise Refused(name, "not a plain name in a resolved folder")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS
        fd = self._verified(os.open(name, flags, 0o644, dir_fd=found.dir_fd))
        return fd, os.path.join(found.parent_real, name)

    def make_child_directory(self, found: Lookup, name: str) -> str:
        """Make a new directory in a :meth:`lookup`'s parent; returns its path."""
        if found.dir_fd < 0:
            return self.make_directory(found.parent_real, name)
        if component_problem(name) is not None:
            raise Refused(name, "not a plain name in a resolved folder")
        os.mkdir(name, 0o755, dir_fd=found.dir_fd)
        return os.path.join(found.parent_real, name)

    def open_file(self, real: str, *, write: bool) -> int:
        """Open an existing regular file that :meth:`locate` returned."""
        return self._verified(os.open(real, (os.O_RDWR if write else os.O_RDONLY) | _OPEN_FLAGS))

    def create_file(self, parent_real: str, name: str) -> tuple[int, str]:
        """Create a new empty file (never through an existing name or link); returns (fd, path)."""
        self._check_new_name(parent_real, name)
        path = os.path.join(parent_real, name)
        fd = self._verified(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644))
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

    def list_directory(self, dir_fd: int) -> list[HostEntry]:
        """Visible entries of a held directory, sorted by folded name then exact name.

        The directory is read through its descriptor (never by path), after
        checking it is still inside the folder. Hidden from the guest: names it
        could not spell (see :func:`~x360k.vfs.guest_path.component_problem`),
        links that resolve outside the folder (their targets are never looked
        at), and anything that is not a regular file or a directory.
        """
        here = where(dir_fd)
        if here is not None and not self.contains(here):
            raise Refused(here, "directory moved out of the folder since it was opened")
        out: list[HostEntry] = []
        with os.scandir(dir_fd) as it:
            for de in it:
                if component_problem(de.name) is not None:
                    continue
                try:
                    if de.is_symlink():
                        if here is None:
                            continue  # no procfs: no safe place to resolve it from
                        entry = self._entry(de.name, self._follow(os.path.join(here, de.name)))
                    else:
                        st = de.stat(follow_symlinks=False)
                        entry = self._describe(de.name, os.path.join(here or "", de.name), st)
                except (Refused, FileNotFoundError):
                    continue
                if entry is not None:
                    out.append(entry)
        out.sort(key=lambda e: (fold(e.name), e.name))
        return out
