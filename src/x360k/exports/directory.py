"""Directory enumeration: NtQueryDirectoryFile and its FILE_DIRECTORY_INFORMATION records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.common import require
from x360k.exports.file_common import (
    attributes_of,
    complete_request,
    lookup_file_and_event,
    write_times,
)
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.file import File, Listing
from x360k.status import (
    STATUS_BUFFER_OVERFLOW,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_SUCCESS,
)
from x360k.vfs import held
from x360k.vfs.device import status_for
from x360k.vfs.guest_path import Refused, decode
from x360k.vfs.pattern import compile_pattern
from x360k.vfs.sandbox import HostEntry

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("directory")

#: FILE_DIRECTORY_INFORMATION without its name.
DIRECTORY_ENTRY_HEADER: Final = 0x40
DIRECTORY_MIN_LENGTH: Final = 72


def _write_directory_entry(
    k: KernelState, ptr: int, entry: HostEntry, allocation: int, index: int, room: int
) -> int:
    """One FILE_DIRECTORY_INFORMATION, name cut to ``room``; returns the bytes written."""
    mem = k.memory
    name = entry.name.encode("ascii")
    written = min(len(name), max(room - DIRECTORY_ENTRY_HEADER, 0))
    mem.fill(ptr, DIRECTORY_ENTRY_HEADER)
    mem.write_u32(ptr + 4, index)
    write_times(k, ptr + 8, entry)
    mem.write_u64(ptr + 40, entry.size)
    mem.write_u64(ptr + 48, allocation)
    mem.write_u32(ptr + 56, attributes_of(entry))
    mem.write_u32(ptr + 60, len(name))
    mem.write_bytes(ptr + DIRECTORY_ENTRY_HEADER, name[:written])
    return DIRECTORY_ENTRY_HEADER + written


def _fill_directory(k: KernelState, f: File, buffer: int, length: int) -> tuple[int, int]:
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
    k: KernelState,
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
    found = lookup_file_and_event(k, t, handle, event_handle, iosb)
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
            sb = f.node.device.sandbox
            held.check(sb, f.node.held)  # still inside the mount, not removed
            entries = sb.list_directory(f.node.fd)
        except (Refused, OSError) as err:
            return status_for(err)
        f.listing = Listing(pattern, [e for e in entries if pattern.matches(e.name)])
    status, produced = _fill_directory(k, f, buffer, length)
    complete_request(k, t, f, event, routine, context, iosb, status, produced, signal_file=False)
    return status
