"""What the file exports share: guest paths, IO_STATUS_BLOCKs, request completion, file records.

All I/O is synchronous, as in canary: by the time a request returns, the data
is in guest memory, the IO_STATUS_BLOCK is filled, completion ports have their
packet, the event is set and the APC is queued. Paths go through
:mod:`x360k.vfs`; nothing outside the mounted folders is ever touched.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Final

from x360k.exports.common import lookup_typed
from x360k.memory import GuestMemory, GuestMemoryError
from x360k.objects.event import Event
from x360k.objects.file import File
from x360k.objects.io_completion import Packet
from x360k.objects.thread import UserApc
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_INVALID,
)
from x360k.vfs import held
from x360k.vfs.device import OpenNode
from x360k.vfs.guest_path import SEPARATOR, Refused, decode, name_is_valid, split_relative
from x360k.vfs.mount import namespace_of
from x360k.vfs.namespace import Resolved
from x360k.vfs.sandbox import HostEntry

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

#: OBJECT_ATTRIBUTES.RootDirectory value meaning "the DOS-devices directory" (no root).
DOS_DEVICES_ROOT: Final = 0xFFFFFFFD
#: Where a guest FILETIME (100 ns since 1601) has the Unix epoch.
FILETIME_UNIX_EPOCH: Final = 116444736000000000
FILE_ATTRIBUTE_DIRECTORY: Final = 0x10
FILE_ATTRIBUTE_NORMAL: Final = 0x80
#: OBJECT_ATTRIBUTES' first two words (RootDirectory, ObjectName*) and an ANSI_STRING header.
_ROOT_AND_NAME: Final = struct.Struct(">II")
_ANSI_HEADER: Final = struct.Struct(">HHI")
_IOSB: Final = struct.Struct(">II")


def write_iosb(k: KernelState, ptr: int, status: int, information: int | None) -> None:
    """Fill a non-null IO_STATUS_BLOCK; ``information`` None leaves its second word as it was."""
    if not ptr:
        return
    mem = k.memory
    if information is not None:
        try:
            buf, off = mem.span(ptr, 8)
        except GuestMemoryError:
            pass  # split across mappings, or partly unmapped: word by word, as far as it goes
        else:
            _IOSB.pack_into(buf, off, status & 0xFFFFFFFF, information & 0xFFFFFFFF)
            return
    mem.write_u32(ptr, status)
    if information is not None:
        mem.write_u32(ptr + 4, information)


def _filetime(ns: int) -> int:
    return FILETIME_UNIX_EPOCH + ns // 100


def node_entry(node: OpenNode) -> HostEntry:
    """Fresh size and times of an open file or directory, through its held descriptor.

    Refused (as a missing path) when the entry has been moved out of the mount.
    """
    st = held.check(node.device.sandbox, node.held)
    size = 0 if node.is_dir else st.st_size
    name = node.names[-1] if node.names else ""
    return HostEntry(
        name, node.real, node.is_dir, size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
    )


def attributes_of(entry: HostEntry) -> int:
    return FILE_ATTRIBUTE_DIRECTORY if entry.is_dir else FILE_ATTRIBUTE_NORMAL


def write_times(k: KernelState, ptr: int, entry: HostEntry) -> None:
    """Creation, last access, last write, change: the host has no portable birth time."""
    mem = k.memory
    mem.write_u64(ptr, _filetime(entry.mtime_ns))
    mem.write_u64(ptr + 8, _filetime(entry.atime_ns))
    mem.write_u64(ptr + 16, _filetime(entry.mtime_ns))
    mem.write_u64(ptr + 24, _filetime(entry.ctime_ns))


def write_network_open(k: KernelState, ptr: int, entry: HostEntry, allocation: int) -> None:
    """FILE_NETWORK_OPEN_INFORMATION: four times, allocation size, end of file, attributes."""
    k.memory.fill(ptr, 56)
    write_times(k, ptr, entry)
    k.memory.write_u64(ptr + 32, allocation)
    k.memory.write_u64(ptr + 40, entry.size)
    k.memory.write_u32(ptr + 48, attributes_of(entry))


def strip_raw_prefix(raw: bytes) -> bytes:
    """Drop ``\\??\\`` before the character check (its ``?`` would fail it)."""
    return raw[4:] if raw.startswith(b"\\??\\") else raw


def _root_and_name(mem: GuestMemory, attrs: int) -> tuple[int, bytes]:
    """An OBJECT_ATTRIBUTES' RootDirectory and ObjectName bytes, one lookup per structure.

    A structure split across two mappings is read field by field, as the
    general accessors would.
    """
    try:
        buf, off = mem.span(attrs, 8)
        root, name_ptr = _ROOT_AND_NAME.unpack_from(buf, off)
        if not name_ptr:
            return root, b""
        buf, off = mem.span(name_ptr, 8)
        length, _, text = _ANSI_HEADER.unpack_from(buf, off)
    except GuestMemoryError:
        raw = mem.read_object_name(attrs)
        return mem.read_u32(attrs), raw
    return root, (mem.read_bytes(text, length) if length and text else b"")


def resolve_attributes(k: KernelState, t: Thread, attrs: int) -> tuple[str, Resolved | None] | int:
    """(guest path, where it leads or None when refused) for an OBJECT_ATTRIBUTES, or a status.

    The guest path is the name joined to its root directory's path (what the
    trace shows). Where it leads is resolved from the *root directory as it
    is now* (see :func:`held_names`), never from that directory's path as it
    was spelt at its open. A null OBJECT_ATTRIBUTES is STATUS_INVALID_PARAMETER,
    as every path-taking call answers.
    """
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    root, raw = _root_and_name(k.memory, attrs)
    raw = strip_raw_prefix(raw)
    if not name_is_valid(raw):
        return STATUS_OBJECT_NAME_INVALID
    path = decode(raw)
    if root in (0, DOS_DEVICES_ROOT):
        try:
            return path, namespace_of(k).resolve(path)
        except Refused:
            return path, None
    base = lookup_typed(k, t, root, File)
    if isinstance(base, int):
        return base  # canary crashes here (divergence create_file_invalid_root_handle)
    joined = base.path.rstrip(SEPARATOR) + SEPARATOR + path if path else base.path
    try:
        names = held_names(base.node) + split_relative(joined, SEPARATOR + path)
    except Refused:
        return joined, None
    return joined, Resolved(base.node.device, names)


def held_names(node: OpenNode, *, parent: bool = False) -> tuple[str, ...]:
    """The host names leading from the device root to where an open entry (or its parent) is *now*.

    Read from the held descriptor: a relative open through a directory handle
    starts from the directory that handle opened, and a rename to a bare name
    stays in the directory the file was opened in, even if either has been
    renamed or a link has been swapped in under its old name since. Refused
    when it has left the mount or been removed.
    """
    sb = node.device.sandbox
    held.check(sb, node.held, placed=parent)
    at = held.where(node.held.parent_fd if parent else node.fd)
    if at is None:
        return node.names[:-1] if parent else node.names  # no procfs: the names it was opened by
    if not sb.contains(at):
        raise Refused(at, "moved outside the mounted folder")
    rest = at[len(sb.root) :].strip(os.sep)
    return tuple(rest.split(os.sep)) if rest else ()


def complete_request(
    k: KernelState,
    t: Thread,
    f: File,
    event: Event | None,
    routine: int,
    context: int,
    iosb: int,
    status: int,
    information: int,
    *,
    signal_file: bool,
) -> None:
    """Everything a finished request does: IOSB, port packets, APC, event, file event."""
    write_iosb(k, iosb, status, information)
    for port, key in f.completions:
        port.post(Packet(key, context, status, information))
        k.signal(port)
    routine &= ~1
    if routine and (context or not k.quirks.io_apc_requires_context):
        k.queue_apc(t, UserApc(routine, context, iosb, 0))
    if event is not None:
        event.state = True
        k.signal(event)
    if signal_file:
        f.io_signalled = True
        k.signal(f)


def lookup_file_and_event(
    k: KernelState, t: Thread, handle: int, event_handle: int, iosb: int
) -> tuple[File, Event | None] | int:
    """The file and optional event of a request, or the status to return.

    Only a bad handle is also written to the IO_STATUS_BLOCK.
    """
    f = lookup_typed(k, t, handle, File)
    event: Event | int | None = None
    if event_handle:
        event = lookup_typed(k, t, event_handle, Event)
    for found in (f, event):
        if isinstance(found, int):
            if found == STATUS_INVALID_HANDLE:
                write_iosb(k, iosb, found, 0)
            return found
    assert isinstance(f, File) and not isinstance(event, int)
    return f, event
