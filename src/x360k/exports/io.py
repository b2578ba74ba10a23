"""File, directory, symbolic-link and I/O-completion exports (xboxkrnl's Io and Nt*File).

All I/O is synchronous, as in canary: by the time NtReadFile returns, the data
is in guest memory, the IO_STATUS_BLOCK is filled, completion ports have their
packet, the event is set and the APC is queued. What differs between profiles
is what the call *returns* for handles not opened for synchronous I/O (quirk
``io_always_pending_async``) and the other rows of the io area of the quirk
table. Paths go through :mod:`x360k.vfs`; nothing outside the mounted folders
is ever touched.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import xxhash

from x360k.exports.common import lookup_typed, require, write_u32
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.event import Event
from x360k.objects.file import File, Listing
from x360k.objects.io_completion import CANARY_COUNT_LIMIT, IoCompletion, Packet
from x360k.objects.symlink import SymbolicLink
from x360k.objects.thread import UserApc
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_END_OF_FILE,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
    STATUS_WAIT_0,
)
from x360k.vfs.device import (
    FILE_DOES_NOT_EXIST,
    FILE_OPEN,
    FILE_SYNCHRONOUS_IO_ALERT,
    FILE_SYNCHRONOUS_IO_NONALERT,
    OpenNode,
    OpenOutcome,
    status_for,
)
from x360k.vfs.guest_path import (
    SEPARATOR,
    Refused,
    decode,
    fold,
    name_is_valid,
    strip_dos_prefix,
)
from x360k.vfs.mount import namespace_of
from x360k.vfs.pattern import compile_pattern
from x360k.vfs.sandbox import HostEntry

if TYPE_CHECKING:
    from x360k.kernel import Kernel
    from x360k.objects.thread import Thread

GROUP = ExportGroup("io")

#: OBJECT_ATTRIBUTES.RootDirectory value meaning "the DOS-devices directory" (no root).
DOS_DEVICES_ROOT: Final = 0xFFFFFFFD
#: Where a guest FILETIME (100 ns since 1601) has the Unix epoch.
FILETIME_UNIX_EPOCH: Final = 116444736000000000
FILE_ATTRIBUTE_DIRECTORY: Final = 0x10
FILE_ATTRIBUTE_NORMAL: Final = 0x80
FILE_DEVICE_CD_ROM: Final = 0x02
FILE_DEVICE_DISK: Final = 0x07
FILE_READ_ONLY_DEVICE: Final = 0x02
#: NtRemoveIoCompletion's null timeout under canary, in milliseconds (about 31.6 days).
CANARY_NULL_REMOVE_TIMEOUT_MS: Final = 0xA29C779B
#: FILE_DIRECTORY_INFORMATION without its name.
DIRECTORY_ENTRY_HEADER: Final = 0x40
DIRECTORY_MIN_LENGTH: Final = 72

# Information classes.
BASIC, STANDARD, INTERNAL, RENAME, LINK, NAME, DISPOSITION = 4, 5, 6, 10, 11, 9, 13
POSITION, MODE, ALIGNMENT, ALLOCATION, END_OF_FILE = 14, 16, 17, 19, 20
MOUNT_PARTITION, MOUNT_PARTITIONS, SECTOR, XCTD_COMPRESSION = 23, 24, 26, 27
COMPLETION, IO_PRIORITY, NETWORK_OPEN = 30, 32, 34
#: Query classes canary knows -> minimum buffer length (Standard only without the quirk).
QUERY_MIN: Final = {
    BASIC: 40,
    INTERNAL: 8,
    NAME: 8,
    POSITION: 8,
    MODE: 4,
    ALIGNMENT: 4,
    ALLOCATION: 8,
    SECTOR: 4,
    XCTD_COMPRESSION: 4,
    IO_PRIORITY: 4,
    NETWORK_OPEN: 56,
}
STANDARD_MIN: Final = 24
#: Known query classes canary answers with STATUS_INVALID_PARAMETER.
QUERY_UNSUPPORTED: Final = frozenset({NAME, MODE, ALLOCATION, XCTD_COMPRESSION, IO_PRIORITY})
SET_MIN: Final = {
    BASIC: 40,
    RENAME: 16,
    LINK: 16,
    DISPOSITION: 1,
    POSITION: 8,
    MODE: 4,
    ALLOCATION: 8,
    END_OF_FILE: 8,
    MOUNT_PARTITION: 8,
    MOUNT_PARTITIONS: 152,
    COMPLETION: 8,
    IO_PRIORITY: 4,
}
#: Set classes canary accepts and ignores (quirk unsupported_set_information_succeeds).
SET_UNSUPPORTED: Final = frozenset({LINK, MODE, MOUNT_PARTITION, MOUNT_PARTITIONS, IO_PRIORITY})
# Volume classes -> minimum length.
FS_VOLUME, FS_SIZE, FS_DEVICE, FS_ATTRIBUTE = 1, 3, 4, 5
VOLUME_MIN: Final = {FS_VOLUME: 18, FS_SIZE: 24, FS_DEVICE: 8, FS_ATTRIBUTE: 12}


# -- small helpers ---------------------------------------------------------------------------


def _iosb(k: Kernel, ptr: int, status: int, information: int | None) -> None:
    if ptr:
        k.memory.write_u32(ptr, status)
        if information is not None:
            k.memory.write_u32(ptr + 4, information)


def _filetime(ns: int) -> int:
    return FILETIME_UNIX_EPOCH + ns // 100


def _node_entry(node: OpenNode) -> HostEntry:
    """Fresh size and times of an open file (through its descriptor) or directory."""
    st = os.fstat(node.fd) if node.fd >= 0 else os.stat(node.real)
    size = 0 if node.is_dir else st.st_size
    name = node.names[-1] if node.names else ""
    return HostEntry(
        name, node.real, node.is_dir, size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
    )


def _attributes(entry: HostEntry) -> int:
    return FILE_ATTRIBUTE_DIRECTORY if entry.is_dir else FILE_ATTRIBUTE_NORMAL


def _write_times(k: Kernel, ptr: int, entry: HostEntry) -> None:
    """Creation, last access, last write, change: the host has no portable birth time."""
    mem = k.memory
    mem.write_u64(ptr, _filetime(entry.mtime_ns))
    mem.write_u64(ptr + 8, _filetime(entry.atime_ns))
    mem.write_u64(ptr + 16, _filetime(entry.mtime_ns))
    mem.write_u64(ptr + 24, _filetime(entry.ctime_ns))


def _write_network_open(k: Kernel, ptr: int, entry: HostEntry, allocation: int) -> None:
    """FILE_NETWORK_OPEN_INFORMATION: four times, allocation size, end of file, attributes."""
    k.memory.fill(ptr, 56)
    _write_times(k, ptr, entry)
    k.memory.write_u64(ptr + 32, allocation)
    k.memory.write_u64(ptr + 40, entry.size)
    k.memory.write_u32(ptr + 48, _attributes(entry))


def _path_hash(path: str) -> int:
    return int(xxhash.xxh64_intdigest(fold(path).encode("ascii", "replace")))


def _strip_raw_prefix(raw: bytes) -> bytes:
    """Drop ``\\??\\`` before the character check (its ``?`` would fail it)."""
    return raw[4:] if raw.startswith(b"\\??\\") else raw


def _guest_path(k: Kernel, t: Thread, attrs: int) -> str | int:
    """The path an OBJECT_ATTRIBUTES names (joined to its root directory), or a status."""
    raw = _strip_raw_prefix(k.memory.read_object_name(attrs))
    if not name_is_valid(raw):
        return STATUS_OBJECT_NAME_INVALID
    path = decode(raw)
    root = k.memory.read_u32(attrs)
    if root not in (0, DOS_DEVICES_ROOT):
        base = lookup_typed(k, t, root, File)
        if isinstance(base, int):
            return base  # canary crashes here (divergence create_file_invalid_root_handle)
        path = base.path.rstrip(SEPARATOR) + SEPARATOR + path if path else base.path
    return path


# -- NtCreateFile / NtOpenFile -----------------------------------------------------------------


def _create(
    k: Kernel,
    t: Thread,
    handle_ptr: int,
    access: int,
    attrs: int,
    iosb: int,
    disposition: int,
    options: int,
) -> int:
    require(k, handle_ptr)
    require(k, iosb, 8)
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    path = _guest_path(k, t, attrs)
    if isinstance(path, int):
        return path
    try:
        where = namespace_of(k).resolve(path)
        outcome = where.device.open(where.names, disposition, options, access)
    except Refused:
        outcome = OpenOutcome(STATUS_NO_SUCH_FILE, FILE_DOES_NOT_EXIST)
    node = outcome.node
    if node is not None and not k.quirks.directory_option_not_checked:
        refused = node.device.check_directory_option(node, options)
        if refused != STATUS_SUCCESS:
            if node.fd >= 0:
                os.close(node.fd)
            outcome = OpenOutcome(refused, FILE_DOES_NOT_EXIST)
            node = None
    if node is None:
        if k.quirks.create_file_failure_writes_invalid:
            write_u32(k, handle_ptr, 0xFFFFFFFF)
        _iosb(k, iosb, outcome.status, None if outcome.action < 0 else outcome.action)
        return outcome.status
    synchronous = bool(options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT))
    f = File(node, path, synchronous)
    table = k.table
    f.release_port = table.release_object
    write_u32(k, handle_ptr, table.add_handle(f))
    _iosb(k, iosb, STATUS_SUCCESS, outcome.action)
    return STATUS_SUCCESS


@GROUP.export(
    "NtCreateFile",
    0xD2,
    Param("handle", K.OUT_HANDLE),
    Param("desired_access", K.U32),
    Param("object_attributes", K.ATTRS),
    Param("io_status_block", K.IOSB, optional=True),
    Param("allocation_size", K.LARGE_INTEGER, optional=True),
    Param("file_attributes", K.U32),
    Param("share_access", K.U32),
    Param("create_disposition", K.U32),
    Param("create_options", K.U32),
)
def nt_create_file(
    k: Kernel,
    t: Thread,
    handle_ptr: int,
    access: int,
    attrs: int,
    iosb: int,
    allocation_ptr: int,
    file_attributes: int,
    share: int,
    disposition: int,
    options: int,
) -> int:
    """Open or create a file or directory; share mode, attributes and allocation size ignored."""
    return _create(k, t, handle_ptr, access, attrs, iosb, disposition, options)


@GROUP.export(
    "NtOpenFile",
    0xDF,
    Param("handle", K.OUT_HANDLE),
    Param("desired_access", K.U32),
    Param("object_attributes", K.ATTRS),
    Param("io_status_block", K.IOSB, optional=True),
    Param("open_options", K.U32),
)
def nt_open_file(
    k: Kernel, t: Thread, handle_ptr: int, access: int, attrs: int, iosb: int, options: int
) -> int:
    """NtCreateFile with disposition FILE_OPEN."""
    return _create(k, t, handle_ptr, access, attrs, iosb, FILE_OPEN, options)


# -- reads and writes ------------------------------------------------------------------------


def _complete(
    k: Kernel,
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
    _iosb(k, iosb, status, information)
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


def _lookup_file_and_event(
    k: Kernel, t: Thread, handle: int, event_handle: int, iosb: int
) -> tuple[File, Event | None] | int:
    f = lookup_typed(k, t, handle, File)
    event: Event | int | None = None
    if event_handle:
        event = lookup_typed(k, t, event_handle, Event)
    for found in (f, event):
        if isinstance(found, int):
            if found == STATUS_INVALID_HANDLE:
                _iosb(k, iosb, found, 0)
            return found
    assert isinstance(f, File) and not isinstance(event, int)
    return f, event


def _transfer(
    k: Kernel,
    t: Thread,
    write: bool,
    handle: int,
    event_handle: int,
    routine: int,
    context: int,
    iosb: int,
    buffer: int,
    length: int,
    offset_ptr: int,
) -> int:
    require(k, iosb, 8)
    found = _lookup_file_and_event(k, t, handle, event_handle, iosb)
    if isinstance(found, int):
        return found
    f, event = found
    offset = f.position
    if offset_ptr:
        given = k.memory.read_s64(offset_ptr)
        if given != -1:
            if given < 0:
                return STATUS_INVALID_PARAMETER
            offset = given
    if length:
        k.memory.require(buffer, length)  # a bad buffer: STATUS_ACCESS_VIOLATION, nothing done
    node = f.node
    moved = 0
    if node.is_dir:
        status = STATUS_FILE_IS_A_DIRECTORY
    elif not (node.writable if write else node.readable):
        status = STATUS_ACCESS_DENIED
    else:
        status = STATUS_SUCCESS
        try:
            if write:
                moved = os.pwrite(node.fd, k.memory.read_bytes(buffer, length), offset)
            else:
                data = os.pread(node.fd, length, offset)
                moved = len(data)
                k.memory.write_bytes(buffer, data)
                if length and not moved:
                    status = STATUS_END_OF_FILE
        except OSError as err:
            status = status_for(err)
        if status in (STATUS_SUCCESS, STATUS_END_OF_FILE):
            f.position = offset + moved
    t.return_fields = {"offset": offset, "length": moved}
    _complete(k, t, f, event, routine, context, iosb, status, moved, signal_file=True)
    pending = not f.synchronous and k.quirks.io_always_pending_async
    if pending and (write or status != STATUS_END_OF_FILE):
        return STATUS_PENDING
    return status


_TRANSFER_PARAMS: Final = (
    Param("file_handle", K.HANDLE),
    Param("event", K.HANDLE, optional=True),
    Param("apc_routine", K.ROUTINE, optional=True),
    Param("apc_context", K.CONTEXT),
    Param("io_status_block", K.IOSB),
    Param("buffer", K.BUFFER),
    Param("length", K.U32),
    Param("byte_offset", K.LARGE_INTEGER, optional=True),
)


@GROUP.export("NtReadFile", 0xF0, *_TRANSFER_PARAMS)
def nt_read_file(
    k: Kernel,
    t: Thread,
    handle: int,
    event: int,
    routine: int,
    context: int,
    iosb: int,
    buffer: int,
    length: int,
    offset_ptr: int,
) -> int:
    """Read at ByteOffset (null or -1: the file position), completing at once."""
    return _transfer(k, t, False, handle, event, routine, context, iosb, buffer, length, offset_ptr)


@GROUP.export("NtWriteFile", 0xFF, *_TRANSFER_PARAMS)
def nt_write_file(
    k: Kernel,
    t: Thread,
    handle: int,
    event: int,
    routine: int,
    context: int,
    iosb: int,
    buffer: int,
    length: int,
    offset_ptr: int,
) -> int:
    """Write at ByteOffset (null or -1: the file position), completing at once."""
    return _transfer(k, t, True, handle, event, routine, context, iosb, buffer, length, offset_ptr)


# -- information -----------------------------------------------------------------------------


@GROUP.export(
    "NtQueryInformationFile",
    0xE8,
    Param("file_handle", K.HANDLE),
    Param("io_status_block", K.IOSB),
    Param("information", K.BUFFER),
    Param("length", K.U32),
    Param("information_class", K.U32),
)
def nt_query_information_file(
    k: Kernel, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Position, network-open, internal/sector hashes, alignment (and basic, standard: console)."""
    limited = k.quirks.query_information_classes_limited
    minimum = QUERY_MIN.get(info_class)
    if info_class == STANDARD and not limited:
        minimum = STANDARD_MIN
    if minimum is None:
        return STATUS_INVALID_INFO_CLASS
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    require(k, buffer, length)
    require(k, iosb, 8)
    f = lookup_typed(k, t, handle, File)
    if isinstance(f, int):
        return f
    mem = k.memory
    mem.fill(buffer, length)
    status, produced = STATUS_SUCCESS, minimum
    if info_class in QUERY_UNSUPPORTED or (info_class == BASIC and limited):
        status, produced = STATUS_INVALID_PARAMETER, 0
    elif info_class == POSITION:
        mem.write_u64(buffer, f.position)
    elif info_class == ALIGNMENT:
        mem.write_u32(buffer, 0)
    elif info_class == INTERNAL:
        mem.write_u64(buffer, _path_hash(f.path))
    elif info_class == SECTOR:
        mem.write_u32(buffer, _path_hash(f.path) & 0xFFFFFFFF)
    else:
        try:
            entry = _node_entry(f.node)
        except OSError as err:  # the host entry vanished under an open directory
            status = status_for(err)
            _iosb(k, iosb, status, 0)
            return status
        allocation = f.node.device.allocation_size(entry.size)
        if info_class == NETWORK_OPEN:
            _write_network_open(k, buffer, entry, allocation)
        elif info_class == BASIC:
            _write_times(k, buffer, entry)
            mem.write_u64(buffer + 32, _attributes(entry))
        else:  # STANDARD
            mem.write_u64(buffer, allocation)
            mem.write_u64(buffer + 8, entry.size)
            mem.write_u32(buffer + 16, 1)
            mem.write_u8(buffer + 20, int(f.delete_on_close))
            mem.write_u8(buffer + 21, int(entry.is_dir))
    _iosb(k, iosb, status, produced)
    return status


