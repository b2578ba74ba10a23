"""Opening, reading, writing and flushing files: NtCreateFile, NtOpenFile, NtReadFile, NtWriteFile.

Every request completes before the call returns (see :mod:`x360k.exports.file_common`).
What differs between profiles is what the call *returns* for handles not opened
for synchronous I/O (quirk ``io_always_pending_async``) and the other rows of the
io area of the quirk table.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from x360k.exports.common import lookup_typed, require, write_u32
from x360k.exports.file_common import (
    complete_request,
    lookup_file_and_event,
    resolve_attributes,
    write_iosb,
)
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.file import File
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_END_OF_FILE,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from x360k.vfs.device import (
    FILE_DOES_NOT_EXIST,
    FILE_OPEN,
    FILE_SYNCHRONOUS_IO_ALERT,
    FILE_SYNCHRONOUS_IO_NONALERT,
    OpenOutcome,
    status_for,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("files")


# -- NtCreateFile / NtOpenFile -----------------------------------------------------------------


def _create(
    k: KernelState,
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
    found = resolve_attributes(k, t, attrs)
    if isinstance(found, int):
        return found
    path, where = found
    if where is None:
        outcome = OpenOutcome(STATUS_NO_SUCH_FILE, FILE_DOES_NOT_EXIST)
    else:
        outcome = where.device.open(where.names, disposition, options, access)
    node = outcome.node
    if node is not None and not k.quirks.directory_option_not_checked:
        refused = node.device.check_directory_option(node, options)
        if refused != STATUS_SUCCESS:
            node.close()
            outcome = OpenOutcome(refused, FILE_DOES_NOT_EXIST)
            node = None
    if node is None:
        if k.quirks.create_file_failure_writes_invalid:
            write_u32(k, handle_ptr, 0xFFFFFFFF)
        write_iosb(k, iosb, outcome.status, None if outcome.action < 0 else outcome.action)
        return outcome.status
    synchronous = bool(options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT))
    f = File(node, path, synchronous)
    table = k.table
    f.release_port = table.release_object
    write_u32(k, handle_ptr, table.add_handle(f))
    write_iosb(k, iosb, STATUS_SUCCESS, outcome.action)
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
    k: KernelState,
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
    k: KernelState, t: Thread, handle_ptr: int, access: int, attrs: int, iosb: int, options: int
) -> int:
    """NtCreateFile with disposition FILE_OPEN."""
    return _create(k, t, handle_ptr, access, attrs, iosb, FILE_OPEN, options)


# -- reads and writes ------------------------------------------------------------------------


def _transfer(
    k: KernelState,
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
    found = lookup_file_and_event(k, t, handle, event_handle, iosb)
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
        # A bad buffer: STATUS_ACCESS_VIOLATION, nothing done. The data moves straight
        # between the host file and guest memory, without an intermediate copy.
        views = k.memory.views(buffer, length)  # one per region the buffer crosses
    node = f.node
    moved = 0
    if node.is_dir:
        status = STATUS_FILE_IS_A_DIRECTORY
    elif not (node.writable if write else node.readable):
        status = STATUS_ACCESS_DENIED
    else:
        status = STATUS_SUCCESS
        try:
            if length:
                try:
                    if write:
                        moved = os.pwritev(node.fd, views, offset)
                    else:
                        moved = os.preadv(node.fd, views, offset)
                        if not moved:
                            status = STATUS_END_OF_FILE
                finally:
                    for view in views:
                        view.release()
            elif write:
                moved = os.pwrite(node.fd, b"", offset)
            else:
                os.pread(node.fd, 0, offset)
        except OSError as err:
            status = status_for(err)
        if status in (STATUS_SUCCESS, STATUS_END_OF_FILE):
            f.position = offset + moved
    t.return_fields = {"offset": offset, "length": moved}
    complete_request(k, t, f, event, routine, context, iosb, status, moved, signal_file=True)
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
    k: KernelState,
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
    k: KernelState,
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


@GROUP.export(
    "NtFlushBuffersFile", 0xDB, Param("file_handle", K.HANDLE), Param("io_status_block", K.IOSB)
)
def nt_flush_buffers_file(k: KernelState, t: Thread, handle: int, iosb: int) -> int:
    """Nothing to flush: writes go straight to the host file."""
    require(k, iosb, 8)
    f = lookup_typed(k, t, handle, File)
    if isinstance(f, int):
        return f
    write_iosb(k, iosb, STATUS_SUCCESS, 0)
    return STATUS_SUCCESS
