"""Operations through a handle act on what it was opened on, even after a host swaps links in.

Each case opens a file and directories, then (as a racing host process would)
moves the opened directory away and puts a link to a trap folder outside the
mount in its place. Every later operation through the old handles must act on
the entry it opened (if that is still inside the mount) or be refused; the trap
outside is never touched, and neither is the moved directory once it is
outside the mount.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from tests.vfs.iokit import DIRECTORY, RW, SYNC, IoKit
from x360k.quirks import PROFILES
from x360k.status import STATUS_SUCCESS

RENAME, DISPOSITION, BASIC, NETWORK_OPEN = 10, 13, 4, 34
#: A FILETIME for 2001-01-01: whatever it lands on gets that mtime.
FILETIME_2001 = 126227808000000000


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry below ``root``: content (None: directory), mtime, ctime (reads change none)."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = None if p.is_dir() else p.read_bytes()
            out[str(p.relative_to(root))] = (data, st.st_mtime_ns, st.st_ctime_ns)
    st = root.stat()
    out["."] = (None, st.st_mtime_ns, st.st_ctime_ns)
    return out


class Swapped:
    """hdd:\\d (with f.txt and sd\\) opened, then d swapped for a link to ``trap``."""

    def __init__(self, tmp: Path, profile: str, *, moved_inside: bool) -> None:
        self.io = IoKit(_mkdir(tmp / "m"), profile)  # type: ignore[arg-type]
        self.trap = tmp / "trap"
        (self.trap / "sd").mkdir(parents=True)
        (self.trap / "f.txt").write_bytes(b"trap file")
        (self.trap / "sd" / "g.txt").write_bytes(b"trap inner")
        d = self.io.hdd / "d"
        (d / "sd").mkdir(parents=True)
        (d / "f.txt").write_bytes(b"mine")
        (d / "sd" / "g.txt").write_bytes(b"inner")
        io = self.io
        self.file = io.open("hdd:\\d\\f.txt", RW)
        self.dir = io.open("hdd:\\d", RW, DIRECTORY | SYNC)
        self.sub = io.open("hdd:\\d\\sd", RW, DIRECTORY | SYNC)
        # The race: the opened directory goes away and a link outside takes its name.
        self.moved = (io.hdd / "elsewhere") if moved_inside else (tmp / "moved_out")
        os.rename(d, self.moved)
        os.symlink(self.trap, d)
        self.before_trap = _snapshot(self.trap)
        self.before_moved = None if moved_inside else _snapshot(self.moved)

    def untouched(self) -> None:
        assert _snapshot(self.trap) == self.before_trap, "the trap outside the mount was touched"
        if self.before_moved is not None:
            assert _snapshot(self.moved) == self.before_moved, "a directory moved out was touched"


CASES = [(p, inside) for p in PROFILES for inside in (False, True)]
IDS = [f"{p}-{'moved-inside' if inside else 'moved-out'}" for p, inside in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def sw(request: pytest.FixtureRequest, tmp_path: Path) -> Swapped:
    profile, inside = request.param
    return Swapped(tmp_path, profile, moved_inside=inside)


def _times(ft: int) -> bytes:
    return struct.pack(">qqqqI4x", 0, ft, ft, 0, 0)


def test_rename_to_a_bare_name_stays_where_the_file_is(sw: Swapped) -> None:
    io = sw.io
    status = io.set_info(sw.file, RENAME, io.rename_info("renamed.txt"))[0]
    sw.untouched()
    # A bare name stays in the folder the file is in now (never hdd:\d, now the link).
    if sw.before_moved is None:
        assert status == STATUS_SUCCESS
        assert (sw.moved / "renamed.txt").read_bytes() == b"mine"
    else:
        assert status != STATUS_SUCCESS
        assert (sw.moved / "f.txt").read_bytes() == b"mine"


def test_rename_to_a_full_path_moves_the_opened_file_or_is_refused(sw: Swapped) -> None:
    io = sw.io
    status = io.set_info(sw.file, RENAME, io.rename_info("hdd:\\top.txt"))[0]
    sw.untouched()
    if sw.before_moved is None:  # still inside the mount: the opened file moves
        assert status == STATUS_SUCCESS
        assert (io.hdd / "top.txt").read_bytes() == b"mine"
        assert not (sw.moved / "f.txt").exists()
        assert io.read(sw.file, 4, 0)[1] == b"mine"
    else:
        assert status != STATUS_SUCCESS
        assert not (io.hdd / "top.txt").exists()


def test_rename_of_a_directory_handle(sw: Swapped) -> None:
    io = sw.io
    status = io.set_info(sw.sub, RENAME, io.rename_info("hdd:\\sd2"))[0]
    sw.untouched()
    if sw.before_moved is None:
        assert status == STATUS_SUCCESS
        assert (io.hdd / "sd2" / "g.txt").read_bytes() == b"inner"
    else:
        assert status != STATUS_SUCCESS


def test_delete_disposition_and_delete_on_close(sw: Swapped) -> None:
    io = sw.io
    (sw.moved / "sd" / "g.txt").unlink()  # the opened sub-directory is now empty
    sw.before_moved = None if sw.before_moved is None else _snapshot(sw.moved)
    f_status = io.set_info(sw.file, DISPOSITION, b"\x01")[0]
    d_status = io.set_info(sw.sub, DISPOSITION, b"\x01")[0]
    io.close(sw.file)
    io.close(sw.sub)
    sw.untouched()
    assert (sw.trap / "f.txt").exists() and (sw.trap / "sd").is_dir()
    if sw.before_moved is None:
        assert f_status == d_status == STATUS_SUCCESS
        assert not (sw.moved / "f.txt").exists() and not (sw.moved / "sd").exists()
    else:
        assert f_status != STATUS_SUCCESS and d_status != STATUS_SUCCESS


def test_delete_on_close_after_a_later_swap_is_refused(tmp_path: Path) -> None:
    """Disposition set while all is well; the swap happens before the last close."""
    io = IoKit(_mkdir(tmp_path / "m"))
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "f.txt").write_bytes(b"trap")
    (io.hdd / "d").mkdir()
    (io.hdd / "d" / "f.txt").write_bytes(b"mine")
    h = io.open("hdd:\\d\\f.txt", RW)
    assert io.set_info(h, DISPOSITION, b"\x01")[0] == STATUS_SUCCESS
    os.rename(io.hdd / "d", tmp_path / "out")
    os.symlink(trap, io.hdd / "d")
    io.close(h)
    assert (trap / "f.txt").read_bytes() == b"trap"
    assert (tmp_path / "out" / "f.txt").read_bytes() == b"mine"  # outside now: left alone


def test_set_and_query_times(sw: Swapped) -> None:
    io = sw.io
    for handle in (sw.file, sw.dir, sw.sub):
        status = io.set_info(handle, BASIC, _times(FILETIME_2001))[0]
        assert (status == STATUS_SUCCESS) == (sw.before_moved is None)
        q = io.query_info(handle, NETWORK_OPEN, 56)
        assert (q[0] == STATUS_SUCCESS) == (sw.before_moved is None)
        if q[0] == STATUS_SUCCESS:
            assert struct.unpack_from(">q", q[1], 16)[0] == FILETIME_2001
    sw.untouched()
    if sw.before_moved is None:
        assert (sw.moved / "f.txt").stat().st_mtime_ns // 100 == FILETIME_2001 - 116444736000000000


def test_listing_reads_the_opened_directory(sw: Swapped) -> None:
    io = sw.io
    (sw.trap / "only_in_trap").write_bytes(b"")
    sw.before_trap = _snapshot(sw.trap)
    if sw.before_moved is None:
        assert io.list_all(sw.dir) == ["f.txt", "sd"]
    else:
        assert io.list_dir(sw.dir)[0] != STATUS_SUCCESS
    sw.untouched()


def test_relative_open_through_an_old_directory_handle(sw: Swapped) -> None:
    io = sw.io
    status, handle, _, _ = io.create("f.txt", RW, root=sw.dir)
    sw.untouched()
    if sw.before_moved is None:  # relative to the directory the handle opened, wherever it is
        assert status == STATUS_SUCCESS
        assert io.read(handle, 4, 0)[1] == b"mine"
    else:
        assert status != STATUS_SUCCESS
    status, _, _, _ = io.create("new.txt", RW, 2, root=sw.dir)  # FILE_CREATE
    sw.untouched()
    assert (status == STATUS_SUCCESS) == (sw.before_moved is None)


def test_swap_of_the_file_itself_is_seen(tmp_path: Path) -> None:
    """The name now holds another file: deleting through the old handle is refused."""
    io = IoKit(_mkdir(tmp_path / "m"))
    (io.hdd / "a.txt").write_bytes(b"old")
    h = io.open("hdd:\\a.txt", RW)
    os.rename(io.hdd / "a.txt", io.hdd / "kept.txt")
    (io.hdd / "a.txt").write_bytes(b"new")
    assert io.set_info(h, DISPOSITION, b"\x01")[0] != STATUS_SUCCESS
    io.close(h)
    assert (io.hdd / "a.txt").read_bytes() == b"new"
    assert (io.hdd / "kept.txt").read_bytes() == b"old"