def _rename(k: Kernel, f: File, buffer: int) -> int:
    """FILE_RENAME_INFORMATION: a new name in the same folder, or a full path on the same device."""
    replace = k.memory.read_u32(buffer) != 0
    raw = k.memory.read_ansi_string(buffer + 8)
    if not raw or not name_is_valid(raw):
        return STATUS_OBJECT_NAME_INVALID
    text = strip_dos_prefix(decode(raw))
    if SEPARATOR not in text and ":" not in text:
        head = f.path.rstrip(SEPARATOR).rpartition(SEPARATOR)[0]
        text = head + SEPARATOR + text
    node = f.node
    try:
        where = namespace_of(k).resolve(text)
    except Refused:
        return STATUS_NO_SUCH_FILE
    if where.device is not node.device or not where.names:
        return STATUS_ACCESS_DENIED
    if not node.device.writable:
        return STATUS_ACCESS_DENIED
    sb = node.device.sandbox
    try:
        found = sb.locate_parent(where.names)
        if found is None:
            return STATUS_NO_SUCH_FILE
        parent, existing = found
        name = where.names[-1]
        if existing is not None:
            same = existing.real == node.real
            if not same and not replace:
                return STATUS_OBJECT_NAME_COLLISION
            if not same:
                name = existing.name
        node.real = sb.rename(node.real, parent.real, name, replace=True)
    except (Refused, OSError) as err:
        return status_for(err)
    node.names = (*where.names[:-1], name)
    f.path = text
    return STATUS_SUCCESS


