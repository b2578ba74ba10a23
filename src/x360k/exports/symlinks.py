"""Symbolic links of the file namespace.

NtOpenSymbolicLinkObject and NtQuerySymbolicLinkObject give and read link objects;
ObCreateSymbolicLink and ObDeleteSymbolicLink only edit the namespace (no object, no handle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.exports.common import lookup_typed, require, write_u32
from x360k.exports.file_common import strip_raw_prefix
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.object_namespace import object_namespace
from x360k.objects.symlink import SymbolicLink
from x360k.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)
from x360k.vfs.guest_path import decode, name_is_valid
from x360k.vfs.mount import namespace_of

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("symlinks")


@GROUP.export(
    "NtOpenSymbolicLinkObject",
    0xE0,
    Param("handle", K.OUT_HANDLE),
    Param("object_attributes", K.ATTRS),
)
def nt_open_symbolic_link_object(k: KernelState, t: Thread, handle_ptr: int, attrs: int) -> int:
    """A handle on a link of the file namespace (canary: ``\\??\\`` dropped, root ignored;
    console: the path resolved through the object namespace)."""
    require(k, handle_ptr)
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    ns = None if k.quirks.symlink_open_flat else object_namespace(k)
    if ns is not None:
        mem = k.memory
        found = ns.lookup(t, mem.read_u32(attrs), mem.read_object_name(attrs), SymbolicLink.TYPE)
        if isinstance(found, int):
            return found
        write_u32(k, handle_ptr, k.table.add_handle(found))
        return STATUS_SUCCESS
    raw = strip_raw_prefix(k.memory.read_object_name(attrs))
    if not name_is_valid(raw):
        return STATUS_OBJECT_NAME_INVALID
    name = decode(raw)
    target = namespace_of(k).link_target(name)
    if target is None:
        return STATUS_NO_SUCH_FILE
    write_u32(k, handle_ptr, k.table.add_handle(SymbolicLink(name, target)))
    return STATUS_SUCCESS


@GROUP.export(
    "NtQuerySymbolicLinkObject",
    0xEC,
    Param("handle", K.HANDLE),
    Param("target", K.ANSI_STRING),
)
def nt_query_symbolic_link_object(k: KernelState, t: Thread, handle: int, string_ptr: int) -> int:
    """Copy the link's target into an ANSI_STRING the caller provides."""
    require(k, string_ptr, 8)
    link = lookup_typed(k, t, handle, SymbolicLink)
    if isinstance(link, int):
        if link == STATUS_INVALID_HANDLE and k.quirks.query_symlink_bad_handle_no_such_file:
            return STATUS_NO_SUCH_FILE
        return link
    mem = k.memory
    data = link.target.encode("ascii")
    maximum = mem.read_u16(string_ptr + 2)
    if len(data) > maximum and not k.quirks.query_symlink_truncates_silently:
        mem.write_u16(string_ptr, len(data))
        return STATUS_BUFFER_TOO_SMALL
    data = data[:maximum]
    if data:
        mem.require(mem.read_u32(string_ptr + 4), len(data))
        mem.write_bytes(mem.read_u32(string_ptr + 4), data)
    mem.write_u16(string_ptr, len(data))
    return STATUS_SUCCESS


def _link_name(k: KernelState, ptr: int, *, strip: bool = False) -> str | None:
    raw = k.memory.read_ansi_string(ptr) if ptr else b""
    if strip:
        raw = strip_raw_prefix(raw)
    return decode(raw) if raw and name_is_valid(raw) else None


@GROUP.export(
    "ObCreateSymbolicLink",
    0x103,
    Param("link_name", K.ANSI_STRING),
    Param("target", K.ANSI_STRING),
)
def ob_create_symbolic_link(k: KernelState, t: Thread, link_ptr: int, target_ptr: int) -> int:
    """Register (or replace) a link in the file namespace; no object, no handle."""
    name = _link_name(k, link_ptr, strip=True)
    target = _link_name(k, target_ptr)
    if name is None or target is None:
        return STATUS_UNSUCCESSFUL
    ok = namespace_of(k).add_link(name, target)
    return STATUS_SUCCESS if ok else STATUS_UNSUCCESSFUL


@GROUP.export("ObDeleteSymbolicLink", 0x104, Param("link_name", K.ANSI_STRING))
def ob_delete_symbolic_link(k: KernelState, t: Thread, link_ptr: int) -> int:
    """Remove a link by its exact name (a ``\\??\\`` prefix is not dropped here)."""
    name = _link_name(k, link_ptr)
    if name is None or not namespace_of(k).remove_link(name):
        return STATUS_UNSUCCESSFUL
    return STATUS_SUCCESS
