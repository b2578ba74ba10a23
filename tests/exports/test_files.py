"""NtCreateFile, NtOpenFile, NtReadFile, NtWriteFile, NtFlushBuffersFile and how requests
complete, against the reference (sections 5.6, 9)."""

from __future__ import annotations

import struct
from pathlib import Path

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
    RW,
    SUPERSEDE,
    SYNC,
    IoKit,
)

from x360k.objects.thread import Thread
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_ACCESS_VIOLATION,
    STATUS_END_OF_FILE,
    STATUS_FILE_IS_A_DIRECTORY,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_NOT_A_DIRECTORY,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_PENDING,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_USER_APC,
)

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
    assert handle == io.canary_or(0xFFFFFFFF, FILL)
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
    expected = io.canary_or(STATUS_SUCCESS, STATUS_NOT_A_DIRECTORY)
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
    assert status == io.canary_or(STATUS_PENDING, STATUS_SUCCESS)
    assert (data, iosb_status, info) == (b"hello", STATUS_SUCCESS, 5)  # done all the same
    # end of file is returned as is for reads, even on asynchronous handles
    assert io.read(h, 5, offset=50)[0] == STATUS_END_OF_FILE
    w = io.create("hdd:\\a.bin", RW, CREATE, options=0)[1]
    assert io.write(w, b"abc")[0] == io.canary_or(STATUS_PENDING, STATUS_SUCCESS)
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
    assert io.set_info(h, 10, io.rename_info("evil.txt"))[0] == STATUS_ACCESS_DENIED
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


def test_async_read_completes_through_an_event(io: IoKit) -> None:
    h = io.open("game:\\readme.txt", options=0)
    ev = io.new_event()
    poll = io.zero_timeout()
    assert io.k.call("NtWaitForSingleObjectEx", ev, 1, 0, poll) == STATUS_TIMEOUT
    status, data, iosb_status, _ = io.read(h, 5, event=ev)
    assert status == io.canary_or(STATUS_PENDING, STATUS_SUCCESS)
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
    assert status == io.canary_or(STATUS_PENDING, STATUS_SUCCESS)
    assert calls == []  # only runs at an alertable wait
    assert io.k.call("KeDelayExecutionThread", 1, 1, io.zero_timeout()) == STATUS_USER_APC
    assert calls == [(0x1234, iosb, 0)]
    assert io.mem.read_u32(iosb + 4) == 5
    # no context: canary queues nothing, the console still does
    io.k.call("NtReadFile", h, 0, address, 0, io.out(8), buf, 1, 0)
    status = io.k.call("KeDelayExecutionThread", 1, 1, io.zero_timeout())
    assert status == io.canary_or(STATUS_SUCCESS, STATUS_USER_APC)
    assert len(calls) == io.canary_or(1, 2)


def test_async_read_completes_through_a_port(io: IoKit) -> None:
    port = io.new_port()
    h = io.open("game:\\readme.txt", options=0)
    payload = struct.pack(">II", port, 0xABCD)
    assert io.set_info(h, 30, payload) == (STATUS_SUCCESS, STATUS_SUCCESS, 8)
    iosb, buf = io.out(8), io.out(8)
    io.k.call("NtReadFile", h, 0, 0, 0x77, iosb, buf, 4, 0)
    io.k.call("NtReadFile", h, 0, 0, 0x78, iosb, buf, 400, 0)
    assert io.remove(port) == (STATUS_SUCCESS, 0xABCD, 0x77, STATUS_SUCCESS, 4)
    assert io.remove(port) == (STATUS_SUCCESS, 0xABCD, 0x78, STATUS_SUCCESS, 7)
    assert io.remove(port)[0] == STATUS_TIMEOUT
    assert io.set_info(h, 30, struct.pack(">II", 0xF80000F0, 1))[0] == STATUS_INVALID_HANDLE


def test_file_handle_wait_succeeds_once_per_io(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    poll = io.zero_timeout()
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_TIMEOUT
    io.read(h, 1)
    io.read(h, 1)
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_SUCCESS
    assert io.k.call("NtWaitForSingleObjectEx", h, 1, 0, poll) == STATUS_TIMEOUT


def test_flush(io: IoKit) -> None:
    h = io.open("game:\\readme.txt")
    iosb = io.out(8)
    assert io.k.call("NtFlushBuffersFile", h, iosb) == STATUS_SUCCESS
    assert io.mem.read_u32(iosb) == 0
    assert io.k.call("NtFlushBuffersFile", 0xF80000F0, iosb) == STATUS_INVALID_HANDLE


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
