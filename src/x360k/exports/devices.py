"""The file system's remaining exports: scatter reads, device IOCTLs, device objects, the cache.

* NtReadFileScatter reads a run of the file into page-sized buffers named by
  an array of 32-bit pointers (one per 4 KiB of ``length``; the last one takes
  what is left), as canary does. Every pointer is checked before any byte is
  read (STATUS_ACCESS_VIOLATION, nothing done); the read acts on the file the
  handle opened, and completes like NtReadFile (IOSB, event, APC, ports).
* NtDeviceIoControlFile answers the two disk IOCTLs titles use to size the
  utility partition cache (canary's figures: 0xFF000 bytes in 512-byte
  sectors) and refuses any other with STATUS_INVALID_PARAMETER. Canary never
  checks the handle or completes the request (quirk ``device_ioctl_unchecked``).
* IoCreateDevice gives the caller a zeroed device object from the system
  arena with canary's fields filled in (the name is not entered into any
  object directory, under both profiles: what canary does, and all x360k can
  vouch for); IoDeleteDevice frees only what IoCreateDevice handed out.
* FscGet/SetCacheElementCount: canary's stubs, or a count kept per first
  argument (quirk ``fsc_cache_count_stub``).
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Final

from x360k.exports.common import require
from x360k.exports.file_common import complete_request, lookup_file_and_event
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.native.bridge import fail
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_END_OF_FILE,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER,
    STATUS_PENDING,
    STATUS_SUCCESS,
)
from x360k.vfs.device import status_for

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("devices")

SCATTER_PAGE: Final = 4096
IOCTL_DISK_GET_DRIVE_GEOMETRY: Final = 0x70000
IOCTL_DISK_GET_PARTITION_INFO: Final = 0x74004
#: The utility-partition cache size canary reports, and its sector size.
CACHE_PARTITION_BYTES: Final = 0xFF000
SECTOR_BYTES: Final = 512
#: A device object's fixed part; the extension follows, 8-aligned.
DEVICE_OBJECT_SIZE: Final = 80
#: Device types whose object does not point at itself at +0xC (canary's list, from 17559).
_NO_SELF_POINTER: Final = frozenset(
    {2, 7, 36, 45, 58, 60, 61, 62, 64, 65, 66, 67, 68, 69, 70, 72, 73}
)
#: Larger extensions are refused (the console's pool could not hold them either).
MAX_EXTENSION: Final = 0x100000


def _offset(k: KernelState, offset_ptr: int, position: int) -> int | None:
    """The ByteOffset to use (null or -1: the file position); None for another negative one."""
    if not offset_ptr:
        return position
    given = k.memory.read_s64(offset_ptr)
    if given == -1:
        return position
    return None if given < 0 else given


@GROUP.export(
    "NtReadFileScatter",
    0xF1,
    Param("file_handle", K.HANDLE),
    Param("event", K.HANDLE, optional=True),
    Param("apc_routine", K.ROUTINE, optional=True),
    Param("apc_context", K.CONTEXT),
    Param("io_status_block", K.IOSB),
    Param("segment_array", K.PTR),
    Param("length", K.U32),
    Param("byte_offset", K.LARGE_INTEGER, optional=True),
)
def nt_read_file_scatter(
    k: KernelState,
    t: Thread,
    handle: int,
    event_handle: int,
    routine: int,
    context: int,
    iosb: int,
    segments: int,
    length: int,
    offset_ptr: int,
) -> int:
    """Read ``length`` bytes at ByteOffset into one page buffer per segment, completing at once."""
    require(k, iosb, 8)
    found = lookup_file_and_event(k, t, handle, event_handle, iosb)
    if isinstance(found, int):
        return found
    f, event = found
    offset = _offset(k, offset_ptr, f.position)
    if offset is None:
        return STATUS_INVALID_PARAMETER
    mem = k.memory
    count = (length + SCATTER_PAGE - 1) // SCATTER_PAGE
    pointers = struct.unpack(f">{count}I", mem.read_bytes(segments, 4 * count)) if count else ()
    chunks = []
    for i, buffer in enumerate(pointers):
        size = min(SCATTER_PAGE, length - i * SCATTER_PAGE)
        chunks.append((*mem.span(buffer, size), size))
    node = f.node
    total = 0
    if node.is_dir:
        status = STATUS_FILE_IS_A_DIRECTORY
    elif not node.readable:
        status = STATUS_ACCESS_DENIED
    else:
        status = STATUS_SUCCESS
        try:
            for region, start, size in chunks:
                with memoryview(region)[start : start + size] as view:
                    moved = os.preadv(node.fd, (view,), offset + total)
                if not moved:
                    status = STATUS_END_OF_FILE
                    break
                total += moved
        except OSError as err:
            status = status_for(err)
        if status in (STATUS_SUCCESS, STATUS_END_OF_FILE):
            f.position = offset + total
    t.return_fields = {"offset": offset, "length": total}
    complete_request(k, t, f, event, routine, context, iosb, status, total, signal_file=True)
    # Unlike NtReadFile, canary reports a handle not opened for synchronous I/O as pending
    # even at the end of the file.
    if not f.synchronous and k.quirks.io_always_pending_async:
        return STATUS_PENDING
    return status


def _ioctl_answer(k: KernelState, code: int, out: int, out_len: int) -> tuple[int, int]:
    """(status, bytes written to the output buffer) for one IOCTL."""
    mem = k.memory
    if code == IOCTL_DISK_GET_DRIVE_GEOMETRY:
        if out_len < 8:
            return STATUS_BUFFER_TOO_SMALL, 0
        mem.require(out, 8)
        mem.write_u32(out, CACHE_PARTITION_BYTES // SECTOR_BYTES)
        mem.write_u32(out + 4, SECTOR_BYTES)
        return STATUS_SUCCESS, 8
    if code == IOCTL_DISK_GET_PARTITION_INFO:
        if out_len < 16:
            return STATUS_BUFFER_TOO_SMALL, 0
        mem.require(out, 16)
        mem.write_u64(out, 0)
        mem.write_u64(out + 8, CACHE_PARTITION_BYTES)
        return STATUS_SUCCESS, 16
    return STATUS_INVALID_PARAMETER, 0


@GROUP.export(
    "NtDeviceIoControlFile",
    0xD9,
    Param("file_handle", K.HANDLE),
    Param("event", K.HANDLE, optional=True),
    Param("apc_routine", K.ROUTINE, optional=True),
    Param("apc_context", K.CONTEXT),
    Param("io_status_block", K.IOSB),
    Param("io_control_code", K.U32),
    Param("input_buffer", K.BUFFER, optional=True),
    Param("input_buffer_length", K.U32),
    Param("output_buffer", K.BUFFER, optional=True),
    Param("output_buffer_length", K.U32),
)
def nt_device_io_control_file(
    k: KernelState,
    t: Thread,
    handle: int,
    event_handle: int,
    routine: int,
    context: int,
    iosb: int,
    code: int,
    in_buf: int,
    in_len: int,
    out_buf: int,
    out_len: int,
) -> int:
    """Answer a disk IOCTL on an open file (canary: on any handle value, status only)."""
    if k.quirks.device_ioctl_unchecked:
        return _ioctl_answer(k, code, out_buf, out_len)[0]
    require(k, iosb, 8)
    found = lookup_file_and_event(k, t, handle, event_handle, iosb)
    if isinstance(found, int):
        return found
    f, event = found
    status, written = _ioctl_answer(k, code, out_buf, out_len)
    if status == STATUS_SUCCESS:
        complete_request(k, t, f, event, routine, context, iosb, status, written, signal_file=False)
    return status


# -- device objects -----------------------------------------------------------------------------


def _devices(k: KernelState) -> dict[int, int]:
    """Device objects IoCreateDevice handed out: address -> block size."""
    devices: dict[int, int] | None = k.ext.get("devices")
    if devices is None:
        devices = k.ext["devices"] = {}
    return devices


@GROUP.export(
    "IoCreateDevice",
    0x37,
    Param("driver_object", K.PTR),
    Param("device_extension_size", K.U32),
    Param("device_name", K.ANSI_STRING, optional=True),
    Param("device_type", K.U32),
    Param("device_characteristics", K.U32),
    Param("device_object", K.OUT_U32),
)
def io_create_device(
    k: KernelState,
    t: Thread,
    driver: int,
    extension: int,
    name: int,
    device_type: int,
    characteristics: int,
    out: int,
) -> int:
    """A zeroed device object (80 bytes + the 8-aligned extension) written to ``device_object``."""
    k.memory.require(out, 4)
    if extension > MAX_EXTENSION:
        return STATUS_INSUFFICIENT_RESOURCES
    size = DEVICE_OBJECT_SIZE + ((extension + 7) & ~7)
    mem = k.memory
    try:
        device = mem.alloc_system(size, 8)
    except MemoryError:
        return STATUS_INSUFFICIENT_RESOURCES
    _devices(k)[device] = size
    mem.fill(device, size)
    mem.write_u8(device, 3)  # the device object's type
    mem.write_u16(device + 2, (extension + DEVICE_OBJECT_SIZE) & 0xFFFF)  # unaligned size
    mem.write_u32(device + 8, driver)
    mem.write_u32(device + 0xC, 0 if device_type in _NO_SELF_POINTER else device)
    mem.write_u32(device + 0x14, 0x10 | (0x8 if name else 0))
    if extension:
        mem.write_u32(device + 0x18, device + DEVICE_OBJECT_SIZE)
    mem.write_u8(device + 0x1C, device_type & 0xFF)
    mem.write_u8(device + 0x1E, 1)
    mem.write_u32(out, device)
    return STATUS_SUCCESS


@GROUP.export("IoDeleteDevice", 0x39, Param("device_object", K.PTR), returns=Returns.VOID)
def io_delete_device(k: KernelState, t: Thread, device: int) -> int:
    """Free a device object IoCreateDevice made; any other pointer is left alone (with a marker)."""
    if not device:
        return 0
    size = _devices(k).pop(device, None)
    if size is None:
        fail(k, t, device, "IoDeleteDevice of a pointer IoCreateDevice did not hand out")
        return 0
    k.memory.free_system(device, size, 8)
    return 0


# -- the file-system cache ------------------------------------------------------------------------


@GROUP.export("FscGetCacheElementCount", 0x20, Param("partition", K.U32), returns=Returns.VALUE)
def fsc_get_cache_element_count(k: KernelState, t: Thread, partition: int) -> int:
    """The cache's element count (canary: always 0)."""
    if k.quirks.fsc_cache_count_stub:
        return 0
    counts: dict[int, int] = k.ext.get("fsc", {})
    return counts.get(partition, 0)


@GROUP.export("FscSetCacheElementCount", 0x21, Param("partition", K.U32), Param("count", K.U32))
def fsc_set_cache_element_count(k: KernelState, t: Thread, partition: int, count: int) -> int:
    """Set the cache's element count (canary: ignored). Always STATUS_SUCCESS."""
    if not k.quirks.fsc_cache_count_stub:
        k.ext.setdefault("fsc", {})[partition] = count
    return STATUS_SUCCESS
