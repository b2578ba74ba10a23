"""Object-directory exports: NtCreateDirectoryObject, NtOpenDirectoryObject,
NtQueryDirectoryObject, NtMakeTemporaryObject and ObMakeTemporaryObject (the
console's object namespace).

Canary has no object namespace (quirk ``flat_object_names``) and does not
implement these: they then leave r3 holding their first argument, as its
unimplemented exports do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.common import (
    finish_create,
    lookup_typed,
    open_handle,
    require,
    start_named_create,
    write_u32,
)
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.object_namespace import Placement, object_namespace
from x360k.objects.directory import Directory
from x360k.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_ENTRIES,
    STATUS_SUCCESS,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("object_directory")

#: OBJECT_DIRECTORY_INFORMATION: an OBJECT_STRING (u16 Length, u16 MaximumLength,
#: u32 Buffer) and a u32 type tag; the name bytes follow the record.
DIRECTORY_INFORMATION_SIZE: Final = 12


def type_tag(type_name: str) -> int:
    """The u32 an entry's type reads as: the type's first four letters ('Even', 'Dire')."""
    raw = type_name.encode("ascii")[:4].ljust(4, b" ")
    return int.from_bytes(raw, "big")


@GROUP.export(
    "NtCreateDirectoryObject",
    0xD0,
    Param("handle", K.OUT_HANDLE),
    Param("object_attributes", K.ATTRS, optional=True),
)
def nt_create_directory_object(k: KernelState, t: Thread, handle_ptr: int, attrs: int) -> int:
    """Create a directory (or, with OBJ_OPENIF, open the existing one of that path)."""
    if object_namespace(k) is None:
        return handle_ptr
    placed = start_named_create(k, t, handle_ptr, attrs, Directory)
    if isinstance(placed, int):
        return placed
    path = b""
    if isinstance(placed, Placement):
        ns = object_namespace(k)
        assert ns is not None
        path = ns.path_of(placed)
    finish_create(k, Directory(path), placed, handle_ptr)
    return STATUS_SUCCESS


@GROUP.export(
    "NtOpenDirectoryObject",
    0xDE,
    Param("handle", K.OUT_HANDLE),
    Param("object_attributes", K.ATTRS),
)
def nt_open_directory_object(k: KernelState, t: Thread, handle_ptr: int, attrs: int) -> int:
    """A new handle on a directory of the namespace (STATUS_OBJECT_TYPE_MISMATCH for others)."""
    ns = object_namespace(k)
    if ns is None:
        return handle_ptr
    require(k, handle_ptr)
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    mem = k.memory
    found = ns.lookup(t, mem.read_u32(attrs), mem.read_object_name(attrs), Directory.TYPE)
    if isinstance(found, int):
        return found
    write_u32(k, handle_ptr, open_handle(k, found))
    return STATUS_SUCCESS


@GROUP.export(
    "NtQueryDirectoryObject",
    0xE5,
    Param("handle", K.HANDLE),
    Param("buffer", K.BUFFER),
    Param("length", K.U32),
    Param("restart_scan", K.BOOL),
    Param("context", K.OUT_U32),
    Param("return_length", K.OUT_U32, optional=True),
)
def nt_query_directory_object(
    k: KernelState,
    t: Thread,
    handle: int,
    buffer: int,
    length: int,
    restart: int,
    context_ptr: int,
    length_ptr: int,
) -> int:
    """One entry per call, from *Context (0 with RestartScan); STATUS_NO_MORE_ENTRIES at the end.

    A buffer too small for the entry returns STATUS_BUFFER_TOO_SMALL with the
    size needed in *ReturnLength and the context left where it was.
    """
    ns = object_namespace(k)
    if ns is None:
        return handle
    require(k, context_ptr)
    require(k, length_ptr)
    directory = lookup_typed(k, t, handle, Directory)
    if isinstance(directory, int):
        return directory
    mem = k.memory
    index = 0 if restart else mem.read_u32(context_ptr)
    entries = ns.listing(directory)
    if index >= len(entries):
        return STATUS_NO_MORE_ENTRIES
    name, type_name = entries[index]
    needed = DIRECTORY_INFORMATION_SIZE + len(name)
    if length < needed:
        write_u32(k, length_ptr, needed)
        return STATUS_BUFFER_TOO_SMALL
    mem.require(buffer, needed)
    write_u32(k, length_ptr, needed)
    mem.write_u16(buffer, len(name))
    mem.write_u16(buffer + 2, len(name))
    mem.write_u32(buffer + 4, buffer + DIRECTORY_INFORMATION_SIZE)
    mem.write_u32(buffer + 8, type_tag(type_name))
    mem.write_bytes(buffer + DIRECTORY_INFORMATION_SIZE, name)
    mem.write_u32(context_ptr, index + 1)
    return STATUS_SUCCESS


@GROUP.export("NtMakeTemporaryObject", 0xDD, Param("handle", K.HANDLE))
def nt_make_temporary_object(k: KernelState, t: Thread, handle: int) -> int:
    """End an object's OBJ_PERMANENT: its name now goes with its last handle."""
    ns = object_namespace(k)
    if ns is None or k.quirks.obj_permanent_ignored:
        return handle
    obj = k.table.lookup(handle, t)
    if obj is None:
        return STATUS_INVALID_HANDLE
    ns.make_temporary(obj)
    return STATUS_SUCCESS


@GROUP.export("ObMakeTemporaryObject", 0x10C, Param("object", K.PTR), returns=Returns.VOID)
def ob_make_temporary_object(k: KernelState, t: Thread, ptr: int) -> int:
    """NtMakeTemporaryObject through an object pointer (no status)."""
    ns = object_namespace(k)
    if ns is None or k.quirks.obj_permanent_ignored:
        return ptr
    from x360k.exports.ob import object_from_pointer

    obj = object_from_pointer(k, ptr)
    if obj is not None:
        ns.make_temporary(obj)
    return 0
