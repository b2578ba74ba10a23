"""File and volume information exports against the reference (sections 5.6, 9)."""

from __future__ import annotations

import struct

from tests.vfs.iokit import (
    CREATE,
    DIRECTORY,
    RW,
    IoKit,
)

from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_OVERFLOW,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_SUCCESS,
)


def test_query_information_classes(io: IoKit) -> None:
    h = io.open("game:\\data\\level1.bin")
    io.read(h, 7)
    status, data, info = io.query_info(h, 14, 8)
    assert (status, struct.unpack(">Q", data)[0], info) == (STATUS_SUCCESS, 7, 8)
    status, data, _ = io.query_info(h, 34, 60)
    assert status == STATUS_SUCCESS
    alloc, eof, attributes = struct.unpack(">QQI", data[32:52])
    assert (eof, alloc, attributes) == (200, 16384, 0x80)
    assert data[56:60] == b"\0\0\0\0"  # zero-filled past the structure
    assert io.query_info(h, 17, 4)[:2] == (STATUS_SUCCESS, b"\0\0\0\0")
    assert io.query_info(h, 6, 8)[0] == STATUS_SUCCESS
    assert io.query_info(h, 14, 7)[0] == STATUS_INFO_LENGTH_MISMATCH
    assert io.query_info(h, 99, 64)[0] == STATUS_INVALID_INFO_CLASS
    assert io.query_info(h, 9, 64)[0] == STATUS_INVALID_PARAMETER
    assert io.query_info(0xF80000F0, 14, 8)[0] == STATUS_INVALID_HANDLE
    # check order: class, then length, then handle
    assert io.query_info(0xF80000F0, 99, 1)[0] == STATUS_INVALID_INFO_CLASS
    assert io.query_info(0xF80000F0, 14, 1)[0] == STATUS_INFO_LENGTH_MISMATCH


def test_query_basic_and_standard_per_profile(io: IoKit) -> None:
    h = io.open("game:\\data\\level1.bin")
    status, data, _ = io.query_info(h, 4, 40)
    if io.k.profile == "canary":
        assert (status, data) == (STATUS_INVALID_PARAMETER, bytes(40))
        assert io.query_info(h, 5, 24)[0] == STATUS_INVALID_INFO_CLASS
    else:
        assert status == STATUS_SUCCESS and struct.unpack(">Q", data[32:])[0] == 0x80
        status, data, _ = io.query_info(h, 5, 24)
        assert status == STATUS_SUCCESS
        assert struct.unpack(">QQIBB", data[:22]) == (16384, 200, 1, 0, 0)


def test_set_position_end_of_file_and_allocation(io: IoKit) -> None:
    h = io.create("hdd:\\f.bin", RW, CREATE)[1]
    io.write(h, b"0123456789")
    assert io.set_info(h, 14, struct.pack(">q", 2)) == (STATUS_SUCCESS, STATUS_SUCCESS, 8)
    assert io.read(h, 3)[1] == b"234"
    assert io.set_info(h, 20, struct.pack(">q", 4))[0] == STATUS_SUCCESS
    assert (io.hdd / "f.bin").read_bytes() == b"0123"
    assert io.set_info(h, 19, struct.pack(">q", 1 << 20))[0] == STATUS_SUCCESS  # ignored
    assert io.set_info(h, 14, struct.pack(">q", -5))[0] == STATUS_INVALID_PARAMETER
    assert io.set_info(h, 14, b"\0" * 4)[0] == STATUS_INFO_LENGTH_MISMATCH
    assert io.set_info(h, 77, b"\0" * 8)[0] == STATUS_INVALID_INFO_CLASS
    assert io.set_info(0xF80000F0, 14, b"\0" * 8)[0] == STATUS_INVALID_HANDLE


