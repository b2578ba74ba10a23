"""Hard links into the mount are refused; link expansion keeps to the path length limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.vfs.iokit import CREATE, DIRECTORY, OPEN_IF, RW, SYNC, IoKit
from x360k.status import STATUS_NO_SUCH_FILE, STATUS_SUCCESS
from x360k.vfs.guest_path import MAX_PATH, Refused


@pytest.fixture
def io(tmp_path: Path) -> IoKit:
    (tmp_path / "m").mkdir()
    return IoKit(tmp_path / "m")


def test_a_hard_link_to_a_file_outside_is_not_there(io: IoKit, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    os.link(secret, io.hdd / "planted.txt")
    for access, disposition in ((0x80000000, 1), (RW, 1), (RW, OPEN_IF), (RW, 5)):
        status, _, _, _ = io.create("hdd:\\planted.txt", access, disposition)
        assert status == STATUS_NO_SUCH_FILE
    info = io.mem.alloc(56, 8)
    assert io.k.call("NtQueryFullAttributesFile", io.attrs("hdd:\\planted.txt"), info) == (
        STATUS_NO_SUCH_FILE
    )
    d = io.open("hdd:\\", options=DIRECTORY | SYNC)
    assert "planted.txt" not in io.list_all(d)
    assert secret.read_bytes() == b"outside"
    assert os.stat(secret).st_nlink == 2  # nothing was unlinked or replaced either


def test_a_file_that_gains_a_second_name_mid_open_is_refused(io: IoKit, tmp_path: Path) -> None:
    (io.hdd / "f.txt").write_bytes(b"x")
    os.link(io.hdd / "f.txt", tmp_path / "other")
    assert io.create("hdd:\\f.txt")[0] == STATUS_NO_SUCH_FILE
    os.unlink(tmp_path / "other")
    assert io.create("hdd:\\f.txt")[0] == STATUS_SUCCESS  # one name again: visible


def _link(io: IoKit, name: str, target: str) -> int:
    return io.k.call(
        "ObCreateSymbolicLink", io.mem.new_ansi_string(name), io.mem.new_ansi_string(target)
    )


def test_link_expansion_keeps_to_the_path_limit(io: IoKit) -> None:
    # Two short guest spellings that expand past 1024 bytes without looping.
    assert _link(io, "b:", "hdd:" + "\\y" * 300) == STATUS_SUCCESS
    assert _link(io, "a:", "b:" + "\\x" * 300) == STATUS_SUCCESS
    with pytest.raises(Refused, match="1024"):
        io.ns.resolve("a:\\f.txt")
    assert io.create("a:\\f.txt", RW, CREATE)[0] == STATUS_NO_SUCH_FILE
    # A link whose target repeats its own name grows each time: refused by length, not depth.
    assert _link(io, "g:", "g:" + "\\z" * 200) == STATUS_SUCCESS
    with pytest.raises(Refused, match="1024"):
        io.ns.resolve("g:\\f")
    # Within the limit, long expansions still work.
    deep = "\\d" * 100
    (io.hdd / os.path.join(*["d"] * 100)).mkdir(parents=True)
    assert _link(io, "long:", "hdd:" + deep) == STATUS_SUCCESS
    assert len("hdd:" + deep) < MAX_PATH
    status, handle, _, _ = io.create("long:\\new.bin", RW, CREATE)
    assert status == STATUS_SUCCESS
    io.close(handle)
