"""NtQueryDirectoryFile against the reference (sections 5.6, 9)."""

from __future__ import annotations

import pytest
from tests.vfs.iokit import (
    DIRECTORY,
    SYNC,
    IoKit,
)

from x360k.status import (
    STATUS_INFO_LENGTH_MISMATCH,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES,
    STATUS_NO_SUCH_FILE,
    STATUS_SUCCESS,
)


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


def test_vanished_directory_is_a_status_not_a_traceback(io: IoKit) -> None:
    (io.hdd / "tmpdir").mkdir()
    d = io.open("hdd:\\tmpdir", options=DIRECTORY | SYNC)
    (io.hdd / "tmpdir").rmdir()
    assert io.query_info(d, 34, 56)[0] == STATUS_NO_SUCH_FILE
    assert io.list_dir(d)[0] == STATUS_NO_SUCH_FILE