def test_unsupported_set_classes_per_profile(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    for cls, size in ((11, 16), (16, 4), (32, 4), (23, 8)):
        expected = io.canary_or(STATUS_SUCCESS, STATUS_INVALID_INFO_CLASS)
        assert io.set_info(h, cls, b"\0" * size)[0] == expected, cls


def test_rename(io: IoKit) -> None:
    (io.hdd / "a.txt").write_bytes(b"A")
    (io.hdd / "b.txt").write_bytes(b"B")
    (io.hdd / "sub").mkdir()
    h = io.open("hdd:\\a.txt", RW)
    assert io.set_info(h, 10, io.rename_info("B.TXT"))[0] == STATUS_OBJECT_NAME_COLLISION
    assert io.set_info(h, 10, io.rename_info("c.txt"))[0] == STATUS_SUCCESS
    assert sorted(p.name for p in io.hdd.iterdir()) == ["b.txt", "c.txt", "sub"]
    assert io.set_info(h, 10, io.rename_info("hdd:\\sub\\d.txt"))[0] == STATUS_SUCCESS
    assert (io.hdd / "sub" / "d.txt").read_bytes() == b"A"
    assert io.set_info(h, 10, io.rename_info("hdd:\\b.txt", True))[0] == STATUS_SUCCESS
    assert sorted(p.name for p in io.hdd.iterdir()) == ["b.txt", "sub"]
    assert (io.hdd / "b.txt").read_bytes() == b"A"
    assert io.read(h, 1)[1] == b"A"  # the handle follows the file
    assert io.set_info(h, 10, io.rename_info("game:\\x.txt"))[0] == STATUS_ACCESS_DENIED
    assert io.set_info(h, 10, io.rename_info("hdd:\\..\\x"))[0] == STATUS_NO_SUCH_FILE


def test_delete_on_close(io: IoKit) -> None:
    (io.hdd / "gone.txt").write_bytes(b"x")
    h = io.open("hdd:\\gone.txt", RW)
    dup = io.out()
    io.k.call("NtDuplicateObject", h, dup, 0)
    assert io.set_info(h, 13, b"\x01")[0] == STATUS_SUCCESS
    io.close(h)
    assert (io.hdd / "gone.txt").exists()  # a duplicate still holds the object
    io.close(io.mem.read_u32(dup))
    assert not (io.hdd / "gone.txt").exists()
    (io.hdd / "full").mkdir()
    (io.hdd / "full" / "x").write_bytes(b"")
    d = io.open("hdd:\\full", RW, DIRECTORY)
    assert io.set_info(d, 13, b"\x01")[0] == 0xC0000101  # STATUS_DIRECTORY_NOT_EMPTY


def test_query_full_attributes(io: IoKit) -> None:
    info = io.out(56)
    assert io.k.call("NtQueryFullAttributesFile", io.attrs("game:\\README.txt"), info) == 0
    alloc, eof, attributes = struct.unpack(">QQI", io.mem.read_bytes(info + 32, 20))
    assert (alloc, eof, attributes) == (16384, 11, 0x80)
    assert io.k.call("NtQueryFullAttributesFile", io.attrs("game:\\data"), info) == 0
    assert io.mem.read_u32(info + 48) == 0x10
    missing = io.k.call("NtQueryFullAttributesFile", io.attrs("game:\\none"), info)
    assert missing == STATUS_NO_SUCH_FILE
    assert io.k.call("NtQueryFullAttributesFile", 0, info) == STATUS_INVALID_PARAMETER
    bad = io.k.call("NtQueryFullAttributesFile", io.attrs(b"game:\\a<b"), info)
    assert bad == STATUS_OBJECT_NAME_INVALID
    mtime = (io.title / "readme.txt").stat().st_mtime_ns
    assert io.k.call("NtQueryFullAttributesFile", io.attrs("game:\\readme.txt"), info) == 0
    assert (io.mem.read_u64(info + 16) - 116444736000000000) * 100 == mtime // 100 * 100


def test_volume_information(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    iosb, buf = io.out(8), io.out(64)
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 64, 3) == STATUS_SUCCESS
    total, free, spc, bps = struct.unpack(">QQII", io.mem.read_bytes(buf, 24))
    assert (spc, bps) == (32, 512) and total >= free
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 64, 5) == STATUS_SUCCESS
    assert io.mem.read_bytes(buf + 12, 4) == b"FATX" and io.mem.read_u32(iosb + 4) == 16
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 14, 5) == STATUS_BUFFER_OVERFLOW
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 64, 1) == STATUS_SUCCESS
    assert io.mem.read_bytes(buf + 18, io.mem.read_u32(buf + 12)) == b"title"
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 64, 4) == STATUS_SUCCESS
    assert struct.unpack(">II", io.mem.read_bytes(buf, 8)) == (2, 2)  # CD-ROM, read-only
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 64, 2) == (
        STATUS_INVALID_INFO_CLASS
    )
    assert io.k.call("NtQueryVolumeInformationFile", h, iosb, buf, 4, 3) == (
        STATUS_INFO_LENGTH_MISMATCH
    )
    bad = io.k.call("NtQueryVolumeInformationFile", 0xF80000F0, iosb, buf, 64, 3)
    assert bad == STATUS_INVALID_HANDLE
