"""File and volume information: the information classes canary knows and their buffer minimums.

NtQueryInformationFile, NtSetInformationFile, NtQueryFullAttributesFile and
NtQueryVolumeInformationFile.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import xxhash

from x360k.exports.common import lookup_typed, require
from x360k.exports.file_common import (
    FILETIME_UNIX_EPOCH,
    attributes_of,
    held_names,
    node_entry,
    resolve_attributes,
    write_iosb,
    write_network_open,
    write_times,
)
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.file import File
from x360k.objects.io_completion import IoCompletion
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_OVERFLOW,
    STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_SUCCESS,
)
from x360k.vfs import held
from x360k.vfs.device import OpenNode, status_for
from x360k.vfs.guest_path import (
    SEPARATOR,
    Refused,
    decode,
    fold,
    name_is_valid,
    split_relative,
    strip_dos_prefix,
)
from x360k.vfs.held import open_directory
from x360k.vfs.mount import namespace_of
from x360k.vfs.namespace import Resolved

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("file_info")

FILE_DEVICE_CD_ROM: Final = 0x02
FILE_DEVICE_DISK: Final = 0x07
FILE_READ_ONLY_DEVICE: Final = 0x02

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


def _path_hash(path: str) -> int:
    return int(xxhash.xxh64_intdigest(fold(path).encode("ascii", "replace")))


def _information_file(
    k: KernelState, t: Thread, handle: int, iosb: int, buffer: int, length: int, minimum: int
) -> File | int:
    """The file an information call names once its buffer is long enough; else the status.

    The query, set and volume calls check their arguments in this same order.
    """
    if length < minimum:
        return STATUS_INFO_LENGTH_MISMATCH
    require(k, buffer, length)
    require(k, iosb, 8)
    return lookup_typed(k, t, handle, File)


# -- files -----------------------------------------------------------------------------


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
    k: KernelState, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Position, network-open, internal/sector hashes, alignment (and basic, standard: console)."""
    limited = k.quirks.query_information_classes_limited
    minimum = QUERY_MIN.get(info_class)
    if info_class == STANDARD and not limited:
        minimum = STANDARD_MIN
    if minimum is None:
        return STATUS_INVALID_INFO_CLASS
    f = _information_file(k, t, handle, iosb, buffer, length, minimum)
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
            entry = node_entry(f.node)
        except (Refused, OSError) as err:  # moved out of the mount, or gone from the host
            status = status_for(err)
            write_iosb(k, iosb, status, 0)
            return status
        allocation = f.node.device.allocation_size(entry.size)
        if info_class == NETWORK_OPEN:
            write_network_open(k, buffer, entry, allocation)
        elif info_class == BASIC:
            write_times(k, buffer, entry)
            mem.write_u64(buffer + 32, attributes_of(entry))
        else:  # STANDARD
            mem.write_u64(buffer, allocation)
            mem.write_u64(buffer + 8, entry.size)
            mem.write_u32(buffer + 16, 1)
            mem.write_u8(buffer + 20, int(f.delete_on_close))
            mem.write_u8(buffer + 21, int(entry.is_dir))
    write_iosb(k, iosb, status, produced)
    return status


