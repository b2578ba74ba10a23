"""File, directory, link and completion-port exports against the reference (sections 5.6, 9)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tests.vfs.iokit import (
    CREATE,
    DIRECTORY,
    FILL,
    GENERIC_READ,
    GENERIC_WRITE,
    NON_DIRECTORY,
    OPEN,
    OPEN_IF,
    OVERWRITE,
    OVERWRITE_IF,
    SUPERSEDE,
    SYNC,
    IoKit,
)

from x360k.objects.thread import Thread
from x360k.quirks import PROFILES
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_END_OF_FILE,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES,
    STATUS_NO_SUCH_FILE,
    STATUS_NOT_A_DIRECTORY,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_UNSUCCESSFUL,
    STATUS_USER_APC,
)

RW = GENERIC_READ | GENERIC_WRITE


@pytest.fixture(params=PROFILES)
def io(request: pytest.FixtureRequest, tmp_path: Path) -> IoKit:
    kit = IoKit(tmp_path, request.param)
    (kit.title / "Data").mkdir()
    (kit.title / "Data" / "Level1.BIN").write_bytes(bytes(range(200)))
    (kit.title / "readme.txt").write_bytes(b"hello world")
    return kit


@pytest.fixture
def canary(tmp_path: Path) -> IoKit:
    return IoKit(tmp_path, "canary")


@pytest.fixture
def console(tmp_path: Path) -> IoKit:
    return IoKit(tmp_path, "console")


def canary_or(io: IoKit, canary_value: int, console_value: int) -> int:
    return canary_value if io.k.profile == "canary" else console_value


# -- NtCreateFile / NtOpenFile ------------------------------------------------------------------


def test_open_existing_case_insensitively(io: IoKit) -> None:
    status, handle, iosb_status, info = io.create("GAME:\\data\\level1.bin")
    assert (status, iosb_status, info) == (STATUS_SUCCESS, STATUS_SUCCESS, 1)
    assert handle & 0xF8000000 == 0xF8000000
    assert io.read(handle, 4)[1] == bytes([0, 1, 2, 3])


def test_open_through_dos_prefix_device_path_and_d_link(io: IoKit) -> None:
    for path in ("\\??\\game:\\readme.txt", "\\Device\\Cdrom0\\README.TXT", "d:\\readme.txt"):
        assert io.create(path)[0] == STATUS_SUCCESS, path


def test_missing_file_statuses_and_outputs(io: IoKit) -> None:
    status, handle, iosb_status, info = io.create("game:\\nope.bin")
    assert (status, iosb_status, info) == (STATUS_NO_SUCH_FILE, STATUS_NO_SUCH_FILE, 5)
    assert handle == canary_or(io, 0xFFFFFFFF, FILL)
    # a missing parent folder is the same status
    assert io.create("game:\\nodir\\x.bin")[0] == STATUS_NO_SUCH_FILE


def test_early_rejections_write_nothing(io: IoKit) -> None:
    hp, iosb = io.out(), io.out(8)
    assert io.k.call("NtCreateFile", hp, 0, 0, iosb, 0, 0, 0, OPEN, 0) == STATUS_INVALID_PARAMETER
    for bad in (b"game:\\a*b", b"game:\\a?b", b"game:\\a\x01b", b"game:\\\xe9", b"game:\\a|b"):
        attrs = io.attrs(bad)
        status = io.k.call("NtCreateFile", hp, 0, attrs, iosb, 0, 0, 0, OPEN, 0)
        assert status == STATUS_OBJECT_NAME_INVALID, bad
    assert io.mem.read_u32(hp) == FILL and io.mem.read_u32(iosb) == FILL


def test_dispositions_on_writable_device(io: IoKit) -> None:
    path = "hdd:\\save.dat"
    assert io.create(path, RW, OPEN)[0] == STATUS_NO_SUCH_FILE
    assert io.create(path, RW, OVERWRITE)[::2] == (STATUS_NO_SUCH_FILE, STATUS_NO_SUCH_FILE)
    status, h, _, info = io.create(path, RW, CREATE)
    assert (status, info) == (STATUS_SUCCESS, 2)
    assert io.write(h, b"abcdef")[0] == STATUS_SUCCESS
    io.close(h)
    status, _, iosb_status, info = io.create(path, RW, CREATE)
    assert (status, iosb_status, info) == (STATUS_OBJECT_NAME_COLLISION,) * 2 + (4,)
    assert io.create(path, RW, OPEN_IF)[::3] == (STATUS_SUCCESS, 1)
    assert (io.hdd / "save.dat").read_bytes() == b"abcdef"
    assert io.create(path, RW, OVERWRITE)[::3] == (STATUS_SUCCESS, 3)
    assert (io.hdd / "save.dat").read_bytes() == b""
    (io.hdd / "save.dat").write_bytes(b"zz")
    assert io.create(path, RW, OVERWRITE_IF)[::3] == (STATUS_SUCCESS, 3)
    (io.hdd / "save.dat").write_bytes(b"zz")
    assert io.create(path, RW, SUPERSEDE)[::3] == (STATUS_SUCCESS, 0)
    assert (io.hdd / "save.dat").read_bytes() == b""
    assert io.create("hdd:\\new.dat", RW, SUPERSEDE)[::3] == (STATUS_SUCCESS, 2)
    assert io.create("hdd:\\new2.dat", RW, OVERWRITE_IF)[::3] == (STATUS_SUCCESS, 2)
    assert io.create("hdd:\\new3.dat", RW, OPEN_IF)[::3] == (STATUS_SUCCESS, 2)
    assert sorted(p.name for p in io.hdd.iterdir()) == [
        "new.dat",
        "new2.dat",
        "new3.dat",
        "save.dat",
    ]


def test_directories(io: IoKit) -> None:
    status, _, iosb_status, info = io.create("game:\\data", options=NON_DIRECTORY | SYNC)
    assert (status, iosb_status) == (STATUS_FILE_IS_A_DIRECTORY,) * 2
    assert info == FILL  # canary leaves Information alone on this path
    assert io.create("game:\\data", options=DIRECTORY)[0] == STATUS_SUCCESS
    assert io.create("hdd:\\saves", RW, CREATE, DIRECTORY)[::3] == (STATUS_SUCCESS, 2)
    assert (io.hdd / "saves").is_dir()
    # FILE_DIRECTORY_FILE on a regular file: canary opens it, the console refuses
    expected = canary_or(io, STATUS_SUCCESS, STATUS_NOT_A_DIRECTORY)
    assert io.create("game:\\readme.txt", options=DIRECTORY)[0] == expected


def test_root_directory_handle(io: IoKit) -> None:
    root = io.open("game:\\Data", options=DIRECTORY)
    status, h, _, _ = io.create("LEVEL1.bin", root=root)
    assert status == STATUS_SUCCESS
    assert io.read(h, 2)[1] == b"\x00\x01"
    assert io.create("x", root=0xF80000F0)[0] == STATUS_INVALID_HANDLE
    ev = io.out()
    io.k.call("NtCreateEvent", ev, 0, 0, 0)
    assert io.create("x", root=io.mem.read_u32(ev))[0] == STATUS_OBJECT_TYPE_MISMATCH
    # 0xFFFFFFFD is the DOS-devices root: the same as no root
    assert io.create("game:\\readme.txt", root=0xFFFFFFFD)[0] == STATUS_SUCCESS


def test_open_file_is_create_with_open(io: IoKit) -> None:
    hp, iosb = io.out(), io.out(8)
    attrs = io.attrs("game:\\readme.txt")
    assert io.k.call("NtOpenFile", hp, GENERIC_READ, attrs, iosb, SYNC) == STATUS_SUCCESS
    assert io.mem.read_u32(iosb + 4) == 1
    attrs = io.attrs("hdd:\\absent")
    assert io.k.call("NtOpenFile", hp, RW, attrs, iosb, SYNC) == STATUS_NO_SUCH_FILE
    assert not (io.hdd / "absent").exists()


def test_handle_create_carries_the_guest_path(io: IoKit) -> None:
    h = io.open("game:\\Data\\Level1.bin")
    creates = [e for e in io.rec.events if e.kind == "handle.create" and e.handle == h]
    assert creates[-1].object_type == "File"
    assert creates[-1].path == "game:\\Data\\Level1.bin"


def test_bad_out_pointers_change_nothing(io: IoKit) -> None:
    live = len(io.k.table.live_handles())
    attrs = io.attrs("hdd:\\made.bin")
    status = io.k.call("NtCreateFile", 0x10, RW, attrs, 0, 0, 0, 0, CREATE, SYNC)
    assert status == STATUS_ACCESS_VIOLATION
    assert len(io.k.table.live_handles()) == live and not (io.hdd / "made.bin").exists()


# -- reads and writes ---------------------------------------------------------------------------


def test_read_position_offsets_and_end_of_file(io: IoKit) -> None:
    h = io.open("game:\\data\\level1.bin")
    assert io.read(h, 10)[:2] == (STATUS_SUCCESS, bytes(range(10)))
    assert io.read(h, 5)[1] == bytes(range(10, 15))
    assert io.read(h, 3, offset=100)[1] == bytes([100, 101, 102])
    assert io.read(h, 2)[1] == bytes([103, 104])  # position followed the explicit offset
    assert io.read(h, 2, offset=-1)[1] == bytes([105, 106])  # -1 means "current position"
    status, data, _iosb_status, info = io.read(h, 500, offset=190)
    assert (status, data, info) == (STATUS_SUCCESS, bytes(range(190, 200)), 10)
    assert io.read(h, 4) == (STATUS_END_OF_FILE, b"", STATUS_END_OF_FILE, 0)
    assert io.read(h, 0)[0] == STATUS_SUCCESS  # a zero-length read succeeds


def test_read_and_write_record_offset_and_length(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    io.read(h, 5)
    io.read(h, 100, offset=6)
    returns = [e for e in io.rec.events if e.kind == "kernel.return" and e.name == "NtReadFile"]
    assert [(e.offset, e.length) for e in returns] == [(0, 5), (6, 5)]
    w = io.create("hdd:\\w.bin", RW, CREATE)[1]
    io.write(w, b"xyz", offset=4)
    ret = [e for e in io.rec.events if e.kind == "kernel.return" and e.name == "NtWriteFile"]
    assert (ret[-1].offset, ret[-1].length) == (4, 3)
    # calls that fail before any I/O carry no offset
    io.read(0xF80000F0, 4)
    assert io.rec.events[-1].offset is None


def test_asynchronous_handle_returns_pending_under_canary(io: IoKit) -> None:
    h = io.open("game:\\readme.txt", options=0)
    status, data, iosb_status, info = io.read(h, 5)
    assert status == canary_or(io, STATUS_PENDING, STATUS_SUCCESS)
    assert (data, iosb_status, info) == (b"hello", STATUS_SUCCESS, 5)  # done all the same
    # end of file is returned as is for reads, even on asynchronous handles
    assert io.read(h, 5, offset=50)[0] == STATUS_END_OF_FILE
    w = io.create("hdd:\\a.bin", RW, CREATE, options=0)[1]
    assert io.write(w, b"abc")[0] == canary_or(io, STATUS_PENDING, STATUS_SUCCESS)
    assert (io.hdd / "a.bin").read_bytes() == b"abc"


def test_write_extends_and_overwrites(io: IoKit) -> None:
    h = io.create("hdd:\\f.bin", RW, CREATE)[1]
    assert io.write(h, b"hello") == (STATUS_SUCCESS, STATUS_SUCCESS, 5)
    assert io.write(h, b"XY", offset=1)[0] == STATUS_SUCCESS
    assert io.write(h, b"!")[0] == STATUS_SUCCESS  # at the position after the last write
    assert io.write(h, b"end", offset=10)[0] == STATUS_SUCCESS
    assert (io.hdd / "f.bin").read_bytes() == b"hXY!o\0\0\0\0\0end"


def test_read_only_device_refuses_every_write(io: IoKit) -> None:
    target = io.title / "readme.txt"
    before = (target.read_bytes(), target.stat().st_mtime_ns)
    assert io.create("game:\\readme.txt", RW)[0] == STATUS_ACCESS_DENIED
    assert io.create("game:\\readme.txt", GENERIC_READ, OVERWRITE)[0] == STATUS_ACCESS_DENIED
    assert io.create("game:\\new.txt", RW, CREATE)[0] == STATUS_ACCESS_DENIED
    assert io.create("game:\\newdir", RW, CREATE, DIRECTORY)[0] == STATUS_ACCESS_DENIED
    h = io.open("game:\\readme.txt")
    assert io.write(h, b"evil")[:2] == (STATUS_ACCESS_DENIED, STATUS_ACCESS_DENIED)
    assert io.set_info(h, 20, struct.pack(">q", 0))[0] == STATUS_ACCESS_DENIED
    assert io.set_info(h, 13, b"\x01")[0] == STATUS_ACCESS_DENIED
    assert io.set_info(h, 10, _rename_info(io, "evil.txt"))[0] == STATUS_ACCESS_DENIED
    io.close(h)
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before
    assert sorted(p.name for p in io.title.iterdir()) == ["Data", "readme.txt"]


def test_access_rights_are_checked(io: IoKit) -> None:
    (io.hdd / "f.bin").write_bytes(b"data")
    h = io.open("hdd:\\f.bin", GENERIC_WRITE)
    assert io.read(h, 4)[0] == STATUS_ACCESS_DENIED
    r = io.open("hdd:\\f.bin", GENERIC_READ)
    assert io.write(r, b"x")[0] == STATUS_ACCESS_DENIED
    assert (io.hdd / "f.bin").read_bytes() == b"data"


def test_read_errors(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    iosb = io.out(8)
    status = io.k.call("NtReadFile", 0xF80000F0, 0, 0, 0, iosb, io.out(8), 8, 0)
    assert status == STATUS_INVALID_HANDLE
    assert (io.mem.read_u32(iosb), io.mem.read_u32(iosb + 4)) == (STATUS_INVALID_HANDLE, 0)
    status = io.k.call("NtReadFile", h, 0xF80000F0, 0, 0, io.out(8), io.out(8), 8, 0)
    assert status == STATUS_INVALID_HANDLE
    assert io.k.call("NtReadFile", h, 0, 0, 0, io.out(8), 0x10, 8, 0) == STATUS_ACCESS_VIOLATION
    assert io.read(h, 4)[1] == b"hell"  # the failed calls moved nothing
    ev = io.out()
    io.k.call("NtCreateEvent", ev, 0, 0, 0)
    assert io.read(io.mem.read_u32(ev), 4)[0] == STATUS_OBJECT_TYPE_MISMATCH
    assert io.read(h, 4, event=h)[0] == STATUS_OBJECT_TYPE_MISMATCH
    d = io.open("game:\\data", options=DIRECTORY | SYNC)
    assert io.read(d, 4)[0] == STATUS_FILE_IS_A_DIRECTORY


def test_duplicate_shares_the_position(io: IoKit) -> None:
    h = io.open("game:\\data\\level1.bin")
    dup = io.out()
    assert io.k.call("NtDuplicateObject", h, dup, 0) == STATUS_SUCCESS
    d = io.mem.read_u32(dup)
    assert d != h
    assert io.read(h, 3)[1] == bytes([0, 1, 2])
    assert io.read(d, 3)[1] == bytes([3, 4, 5])
    io.close(h)
    assert io.read(d, 2)[1] == bytes([6, 7])
    # a second NtCreateFile of the same path is a new object with its own position
    other = io.open("game:\\data\\level1.bin")
    assert io.read(other, 1)[1] == b"\x00"


# -- completion through an event, an APC, a port, and the file itself -------------------------


def _event(io: IoKit, manual: bool = True) -> int:
    ptr = io.out()
    io.k.call("NtCreateEvent", ptr, 0, 0 if manual else 1, 0)
    return io.mem.read_u32(ptr)


def _zero_timeout(io: IoKit) -> int:
    ptr = io.mem.alloc(8, 8)
    io.mem.write_s64(ptr, 0)
    return ptr


def test_async_read_completes_through_an_event(io: IoKit) -> None:
    h = io.open("game:\\readme.txt", options=0)
    ev = _event(io)
    poll = _zero_timeout(io)
    assert io.k.call("NtWaitForSingleObjectEx", ev, 1, 0, poll) == STATUS_TIMEOUT
    status, data, iosb_status, _ = io.read(h, 5, event=ev)
    assert status == canary_or(io, STATUS_PENDING, STATUS_SUCCESS)
    assert io.k.call("NtWaitForSingleObjectEx", ev, 1, 0, poll) == STATUS_SUCCESS
    assert (data, iosb_status) == (b"hello", STATUS_SUCCESS)


def test_async_read_completes_through_an_apc(io: IoKit) -> None:
    calls: list[tuple[int, ...]] = []

    def routine(t: Thread, args: tuple[int, ...]):  # type: ignore[no-untyped-def]
        calls.append(args)
        return None
        yield  # a generator with no calls

    address = io.k.register_routine(routine)
    h = io.open("game:\\readme.txt", options=0)
    iosb, buf = io.out(8), io.out(8)
    status = io.k.call("NtReadFile", h, 0, address | 1, 0x1234, iosb, buf, 5, 0)
    assert status == canary_or(io, STATUS_PENDING, STATUS_SUCCESS)
    assert calls == []  # only runs at an alertable wait
    assert io.k.call("KeDelayExecutionThread", 1, 1, _zero_timeout(io)) == STATUS_USER_APC
    assert calls == [(0x1234, iosb, 0)]
    assert io.mem.read_u32(iosb + 4) == 5
    # no context: canary queues nothing, the console still does
    io.k.call("NtReadFile", h, 0, address, 0, io.out(8), buf, 1, 0)
    status = io.k.call("KeDelayExecutionThread", 1, 1, _zero_timeout(io))
    assert status == canary_or(io, STATUS_SUCCESS, STATUS_USER_APC)
    assert len(calls) == canary_or(io, 1, 2)


def _port(io: IoKit) -> int:
    ptr = io.out()
    assert io.k.call("NtCreateIoCompletion", ptr, 0, 0, 0) == STATUS_SUCCESS
    return io.mem.read_u32(ptr)


def _remove(io: IoKit, port: int, timeout: int | None = 0) -> tuple[int, int, int, int, int]:
    key, ctx, iosb = io.out(), io.out(), io.out(8)
    t = 0
    if timeout is not None:
        t = io.mem.alloc(8, 8)
        io.mem.write_s64(t, timeout)
    status = io.k.call("NtRemoveIoCompletion", port, key, ctx, iosb, t)
    m = io.mem
    return status, m.read_u32(key), m.read_u32(ctx), m.read_u32(iosb), m.read_u32(iosb + 4)


def test_async_read_completes_through_a_port(io: IoKit) -> None:
    port = _port(io)
    h = io.open("game:\\readme.txt", options=0)
    payload = struct.pack(">II", port, 0xABCD)
    assert io.set_info(h, 30, payload) == (STATUS_SUCCESS, STATUS_SUCCESS, 8)
    iosb, buf = io.out(8), io.out(8)
    io.k.call("NtReadFile", h, 0, 0, 0x77, iosb, buf, 4, 0)
    io.k.call("NtReadFile", h, 0, 0, 0x78, iosb, buf, 400, 0)
    assert _remove(io, port) == (STATUS_SUCCESS, 0xABCD, 0x77, STATUS_SUCCESS, 4)
    assert _remove(io, port) == (STATUS_SUCCESS, 0xABCD, 0x78, STATUS_SUCCESS, 7)
    assert _remove(io, port)[0] == STATUS_TIMEOUT
    assert io.set_info(h, 30, struct.pack(">II", 0xF80000F0, 1))[0] == STATUS_INVALID_HANDLE


def test_file_handle_wait_succeeds_once_per_io(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    poll = _zero_timeout(io)
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_TIMEOUT
    io.read(h, 1)
    io.read(h, 1)
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_SUCCESS
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_TIMEOUT


# -- information ----------------------------------------------------------------------------


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
        expected = canary_or(io, STATUS_SUCCESS, STATUS_INVALID_INFO_CLASS)
        assert io.set_info(h, cls, b"\0" * size)[0] == expected, cls


def _rename_info(io: IoKit, name: str, replace: bool = False) -> bytes:
    text = io.mem.new_ansi_string(name)
    length, maximum, buffer = struct.unpack(">HHI", io.mem.read_bytes(text, 8))
    return struct.pack(">IIHHI", int(replace), 0, length, maximum, buffer)


def test_rename(io: IoKit) -> None:
    (io.hdd / "a.txt").write_bytes(b"A")
    (io.hdd / "b.txt").write_bytes(b"B")
    (io.hdd / "sub").mkdir()
    h = io.open("hdd:\\a.txt", RW)
    assert io.set_info(h, 10, _rename_info(io, "B.TXT"))[0] == STATUS_OBJECT_NAME_COLLISION
    assert io.set_info(h, 10, _rename_info(io, "c.txt"))[0] == STATUS_SUCCESS
    assert sorted(p.name for p in io.hdd.iterdir()) == ["b.txt", "c.txt", "sub"]
    assert io.set_info(h, 10, _rename_info(io, "hdd:\\sub\\d.txt"))[0] == STATUS_SUCCESS
    assert (io.hdd / "sub" / "d.txt").read_bytes() == b"A"
    assert io.set_info(h, 10, _rename_info(io, "hdd:\\b.txt", True))[0] == STATUS_SUCCESS
    assert sorted(p.name for p in io.hdd.iterdir()) == ["b.txt", "sub"]
    assert (io.hdd / "b.txt").read_bytes() == b"A"
    assert io.read(h, 1)[1] == b"A"  # the handle follows the file
    assert io.set_info(h, 10, _rename_info(io, "game:\\x.txt"))[0] == STATUS_ACCESS_DENIED
    assert io.set_info(h, 10, _rename_info(io, "hdd:\\..\\x"))[0] == STATUS_NO_SUCH_FILE


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


def test_flush(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    iosb = io.out(8)
    assert io.k.call("NtFlushBuffersFile", h, iosb) == STATUS_SUCCESS
    assert io.mem.read_u32(iosb) == 0
    assert io.k.call("NtFlushBuffersFile", 0xF80000F0, iosb) == STATUS_INVALID_HANDLE


# -- directories ----------------------------------------------------------------------------


@pytest.fixture
def tree(io: IoKit) -> IoKit:
    for name in ("beta.txt", "Alpha.TXT", "gamma.bin", "a1.txt", "ab.txt", "Zed"):
        (io.hdd / name).write_bytes(name.encode())
    (io.hdd / "dir").mkdir()
    return io


def test_directory_listing_order_and_patterns(tree: IoKit) -> None:
    io = tree
    d = io.open("hdd:\\", options=DIRECTORY)
    expected = ["a1.txt", "ab.txt", "Alpha.TXT", "beta.txt", "dir", "gamma.bin", "Zed"]
    assert io.list_all(d) == expected
    for pattern, want in (
        ("*.txt", ["a1.txt", "ab.txt", "Alpha.TXT", "beta.txt"]),
        ("A?.TXT", ["a1.txt", "ab.txt"]),
        ("*A*", ["a1.txt", "ab.txt", "Alpha.TXT", "beta.txt", "gamma.bin"]),
        ("zed", ["Zed"]),
        ("*.*", expected),
        ("nothing*", []),
    ):
        fresh = io.open("hdd:\\", options=DIRECTORY)
        assert io.list_all(fresh, pattern) == want, pattern


def test_directory_single_entry_or_many_and_restart(tree: IoKit) -> None:
    io = tree
    d = io.open("hdd:\\", options=DIRECTORY)
    status, names = io.list_dir(d, "*.txt")
    assert status == STATUS_SUCCESS
    many = ["a1.txt", "ab.txt", "Alpha.TXT", "beta.txt"]
    assert names == (["a1.txt"] if io.k.profile == "canary" else many)
    status, names = io.list_dir(d, "*.txt", restart=True)  # restart from the first entry
    assert names[0] == "a1.txt"
    # a buffer with room for one entry returns one under both profiles
    status, names = io.list_dir(d, length=80, restart=True)
    assert names == ["a1.txt"]
    while status == STATUS_SUCCESS:
        status, names = io.list_dir(d)
    assert status == STATUS_NO_MORE_FILES
    assert io.list_dir(d)[0] == STATUS_NO_MORE_FILES
    assert io.list_dir(d, length=71)[0] == STATUS_INFO_LENGTH_MISMATCH
    f = io.open("hdd:\\beta.txt")
    assert io.list_dir(f)[0] == STATUS_INVALID_PARAMETER


def test_directory_entry_layout(tree: IoKit) -> None:
    io = tree
    d = io.open("hdd:\\", options=DIRECTORY)
    iosb, buf = io.out(8), io.out(200)
    name = io.mem.new_ansi_string("gamma.bin")
    assert io.k.call("NtQueryDirectoryFile", d, 0, 0, 0, iosb, buf, 200, name, 0) == 0
    m = io.mem
    assert m.read_u32(buf) == 0  # NextEntryOffset: last entry
    assert (m.read_u64(buf + 40), m.read_u64(buf + 48)) == (9, 16384)
    assert (m.read_u32(buf + 56), m.read_u32(buf + 60)) == (0x80, 9)
    assert m.read_bytes(buf + 64, 9) == b"gamma.bin"
    assert m.read_u32(iosb + 4) == 64 + 9


# -- completion ports ----------------------------------------------------------------------


def test_port_fifo_and_timeouts(io: IoKit) -> None:
    port = _port(io)
    for i in range(3):
        assert io.k.call("NtSetIoCompletion", port, i, 10 + i, 0x100 + i, 20 + i) == 0
    for i in range(3):
        assert _remove(io, port) == (STATUS_SUCCESS, i, 10 + i, 0x100 + i, 20 + i)
    assert _remove(io, port, 0)[0] == STATUS_TIMEOUT


def test_remove_blocks_until_another_thread_posts(io: IoKit) -> None:
    port = _port(io)

    def poster():  # type: ignore[no-untyped-def]
        yield ("KeDelayExecutionThread", (1, 0, delay))
        yield ("NtSetIoCompletion", (port, 5, 6, 7, 8))
        return 0

    delay = io.mem.alloc(8, 8)
    io.mem.write_s64(delay, -50 * 10_000)  # 50 ms
    io.k.spawn(poster())
    before = io.k.clock
    assert _remove(io, port, None) == (STATUS_SUCCESS, 5, 6, 7, 8)
    assert io.k.clock - before >= 50 * 10_000


def test_remove_timeout_encodings(canary: IoKit, console: IoKit) -> None:
    # canary: a negative relative timeout becomes ~49 days; the console waits 1 s
    for io, expected_ms in ((canary, 0xFF676980), (console, 1000)):
        port = _port(io)
        before = io.k.clock
        assert _remove(io, port, -10_000_000)[0] == STATUS_TIMEOUT
        assert io.k.clock - before == pytest.approx(expected_ms * 10_000, abs=100)


def test_port_errors_and_waits(io: IoKit) -> None:
    port = _port(io)
    assert io.k.call("NtSetIoCompletion", 0xF80000F0, 0, 0, 0, 0) == STATUS_INVALID_HANDLE
    assert _remove(io, 0xF80000F0)[0] == STATUS_INVALID_HANDLE
    ev = _event(io)
    assert io.k.call("NtSetIoCompletion", ev, 0, 0, 0, 0) == STATUS_OBJECT_TYPE_MISMATCH
    assert _remove(io, ev)[0] == STATUS_OBJECT_TYPE_MISMATCH
    status = io.k.call("NtWaitForSingleObjectEx", port, 1, 0, _zero_timeout(io))
    assert status == canary_or(io, STATUS_SUCCESS, STATUS_OBJECT_TYPE_MISMATCH)
    assert io.k.call("NtCreateIoCompletion", 0x10, 0, 0, 0) == STATUS_ACCESS_VIOLATION


def test_port_object_leaks_under_canary(io: IoKit) -> None:
    port = _port(io)
    obj = io.k.table.lookup(port, None)
    assert obj is not None
    io.close(port)
    assert obj.destroyed is (io.k.profile == "console")


def test_port_count_cap(canary: IoKit, console: IoKit) -> None:
    for io, removable in ((canary, 1024), (console, 1030)):
        port = _port(io)
        for i in range(1030):
            io.k.call("NtSetIoCompletion", port, i, 0, 0, 0)
        got = 0
        while _remove(io, port)[0] == STATUS_SUCCESS:
            got += 1
        assert got == removable


# -- symbolic links ------------------------------------------------------------------------


def _query_link(io: IoKit, handle: int, maximum: int = 64) -> tuple[int, bytes]:
    s = io.mem.alloc(8, 4)
    buf = io.out(max(maximum, 1))
    io.mem.write_u16(s + 2, maximum)
    io.mem.write_u32(s + 4, buf)
    status = io.k.call("NtQuerySymbolicLinkObject", handle, s)
    return status, io.mem.read_bytes(buf, min(io.mem.read_u16(s), maximum))


def test_symbolic_link_objects(io: IoKit) -> None:
    hp = io.out()
    assert io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("\\??\\GAME:")) == 0
    h = io.mem.read_u32(hp)
    assert _query_link(io, h) == (STATUS_SUCCESS, b"\\Device\\Cdrom0")
    status, data = _query_link(io, h, 4)
    if io.k.profile == "canary":
        assert (status, data) == (STATUS_SUCCESS, b"\\Dev")
    else:
        assert status == STATUS_BUFFER_TOO_SMALL
    assert io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("nope:")) == STATUS_NO_SUCH_FILE
    assert io.k.call("NtOpenSymbolicLinkObject", hp, 0) == STATUS_INVALID_PARAMETER
    bad = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs(b"a*:"))
    assert bad == STATUS_OBJECT_NAME_INVALID
    expected = canary_or(io, STATUS_NO_SUCH_FILE, STATUS_INVALID_HANDLE)
    assert _query_link(io, 0xF80000F0)[0] == expected
    assert _query_link(io, _event(io))[0] == STATUS_OBJECT_TYPE_MISMATCH
    # a link handle is not waitable: canary satisfies a single wait at once
    status = io.k.call("NtWaitForSingleObjectEx", h, 1, 0, _zero_timeout(io))
    assert status == canary_or(io, STATUS_SUCCESS, STATUS_OBJECT_TYPE_MISMATCH)


def test_ob_create_and_delete_symbolic_link(io: IoKit) -> None:
    (io.hdd / "Content").mkdir()
    (io.hdd / "Content" / "dlc.bin").write_bytes(b"dlc")
    link = io.mem.new_ansi_string("\\??\\dlc:")
    target = io.mem.new_ansi_string("\\Device\\Harddisk0\\Partition1\\Content")
    assert io.k.call("ObCreateSymbolicLink", link, target) == STATUS_SUCCESS
    h = io.open("DLC:\\dlc.bin")
    assert io.read(h, 3)[1] == b"dlc"
    # links cannot climb out of their target either
    assert io.create("dlc:\\..\\..\\x")[0] == STATUS_NO_SUCH_FILE
    # the \??\ prefix is only dropped on create
    assert io.k.call("ObDeleteSymbolicLink", link) == STATUS_UNSUCCESSFUL
    assert io.k.call("ObDeleteSymbolicLink", io.mem.new_ansi_string("dlc:")) == STATUS_SUCCESS
    assert io.create("dlc:\\dlc.bin")[0] == STATUS_NO_SUCH_FILE
    empty = io.mem.new_ansi_string("")
    assert io.k.call("ObCreateSymbolicLink", empty, target) == STATUS_UNSUCCESSFUL
    assert io.k.call("ObDeleteSymbolicLink", empty) == STATUS_UNSUCCESSFUL


def test_every_profile_can_be_asked(tmp_path: Path) -> None:
    """The exports exist under both profiles with the reference's ordinals."""
    k = IoKit(tmp_path, "console").k
    ordinals = {
        "NtCreateFile": 0xD2, "NtOpenFile": 0xDF, "NtReadFile": 0xF0, "NtWriteFile": 0xFF,
        "NtQueryInformationFile": 0xE8, "NtSetInformationFile": 0xF7,
        "NtQueryVolumeInformationFile": 0xEF, "NtQueryDirectoryFile": 0xE4,
        "NtQueryFullAttributesFile": 0xE7, "NtFlushBuffersFile": 0xDB,
        "NtOpenSymbolicLinkObject": 0xE0, "NtQuerySymbolicLinkObject": 0xEC,
        "NtCreateIoCompletion": 0xD3, "NtSetIoCompletion": 0xF8, "NtRemoveIoCompletion": 0xF4,
        "ObCreateSymbolicLink": 0x103, "ObDeleteSymbolicLink": 0x104,
    }  # fmt: skip
    for name, ordinal in ordinals.items():
        assert k.exports.get(name).ordinal == ordinal


def test_vanished_directory_is_a_status_not_a_traceback(io: IoKit) -> None:
    (io.hdd / "tmpdir").mkdir()
    d = io.open("hdd:\\tmpdir", options=DIRECTORY | SYNC)
    (io.hdd / "tmpdir").rmdir()
    assert io.query_info(d, 34, 56)[0] == STATUS_NO_SUCH_FILE
    assert io.list_dir(d)[0] == STATUS_NO_SUCH_FILE