def _set(k: Kernel, t: Thread, f: File, info_class: int, buffer: int) -> int:
    mem = k.memory
    node = f.node
    if info_class in SET_UNSUPPORTED or info_class == ALLOCATION:
        return STATUS_SUCCESS
    if info_class == POSITION:
        position = mem.read_s64(buffer)
        if position < 0:
            return STATUS_INVALID_PARAMETER
        f.position = position
        return STATUS_SUCCESS
    if info_class == COMPLETION:
        port = lookup_typed(k, t, mem.read_u32(buffer), IoCompletion)
        if isinstance(port, int):
            return port
        k.table.retain_object(port)
        f.completions.append((port, mem.read_u32(buffer + 4)))
        return STATUS_SUCCESS
    if info_class == RENAME:
        return _rename(k, f, buffer)
    if not node.device.writable:
        return STATUS_ACCESS_DENIED
    try:
        if info_class == DISPOSITION:
            delete = mem.read_u8(buffer) != 0
            if delete and node.is_dir and os.listdir(node.real):
                return STATUS_DIRECTORY_NOT_EMPTY
            f.delete_on_close = delete
        elif info_class == END_OF_FILE:
            size = mem.read_s64(buffer)
            if node.is_dir or size < 0:
                return STATUS_INVALID_PARAMETER
            if not node.writable:
                return STATUS_ACCESS_DENIED
            os.ftruncate(node.fd, size)
        else:  # BASIC: last access and last write times, when given (0 and -1 keep them)
            entry = _node_entry(node)
            atime, mtime = mem.read_s64(buffer + 8), mem.read_s64(buffer + 16)
            a_ns = (atime - FILETIME_UNIX_EPOCH) * 100 if atime > 0 else entry.atime_ns
            m_ns = (mtime - FILETIME_UNIX_EPOCH) * 100 if mtime > 0 else entry.mtime_ns
            target: int | str = node.fd if node.fd >= 0 else node.real
            os.utime(target, ns=(a_ns, m_ns))
    except (Refused, OSError, ValueError) as err:
        return status_for(err)
    return STATUS_SUCCESS