def _rename(k: KernelState, f: File, buffer: int) -> int:
    """FILE_RENAME_INFORMATION: a new name in the same folder, or a full path on the same device."""
    replace = k.memory.read_u32(buffer) != 0
    raw = k.memory.read_ansi_string(buffer + 8)
    if not raw or not name_is_valid(raw):
        return STATUS_OBJECT_NAME_INVALID
    text = strip_dos_prefix(decode(raw))
    node = f.node
    try:
        if SEPARATOR not in text and ":" not in text:
            # A bare name: into the folder the file is in now (its held parent), not the
            # folder its path named at the open.
            names = held_names(node, parent=True) + split_relative(text, SEPARATOR + text)
            where = Resolved(node.device, names)
            head = f.path.rstrip(SEPARATOR).rpartition(SEPARATOR)[0]
            text = head + SEPARATOR + text
        else:
            where = namespace_of(k).resolve(text)
    except Refused:
        return STATUS_NO_SUCH_FILE
    if where.device is not node.device or not where.names:
        return STATUS_ACCESS_DENIED
    if not node.device.writable:
        return STATUS_ACCESS_DENIED
    sb = node.device.sandbox
    found = None
    dst_fd = -1
    try:
        found = sb.lookup(where.names)
        if found is None:
            return STATUS_NO_SUCH_FILE
        # The new name's directory, held: a walk with a link on the way gave only its path.
        dst_fd = found.dir_fd if found.dir_fd >= 0 else open_directory(sb, found.parent_real)
        existing = found.entry
        name = where.names[-1]
        if existing is not None:
            same = existing.real == node.real or _same_inode(dst_fd, existing.name, node)
            if not same and not replace:
                return STATUS_OBJECT_NAME_COLLISION
            if not same:
                name = existing.name
        held.rename(sb, node.held, dst_fd, name, replace=True)
        node.real = os.path.join(found.parent_real, name)
    except (Refused, OSError) as err:
        return status_for(err)
    finally:
        if found is not None:
            if dst_fd >= 0 and dst_fd != found.dir_fd:
                os.close(dst_fd)
            found.close()
    node.names = (*where.names[:-1], name)
    f.path = text
    return STATUS_SUCCESS


def _same_inode(dir_fd: int, name: str, node: OpenNode) -> bool:
    """Whether ``name`` in ``dir_fd`` is the open entry itself (a rename that only changes case)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (node.held.dev, node.held.ino)


def _set(k: KernelState, t: Thread, f: File, info_class: int, buffer: int) -> int:
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
            if delete:
                # Refused now (not silently at close) when the entry has moved or been replaced.
                held.check(node.device.sandbox, node.held, placed=True)
                if node.is_dir and held.list_names(node.held):
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
            entry = node_entry(node)
            atime, mtime = mem.read_s64(buffer + 8), mem.read_s64(buffer + 16)
            a_ns = (atime - FILETIME_UNIX_EPOCH) * 100 if atime > 0 else entry.atime_ns
            m_ns = (mtime - FILETIME_UNIX_EPOCH) * 100 if mtime > 0 else entry.mtime_ns
            held.set_times(node.device.sandbox, node.held, a_ns, m_ns)
    except (Refused, OSError, ValueError, OverflowError) as err:
        # OverflowError: a FILETIME beyond what the host's clock can hold.
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
    k: KernelState, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Position, end of file, rename, delete-on-close, times, completion port (class 30)."""
    minimum = SET_MIN.get(info_class)
    if minimum is None or (
        info_class in SET_UNSUPPORTED and not k.quirks.unsupported_set_information_succeeds
    ):
        return STATUS_INVALID_INFO_CLASS
    f = _information_file(k, t, handle, iosb, buffer, length, minimum)
    if isinstance(f, int):
        return f
    status = _set(k, t, f, info_class, buffer)
    write_iosb(k, iosb, status, minimum if status == STATUS_SUCCESS else 0)
    return status


@GROUP.export(
    "NtQueryFullAttributesFile",
    0xE7,
    Param("object_attributes", K.ATTRS),
    Param("information", K.PTR),
)
def nt_query_full_attributes_file(k: KernelState, t: Thread, attrs: int, info_ptr: int) -> int:
    """FILE_NETWORK_OPEN_INFORMATION of a path, without opening it."""
    require(k, info_ptr, 56)
    found = resolve_attributes(k, t, attrs)
    if isinstance(found, int):
        return found
    where = found[1]
    if where is None:
        return STATUS_NO_SUCH_FILE
    status, entry = where.device.stat(where.names)
    if entry is None:
        return status
    write_network_open(k, info_ptr, entry, where.device.allocation_size(entry.size))
    return STATUS_SUCCESS


# -- volumes -------------------------------------------------------------------------------


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
    k: KernelState, t: Thread, handle: int, iosb: int, buffer: int, length: int, info_class: int
) -> int:
    """Volume (label, serial), size, device and attribute information of a file's device."""
    minimum = VOLUME_MIN.get(info_class)
    if minimum is None:
        return STATUS_INVALID_INFO_CLASS
    f = _information_file(k, t, handle, iosb, buffer, length, minimum)
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
    write_iosb(k, iosb, status, produced)
    return status
