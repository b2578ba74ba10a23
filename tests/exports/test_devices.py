"""NtReadFileScatter, NtDeviceIoControlFile, IoCreate/DeleteDevice and the Fsc cache count."""

from __future__ import annotations

import pytest
from tests.vfs.iokit import FILL, IoKit

from x360k.exports.devices import IOCTL_DISK_GET_DRIVE_GEOMETRY, IOCTL_DISK_GET_PARTITION_INFO
from x360k.kernel import Kernel
from x360k.native.bridge import native_state
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_END_OF_FILE,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS,
)

PAGE = 4096


def scatter(io: IoKit, handle: int, pages: list[int], length: int, offset: int = 0) -> int:
    m = io.mem
    array = m.alloc(4 * max(len(pages), 1), 4)
    for i, p in enumerate(pages):
        m.write_u32(array + 4 * i, p)
    off = m.alloc(8, 8)
    m.write_s64(off, offset)
    iosb = io.out(8)
    status = io.k.call("NtReadFileScatter", handle, 0, 0, 0, iosb, array, length, off)
    io.mem.write_u32(array, m.read_u32(iosb + 4))  # stash the information for the caller
    return status


def test_scatter_fills_one_page_per_segment(io: IoKit) -> None:
    data = bytes(i * 7 & 0xFF for i in range(3 * PAGE))
    (io.title / "big.bin").write_bytes(data)
    h = io.open("game:\\big.bin")
    pages = [io.out(PAGE) for _ in range(3)]
    m = io.mem
    array = m.alloc(12, 4)
    for i, p in enumerate(pages):
        m.write_u32(array + 4 * i, p)
    iosb = io.out(8)
    length = 2 * PAGE + 100
    status = io.k.call("NtReadFileScatter", h, 0, 0, 0, iosb, array, length, 0)
    assert status == STATUS_SUCCESS
    assert (m.read_u32(iosb), m.read_u32(iosb + 4)) == (STATUS_SUCCESS, length)
    assert m.read_bytes(pages[0], PAGE) == data[:PAGE]
    assert m.read_bytes(pages[1], PAGE) == data[PAGE : 2 * PAGE]
    assert m.read_bytes(pages[2], 100) == data[2 * PAGE : 2 * PAGE + 100]
    assert m.read_bytes(pages[2] + 100, 4) == b"\xcc" * 4  # only what was asked
    # The read moved the file position: a second read goes on from there.
    assert io.read(h, 4)[1] == data[length : length + 4]


def test_scatter_past_the_end_reports_end_of_file_and_what_it_read(io: IoKit) -> None:
    (io.title / "small.bin").write_bytes(b"x" * (PAGE + 10))
    h = io.open("game:\\small.bin")
    pages = [io.out(PAGE) for _ in range(3)]
    assert scatter(io, h, pages, 3 * PAGE) == STATUS_END_OF_FILE
    assert io.mem.read_bytes(pages[1], 10) == b"x" * 10


