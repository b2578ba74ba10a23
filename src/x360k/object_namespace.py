"""The console's object namespace: directories, paths, root handles and permanence.

Canary keeps object names in one flat table (quirk ``flat_object_names``).
The console kernel, like the original Xbox kernel it grew from, has a tree:

* ``\\`` (the root) holding ``\\??`` (the DOS devices: drive links such as
  ``game:``), ``\\Device`` and ``\\Win32NamedObjects``, where the title
  library puts every named event, semaphore, mutant and timer. The 360 has no
  ``\\BaseNamedObjects``: titles name objects relative to the pseudo root
  handle 0xFFFFFFFC (``ObWin32NamedObjectsDirectory()``), and 0xFFFFFFFD
  (``ObDosDevicesDirectory()``) is the DOS-devices root.
* A name with no root must be absolute (start with ``\\``); one with a root
  must be relative. Paths are split at ``\\``; two in a row, or an empty
  last element, are refused.

The statuses are the Xbox object manager's (``obcreate.c`` / ``obdir.c``),
which differ from desktop NT in one respect: a malformed path is
STATUS_OBJECT_NAME_INVALID where NT says STATUS_OBJECT_PATH_SYNTAX_BAD.

A named object is *attached* to its directory: the directory holds a
reference on it, and it one on the directory. It is detached when its last
handle closes, unless it was created with OBJ_PERMANENT;
NtMakeTemporaryObject clears that again. The links of ``\\??``
are the file system's (:mod:`x360k.vfs.namespace`); lookups and listings of
``\\??`` see them, and they are edited only through ObCreateSymbolicLink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

from x360k.objects.base import KernelObject
from x360k.objects.directory import Directory
from x360k.objects.symlink import SymbolicLink
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH,
)
from x360k.vfs.mount import namespace_of

if TYPE_CHECKING:
    from x360k.handles import ObjectTable
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

EXT_KEY: Final = "object_namespace"
#: ObWin32NamedObjectsDirectory(): the root titles name their objects under.
NAMED_OBJECTS_ROOT: Final = 0xFFFFFFFC
#: ObDosDevicesDirectory().
DOS_DEVICES_ROOT: Final = 0xFFFFFFFD
OBJ_PERMANENT: Final = 0x10
OBJ_OPENIF: Final = 0x80
SEPARATOR: Final = b"\\"


class Placement(NamedTuple):
    """Where a new named object goes: the directory, its element name, and permanence."""

    directory: Directory
    element: bytes
    permanent: bool


def dissect(path: bytes) -> tuple[bytes, bytes]:
    """The first element of ``path`` and the rest (one leading separator skipped)."""
    if path.startswith(SEPARATOR):
        path = path[1:]
    element, _, rest = path.partition(SEPARATOR)
    return element, rest


class ObjectNamespace:
    """The directory tree of one kernel and the objects attached to it."""

    def __init__(self, kernel: KernelState) -> None:
        self.kernel = kernel
        #: object -> (its directory, its element name as created)
        self.attached: dict[KernelObject, tuple[Directory, bytes]] = {}
        self.permanent: set[KernelObject] = set()
        self.root = Directory(SEPARATOR)
        kernel.table.retain_object(self.root)
        self.dos_devices = self._permanent_directory(b"??")
        self.devices = self._permanent_directory(b"Device")
        self.named_objects = self._permanent_directory(b"Win32NamedObjects")

    def _permanent_directory(self, element: bytes) -> Directory:
        directory = Directory(SEPARATOR + element)
        # The kernel keeps its own pointer (the pseudo roots reach it), so the directory
        # outlives even an NtMakeTemporaryObject that takes it out of the root.
        self.kernel.table.retain_object(directory)
        self.attach(directory, Placement(self.root, element, permanent=True))
        return directory

    # -- finding ------------------------------------------------------------------------------

    def find(self, directory: Directory, element: bytes) -> KernelObject | None:
        """An entry of ``directory``; in ``\\??`` also the file system's drive links."""
        found = directory.find(element)
        if found is None and directory is self.dos_devices and element:
            name = element.decode("latin-1")
            target = namespace_of(self.kernel).link_target(name)
            if target is not None:
                return SymbolicLink(name, target)
        return found

    def _root(self, t: Thread, handle: int) -> KernelObject | int:
        if handle == DOS_DEVICES_ROOT:
            return self.dos_devices
        if handle == NAMED_OBJECTS_ROOT:
            return self.named_objects
        obj = self.kernel.table.lookup(handle, t)
        return STATUS_INVALID_HANDLE if obj is None else obj

    def lookup(
        self, t: Thread, root: int, name: bytes, want_type: str | None
    ) -> KernelObject | int:
        """The object a (root, name) pair names, or the status opening it fails with.

        The Xbox's ObpReferenceObjectByName: a root that is not a directory
        cannot be walked into (STATUS_OBJECT_PATH_NOT_FOUND), a missing last
        element is STATUS_OBJECT_NAME_NOT_FOUND and a missing directory on
        the way STATUS_OBJECT_PATH_NOT_FOUND.
        """
        current: KernelObject
        if root:
            start = self._root(t, root)
            if isinstance(start, int):
                return start
            if name.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
            current, remaining = start, name
        else:
            if not name.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
            current, remaining = self.root, (b"" if name == SEPARATOR else name)
        while remaining:
            if not isinstance(current, Directory):
                return STATUS_OBJECT_PATH_NOT_FOUND
            element, remaining = dissect(remaining)
            if remaining.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
            found = self.find(current, element)
            if found is None:
                return STATUS_OBJECT_PATH_NOT_FOUND if remaining else STATUS_OBJECT_NAME_NOT_FOUND
            current = found
        if want_type is not None and want_type != current.TYPE:
            return STATUS_OBJECT_TYPE_MISMATCH
        return current

    def place(
        self, t: Thread, root: int, name: bytes, flags: int, want_type: str
    ) -> Placement | KernelObject | int:
        """Where a create of ``name`` puts its object: a placement, the existing object to
        open instead (OBJ_OPENIF on a name of the same type), or the failure status.

        The Xbox's ObCreateObject / ObInsertObject checks, in their order.
        """
        quirks = self.kernel.quirks
        element, rest = b"", name
        while rest:
            element, rest = dissect(rest)
            if rest.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
        if not element:
            return STATUS_OBJECT_NAME_INVALID
        directory: KernelObject
        if root:
            if name.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
            start = self._root(t, root)
            if isinstance(start, int):
                return start
            if not isinstance(start, Directory):
                return STATUS_OBJECT_TYPE_MISMATCH
            directory = start
        else:
            if not name.startswith(SEPARATOR):
                return STATUS_OBJECT_NAME_INVALID
            directory = self.root
        remaining = name
        while True:
            assert isinstance(directory, Directory)
            element, remaining = dissect(remaining)
            found = self.find(directory, element)
            if found is None:
                if remaining:
                    return STATUS_OBJECT_PATH_NOT_FOUND
                permanent = bool(flags & OBJ_PERMANENT) and not quirks.obj_permanent_ignored
                return Placement(directory, element, permanent)
            if not remaining:
                openif = bool(flags & OBJ_OPENIF) or quirks.named_create_ignores_openif
                if want_type != found.TYPE:
                    if quirks.name_type_clash_invalid_handle:
                        return STATUS_INVALID_HANDLE
                    return STATUS_OBJECT_TYPE_MISMATCH if openif else STATUS_OBJECT_NAME_COLLISION
                return found if openif else STATUS_OBJECT_NAME_COLLISION
            if not isinstance(found, Directory):
                return STATUS_OBJECT_PATH_NOT_FOUND
            directory = found

    # -- attaching and detaching --------------------------------------------------------------

    @property
    def table(self) -> ObjectTable:
        return self.kernel.table

    def attach(self, obj: KernelObject, placement: Placement) -> None:
        """Enter ``obj`` into its directory, which takes a reference on it."""
        directory, element, permanent = placement
        # The full path, for reports (wedge reports print object names); the flat name
        # table itself stays empty while the namespace is in use.
        obj.name = self.path_of(placement)
        directory.entries[element.lower()] = (element, obj)
        self.attached[obj] = (directory, element)
        if permanent:
            self.permanent.add(obj)
        # As the Xbox's ObInsertObject: one reference on the object and one on its directory,
        # both given back when it is detached.
        self.table.retain_object(obj)
        self.table.retain_object(directory)

    def detach(self, obj: KernelObject) -> None:
        directory, element = self.attached.pop(obj)
        directory.entries.pop(element.lower(), None)
        self.permanent.discard(obj)
        self.table.release_object(obj)
        self.table.release_object(directory)

    def last_handle_closed(self, obj: KernelObject) -> None:
        """A temporary named object leaves its directory with its last handle."""
        if obj in self.attached and obj not in self.permanent:
            self.detach(obj)

    def make_temporary(self, obj: KernelObject) -> None:
        """NtMakeTemporaryObject: the object goes with its last handle (now, if it has none)."""
        self.permanent.discard(obj)
        if not obj.handles:
            self.last_handle_closed(obj)

    def path_of(self, placement: Placement) -> bytes:
        parent = placement.directory.path
        return (parent if parent != SEPARATOR else b"") + SEPARATOR + placement.element

    def listing(self, directory: Directory) -> list[tuple[bytes, str]]:
        """(name, type name) of every entry, in creation order; ``\\??`` adds its drive links."""
        entries = [(name, obj.TYPE) for name, obj in directory.entries.values()]
        if directory is self.dos_devices:
            seen = {name.lower() for name, _ in entries}
            for name, _target in namespace_of(self.kernel).links.values():
                raw = name.encode("latin-1")
                if raw.lower() not in seen:
                    entries.append((raw, SymbolicLink.TYPE))
        return entries


def object_namespace(k: KernelState) -> ObjectNamespace | None:
    """The kernel's object namespace, made on first use; None under ``flat_object_names``."""
    if k.quirks.flat_object_names:
        return None
    ns = k.ext.get(EXT_KEY)
    if ns is None:
        ns = ObjectNamespace(k)
        k.ext[EXT_KEY] = ns
        k.ext.setdefault("hook:last_handle_closed", []).append(ns.last_handle_closed)
    assert isinstance(ns, ObjectNamespace)
    return ns