@GROUP.export(
    "NtSetInformationFile",
    0xF7,
    Param("file_handle", K.HANDLE),
    Param("io_status_block", K.IOSB),
    Param("information", K.BUFFER),
    Param("length", K.U32),
    Param("information_class", K.U32),
)
def nt_set_information_file(
    k: Kernel, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Position, end of file, rename, delete-on-close, times, completion port (class 30)."""
    minimum = SET_MIN.get(info_class)
    if minimum is None or (
        info_class in SET_UNSUPPORTED and not k.quirks.unsupported_set_information_succeeds
    ):
        return STATUS_INVALID_INFO_CLASS
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    require(k, buffer, length)
    require(k, iosb, 8)
    f = lookup_typed(k, t, handle, File)
    if isinstance(f, int):
        return f
    status = _set(k, t, f, info_class, buffer)
    _iosb(k, iosb, status, minimum if status == STATUS_SUCCESS else 0)
    return status


@GROUP.export(
    "NtQueryFullAttributesFile",
    0xE7,
    Param("object_attributes", K.ATTRS),
    Param("information", K.PTR),
)
def nt_query_full_attributes_file(k: Kernel, t: Thread, attrs: int, info_ptr: int) -> int:
    """FILE_NETWORK_OPEN_INFORMATION of a path, without opening it."""
    require(k, info_ptr, 56)
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    path = _guest_path(k, t, attrs)
    if isinstance(path, int):
        return path
    try:
        where = namespace_of(k).resolve(path)
    except Refused:
        return STATUS_NO_SUCH_FILE
    status, entry = where.device.stat(where.names)
    if entry is None:
        return status
    _write_network_open(k, info_ptr, entry, where.device.allocation_size(entry.size))
    return STATUS_SUCCESS


# -- directories -----------------------------------------------------------------------------


def _write_directory_entry(
    k: Kernel, ptr: int, entry: HostEntry, allocation: int, index: int, room: int
) -> int:
    """One FILE_DIRECTORY_INFORMATION, name cut to ``room``; returns the bytes written."""
    mem = k.memory
    name = entry.name.encode("ascii")
    written = min(len(name), max(room - DIRECTORY_ENTRY_HEADER, 0))
    mem.fill(ptr, DIRECTORY_ENTRY_HEADER)
    mem.write_u32(ptr + 4, index)
    _write_times(k, ptr + 8, entry)
    mem.write_u64(ptr + 40, entry.size)
    mem.write_u64(ptr + 48, allocation)
    mem.write_u32(ptr + 56, _attributes(entry))
    mem.write_u32(ptr + 60, len(name))
    mem.write_bytes(ptr + DIRECTORY_ENTRY_HEADER, name[:written])
    return DIRECTORY_ENTRY_HEADER + written


def _fill_directory(k: Kernel, f: File, buffer: int, length: int) -> tuple[int, int]:
    """Write entries from the listing's cursor; returns (status, bytes)."""
    listing = f.listing
    assert listing is not None
    entries = listing.entries
    if listing.cursor >= len(entries):
        return STATUS_NO_MORE_FILES, 0
    device = f.node.device
    single = k.quirks.query_directory_single_entry
    offset = 0
    previous = -1
    while listing.cursor < len(entries):
        entry = entries[listing.cursor]
        need = DIRECTORY_ENTRY_HEADER + len(entry.name)
        if offset + need > length:
            if previous < 0:
                size = _write_directory_entry(
                    k, buffer, entry, device.allocation_size(entry.size), listing.cursor, length
                )
                return STATUS_BUFFER_OVERFLOW, size
            break
        if previous >= 0:
            k.memory.write_u32(buffer + previous, offset - previous)
        _write_directory_entry(
            k, buffer + offset, entry, device.allocation_size(entry.size), listing.cursor, need
        )
        previous = offset
        listing.cursor += 1
        offset += need
        if single:
            break
        offset = (offset + 7) & ~7
    return STATUS_SUCCESS, previous + DIRECTORY_ENTRY_HEADER + len(entries[listing.cursor - 1].name)


@GROUP.export(
    "NtQueryDirectoryFile",
    0xE4,
    Param("file_handle", K.HANDLE),
    Param("event", K.HANDLE, optional=True),
    Param("apc_routine", K.ROUTINE, optional=True),
    Param("apc_context", K.CONTEXT),
    Param("io_status_block", K.IOSB),
    Param("information", K.BUFFER),
    Param("length", K.U32),
    Param("file_name", K.ANSI_STRING, optional=True),
    Param("restart_scan", K.BOOL),
)
def nt_query_directory_file(
    k: Kernel,
    t: Thread,
    handle: int,
    event_handle: int,
    routine: int,
    context: int,
    iosb: int,
    buffer: int,
    length: int,
    name_ptr: int,
    restart: int,
) -> int:
    """Enumerate a directory in folded-name order, filtered by a * / ? pattern."""
    require(k, iosb, 8)
    if length < DIRECTORY_MIN_LENGTH:
        return STATUS_INFO_LENGTH_MISMATCH
    require(k, buffer, length)
    found = _lookup_file_and_event(k, t, handle, event_handle, iosb)
    if isinstance(found, int):
        return found
    f, event = found
    if not f.node.is_dir:
        return STATUS_INVALID_PARAMETER
    raw = k.memory.read_ansi_string(name_ptr) if name_ptr else b""
    if not all(0x20 <= b < 0x7F for b in raw):
        return STATUS_OBJECT_NAME_INVALID
    if f.listing is None or restart:
        pattern = compile_pattern(decode(raw)) if raw or f.listing is None else f.listing.pattern
        try:
            entries = f.node.device.sandbox.list_directory(f.node.real)
        except (Refused, OSError) as err:
            return status_for(err)
        f.listing = Listing(pattern, [e for e in entries if pattern.matches(e.name)])
    status, produced = _fill_directory(k, f, buffer, length)
    _complete(k, t, f, event, routine, context, iosb, status, produced, signal_file=False)
    return status


# -- volumes and flushing --------------------------------------------------------------------


@GROUP.export(
    "NtQueryVolumeInformationFile",
    0xEF,
    Param("file_handle", K.HANDLE),
    Param("io_status_block", K.IOSB),
    Param("information", K.BUFFER),
    Param("length", K.U32),
    Param("fs_information_class", K.U32),
)
def nt_query_volume_information_file(
    k: Kernel, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Volume (label, serial), size, device and attribute information of a file's device."""
    minimum = VOLUME_MIN.get(info_class)
    if minimum is None:
        return STATUS_INVALID_INFO_CLASS
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    require(k, buffer, length)
    require(k, iosb, 8)
    f = lookup_typed(k, t, handle, File)
    if isinstance(f, int):
        return f
    device = f.node.device
    vol = device.volume
    mem = k.memory
    mem.fill(buffer, length)
    status, produced = STATUS_SUCCESS, minimum
    if info_class == FS_SIZE:
        mem.write_u64(buffer, vol.total_clusters)
        mem.write_u64(buffer + 8, vol.free_clusters)
        mem.write_u32(buffer + 16, vol.sectors_per_cluster)
        mem.write_u32(buffer + 20, vol.bytes_per_sector)
    elif info_class == FS_DEVICE:
        cdrom = "cdrom" in fold(device.path)
        mem.write_u32(buffer, FILE_DEVICE_CD_ROM if cdrom else FILE_DEVICE_DISK)
        mem.write_u32(buffer + 4, 0 if device.writable else FILE_READ_ONLY_DEVICE)
    else:
        if info_class == FS_VOLUME:
            text, at = vol.label.encode("ascii", "replace"), 18
            mem.write_u32(buffer + 8, vol.serial)
            mem.write_u32(buffer + 12, len(text))
        else:
            text, at = vol.file_system.encode("ascii", "replace"), 12
            mem.write_u32(buffer + 4, 255)
            mem.write_u32(buffer + 8, len(text))
        fits = min(len(text), length - at)
        mem.write_bytes(buffer + at, text[:fits])
        produced = at + fits
        if fits < len(text):
            status = STATUS_BUFFER_OVERFLOW
    _iosb(k, iosb, status, produced)
    return status


@GROUP.export(
    "NtFlushBuffersFile", 0xDB, Param("file_handle", K.HANDLE), Param("io_status_block", K.IOSB)
)
def nt_flush_buffers_file(k: Kernel, t: Thread, handle: int, iosb: int) -> int:
    """Nothing to flush: writes go straight to the host file."""
    require(k, iosb, 8)
    f = lookup_typed(k, t, handle, File)
    if isinstance(f, int):
        return f
    _iosb(k, iosb, STATUS_SUCCESS, 0)
    return STATUS_SUCCESS


# -- I/O completion ports --------------------------------------------------------------------


@GROUP.export(
    "NtCreateIoCompletion",
    0xD3,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("desired_access", K.U32),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("concurrent_threads", K.U32),
)
def nt_create_io_completion(
    k: Kernel, t: Thread, handle_ptr: int, access: int, attrs: int, threads: int
) -> int:
    """A new, unnamed port (access, attributes and thread count ignored)."""
    require(k, handle_ptr)
    port = IoCompletion(CANARY_COUNT_LIMIT if k.quirks.io_completion_count_capped else None)
    write_u32(k, handle_ptr, k.table.add_handle(port))
    if k.quirks.io_completion_leaks_object:
        k.table.retain_object(port)
    return STATUS_SUCCESS


@GROUP.export(
    "NtSetIoCompletion",
    0xF8,
    Param("handle", K.HANDLE),
    Param("key_context", K.U32),
    Param("apc_context", K.CONTEXT),
    Param("status", K.U32),
    Param("information", K.U32),
)
def nt_set_io_completion(
    k: Kernel, t: Thread, handle: int, key: int, context: int, status: int, information: int
) -> int:
    """Queue a packet {key, context, status, information}."""
    port = lookup_typed(k, t, handle, IoCompletion)
    if isinstance(port, int):
        return port
    port.post(Packet(key, context, status, information))
    k.signal(port)
    return STATUS_SUCCESS


@GROUP.export(
    "NtRemoveIoCompletion",
    0xF4,
    Param("handle", K.HANDLE),
    Param("key_context", K.OUT_U32, optional=True),
    Param("apc_context", K.OUT_U32, optional=True),
    Param("io_status_block", K.IOSB, optional=True),
    Param("timeout", K.TIMEOUT, optional=True),
)
def nt_remove_io_completion(
    k: Kernel,
    t: Thread,
    handle: int,
    key_ptr: int,
    context_ptr: int,
    iosb: int,
    timeout_ptr: int,
) -> int:
    """Wait (not alertable) for the oldest packet; STATUS_TIMEOUT when none came in time."""
    require(k, key_ptr)
    require(k, context_ptr)
    require(k, iosb, 8)
    port = lookup_typed(k, t, handle, IoCompletion)
    if isinstance(port, int):
        return port
    if k.quirks.remove_io_completion_timeout_truncated:
        ms = (
            CANARY_NULL_REMOVE_TIMEOUT_MS
            if timeout_ptr == 0
            else k.memory.read_u64(timeout_ptr) & 0xFFFFFFFF
        )
        deadline: int | None = k.clock + ms * 10_000
    else:
        deadline = k.deadline_from(timeout_ptr)

    def finish(status: int) -> int:
        if status != STATUS_WAIT_0:
            return status
        packet = port.take()
        write_u32(k, key_ptr, packet.key)
        write_u32(k, context_ptr, packet.apc_context)
        _iosb(k, iosb, packet.status, packet.information)
        return STATUS_SUCCESS

    return k.wait(
        t,
        [port],
        wait_all=False,
        alertable=False,
        deadline=deadline,
        finish=finish,
        note="io completion",
        handles=[handle],
    )


# -- symbolic links --------------------------------------------------------------------------


@GROUP.export(
    "NtOpenSymbolicLinkObject",
    0xE0,
    Param("handle", K.OUT_HANDLE),
    Param("object_attributes", K.ATTRS),
)
def nt_open_symbolic_link_object(k: Kernel, t: Thread, handle_ptr: int, attrs: int) -> int:
    """A handle on a link of the file namespace (``\\??\\`` dropped)."""
    require(k, handle_ptr)
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    raw = _strip_raw_prefix(k.memory.read_object_name(attrs))
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
def nt_query_symbolic_link_object(k: Kernel, t: Thread, handle: int, string_ptr: int) -> int:
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


def _link_name(k: Kernel, ptr: int, *, strip: bool = False) -> str | None:
    raw = k.memory.read_ansi_string(ptr) if ptr else b""
    if strip:
        raw = _strip_raw_prefix(raw)
    return decode(raw) if raw and name_is_valid(raw) else None


@GROUP.export(
    "ObCreateSymbolicLink",
    0x103,
    Param("link_name", K.ANSI_STRING),
    Param("target", K.ANSI_STRING),
)
def ob_create_symbolic_link(k: Kernel, t: Thread, link_ptr: int, target_ptr: int) -> int:
    """Register (or replace) a link in the file namespace; no object, no handle."""
    name = _link_name(k, link_ptr, strip=True)
    target = _link_name(k, target_ptr)
    if name is None or target is None:
        return STATUS_UNSUCCESSFUL
    ok = namespace_of(k).add_link(name, target)
    return STATUS_SUCCESS if ok else STATUS_UNSUCCESSFUL


@GROUP.export("ObDeleteSymbolicLink", 0x104, Param("link_name", K.ANSI_STRING))
def ob_delete_symbolic_link(k: Kernel, t: Thread, link_ptr: int) -> int:
    """Remove a link by its exact name (a ``\\??\\`` prefix is not dropped here)."""
    name = _link_name(k, link_ptr)
    if name is None or not namespace_of(k).remove_link(name):
        return STATUS_UNSUCCESSFUL
    return STATUS_SUCCESS