def test_scatter_hostile_arguments(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    good = io.out(PAGE)
    # A bad segment pointer anywhere: nothing is read, the position stays.
    assert scatter(io, h, [good, 0xFFFFF000], PAGE + 1) == STATUS_ACCESS_VIOLATION
    assert io.mem.read_u32(good) == FILL
    assert io.read(h, 5)[1] == b"hello"
    # A segment array that runs off mapped memory.
    iosb = io.out(8)
    huge = io.k.call("NtReadFileScatter", h, 0, 0, 0, iosb, good, 0xFFFFFFFF, 0)
    assert huge == STATUS_ACCESS_VIOLATION
    assert scatter(io, 0xF8000FFC, [good], 4) == STATUS_INVALID_HANDLE
    assert scatter(io, h, [good], 4, offset=-5) == STATUS_INVALID_PARAMETER
    io.k.table.check_invariants()


def ioctl(k: Kernel, handle: int, code: int, out_len: int) -> tuple[int, int, bytes]:
    out = k.memory.alloc(16, 8)
    k.memory.write_bytes(out, b"\xcc" * 16)
    iosb = k.memory.alloc(8, 8)
    k.memory.write_bytes(iosb, b"\xcc" * 8)
    status = k.call("NtDeviceIoControlFile", handle, 0, 0, 0, iosb, code, 0, 0, out, out_len)
    return status, k.memory.read_u32(iosb), k.memory.read_bytes(out, 16)


def test_disk_ioctls(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    status, iosb, out = ioctl(io.k, h, IOCTL_DISK_GET_DRIVE_GEOMETRY, 8)
    assert status == STATUS_SUCCESS
    assert out[:8] == (0xFF000 // 512).to_bytes(4, "big") + (512).to_bytes(4, "big")
    status, iosb, out = ioctl(io.k, h, IOCTL_DISK_GET_PARTITION_INFO, 16)
    assert (status, out) == (STATUS_SUCCESS, bytes(8) + (0xFF000).to_bytes(8, "big"))
    # Canary leaves the IO_STATUS_BLOCK alone; the console completes the request.
    assert iosb == io.canary_or(FILL, STATUS_SUCCESS)
    assert ioctl(io.k, h, IOCTL_DISK_GET_PARTITION_INFO, 15)[0] == STATUS_BUFFER_TOO_SMALL
    assert ioctl(io.k, h, 0x12345, 16)[0] == STATUS_INVALID_PARAMETER


@pytest.mark.parametrize("profile", PROFILES)
def test_ioctl_on_a_bad_handle(profile: Profile) -> None:
    k = Kernel(profile)
    status = ioctl(k, 0x12345678, IOCTL_DISK_GET_DRIVE_GEOMETRY, 8)[0]
    # Canary never looks at the handle.
    assert status == (STATUS_SUCCESS if profile == "canary" else STATUS_INVALID_HANDLE)


@pytest.mark.parametrize("profile", PROFILES)
def test_create_and_delete_device(profile: Profile) -> None:
    k = Kernel(profile)
    m = k.memory
    out = m.alloc(4, 4)
    name = m.new_ansi_string(b"\\Device\\Mu0")
    assert k.call("IoCreateDevice", 0x1234, 20, name, 3, 0, out) == STATUS_SUCCESS
    dev = m.read_u32(out)
    assert m.read_u8(dev) == 3
    assert m.read_u16(dev + 2) == 100  # the unaligned size
    assert m.read_u32(dev + 8) == 0x1234
    assert m.read_u32(dev + 0xC) == dev  # type 3 points at itself
    assert m.read_u32(dev + 0x14) == 0x18  # named
    assert m.read_u32(dev + 0x18) == dev + 80  # the extension
    assert m.read_u8(dev + 0x1C) == 3
    assert m.read_u8(dev + 0x1E) == 1
    assert k.call("IoCreateDevice", 0, 0, 0, 7, 0, out) == STATUS_SUCCESS
    other = m.read_u32(out)
    assert (m.read_u32(other + 0xC), m.read_u32(other + 0x14)) == (0, 0x10)
    failures = native_state(k).failures
    k.call("IoDeleteDevice", dev)
    k.call("IoDeleteDevice", other)
    assert native_state(k).failures == failures
    k.call("IoDeleteDevice", dev)  # a second delete frees nothing and says so
    assert native_state(k).failures == failures + 1
    assert k.call("IoCreateDevice", 0, 0, 0, 3, 0, 0xFFFFFFF0) == STATUS_ACCESS_VIOLATION
    assert k.call("IoCreateDevice", 0, 0xFFFFFFFF, 0, 3, 0, out) != STATUS_SUCCESS


@pytest.mark.parametrize("profile", PROFILES)
def test_fsc_cache_element_count(profile: Profile) -> None:
    k = Kernel(profile)
    assert k.call("FscGetCacheElementCount", 0) == 0
    assert k.call("FscSetCacheElementCount", 0, 256) == STATUS_SUCCESS
    assert k.call("FscGetCacheElementCount", 0) == (0 if profile == "canary" else 256)
