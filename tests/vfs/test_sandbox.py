"""The sandbox's direct walk: remembered case-folded listings, links on the way, descriptors."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from tests.vfs.iokit import CREATE, DIRECTORY, GENERIC_READ, GENERIC_WRITE, OPEN, SYNC, IoKit
from x360k.status import (
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_SUCCESS,
)
from x360k.vfs import sandbox as sandbox_module
from x360k.vfs.guest_path import Refused
from x360k.vfs.sandbox import Sandbox

RW = GENERIC_READ | GENERIC_WRITE


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _restamp(folder: Path, seconds: int) -> None:
    """Give a directory an mtime no earlier change could have had (a new stamp for certain)."""
    os.utime(folder, ns=(seconds * 10**9, seconds * 10**9))


def _read_all(io: IoKit, path: str) -> bytes | int:
    status, handle, _, _ = io.create(path)
    if status != STATUS_SUCCESS:
        return status
    data = io.read(handle, 64)[1]
    io.close(handle)
    return data


def test_folded_names_follow_host_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "_SETTLED_NS", -(10**18))  # remember every listing
    io = IoKit(tmp_path)
    data = io.title / "Data"
    data.mkdir()
    (data / "Alpha.bin").write_bytes(b"alpha")
    assert _read_all(io, "game:\\DATA\\ALPHA.BIN") == b"alpha"
    sandbox = io.ns.resolve("game:\\").device.sandbox
    assert sandbox._listings, "the folded listing was not remembered"

    (data / "Alpha.bin").rename(data / "Beta.bin")
    _restamp(data, 1_000_000_000)
    assert _read_all(io, "game:\\data\\alpha.bin") == STATUS_NO_SUCH_FILE
    assert _read_all(io, "game:\\data\\BETA.bin") == b"alpha"

    (data / "alpha.BIN").write_bytes(b"new")
    _restamp(data, 1_000_000_001)
    assert _read_all(io, "game:\\data\\ALPHA.bin") == b"new"

    # A change the stamp missed (same timestamp tick): the remembered name is gone, so the
    # directory is listed again rather than the file reported missing.
    (data / "alpha.BIN").rename(data / "ALPHA.bin")
    st = os.stat(data)
    for listing in sandbox._listings.values():
        listing.stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_nlink)
    assert _read_all(io, "game:\\data\\Alpha.Bin") == b"new"


def test_exact_spelling_wins_then_first_sorted(tmp_path: Path) -> None:
    io = IoKit(tmp_path)
    for name, body in (("b.TXT", b"upper"), ("b.txt", b"lower"), ("B.txt", b"first")):
        (io.title / name).write_bytes(body)
    assert _read_all(io, "game:\\b.txt") == b"lower"
    assert _read_all(io, "game:\\b.TXT") == b"upper"
    assert _read_all(io, "game:\\B.TXT") == b"first"  # sorted: B.txt < b.TXT < b.txt


def test_links_on_the_way_inside_the_mount(tmp_path: Path) -> None:
    io = IoKit(tmp_path)
    (io.hdd / "sub").mkdir()
    (io.hdd / "sub" / "deep.txt").write_bytes(b"deep")
    (io.hdd / "plain.txt").write_bytes(b"plain")
    os.symlink(io.hdd / "sub", io.hdd / "SubLink")
    os.symlink("sub", io.hdd / "rel")
    assert _read_all(io, "hdd:\\sublink\\DEEP.txt") == b"deep"
    assert _read_all(io, "hdd:\\rel\\deep.txt") == b"deep"
    status, handle, _, _ = io.create("hdd:\\sublink\\new.txt", RW, CREATE)
    assert status == STATUS_SUCCESS
    assert io.write(handle, b"made")[0] == STATUS_SUCCESS
    io.close(handle)
    assert (io.hdd / "sub" / "new.txt").read_bytes() == b"made"
    assert io.create("hdd:\\plain.txt\\x")[0] == STATUS_NO_SUCH_FILE
    assert io.create("hdd:\\plain.txt\\x", RW, CREATE)[0] == STATUS_NO_SUCH_FILE
    assert io.create("hdd:\\missing\\x", RW, CREATE)[0] == STATUS_NO_SUCH_FILE


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_no_descriptor_is_left_open(tmp_path: Path) -> None:
    io = IoKit(tmp_path)
    (io.hdd / "sub").mkdir()
    (io.hdd / "sub" / "f.txt").write_bytes(b"f")
    (io.hdd / "Top.txt").write_bytes(b"t")
    os.symlink(io.hdd / "sub", io.hdd / "link")
    os.mkfifo(io.hdd / "sub" / "fifo")
    gc.collect()  # earlier tests' kernels give their descriptors back when collected
    before = _open_fds()
    for _ in range(3):
        for path in (
            "hdd:\\SUB\\F.TXT",
            "hdd:\\top.txt",
            "hdd:\\link\\f.txt",
            "hdd:\\sub\\fifo",
            "hdd:\\sub\\missing",
            "hdd:\\missing\\f.txt",
            "hdd:\\top.txt\\f.txt",
        ):
            status, handle, _, _ = io.create(path)
            if status == STATUS_SUCCESS:
                io.close(handle)
        status, handle, _, _ = io.create("hdd:\\sub", options=DIRECTORY | SYNC)
        assert status == STATUS_SUCCESS
        io.close(handle)
        assert io.create("hdd:\\sub\\f.txt", RW, CREATE)[0] == STATUS_OBJECT_NAME_COLLISION
    status, handle, _, _ = io.create("hdd:\\sub\\new.txt", RW, CREATE)
    assert status == STATUS_SUCCESS
    io.close(handle)
    status, handle, _, _ = io.create("hdd:\\sub\\newdir", RW, CREATE, DIRECTORY | SYNC)
    assert status == STATUS_SUCCESS
    io.close(handle)
    assert _open_fds() == before, "a lookup left a descriptor open"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_sandbox_gives_back_its_folder_descriptor(tmp_path: Path) -> None:
    gc.collect()
    before = _open_fds()
    boxes = [Sandbox(tmp_path) for _ in range(20)]
    assert _open_fds() == before + 20
    del boxes
    gc.collect()
    assert _open_fds() == before


@pytest.mark.parametrize("names", [("..", "x"), ("a", "."), ("a/b",), ("",), ("sub", "../x")])
def test_direct_walk_refuses_names_that_are_not_plain(
    tmp_path: Path, names: tuple[str, ...]
) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(Refused):
        Sandbox(tmp_path).lookup(names)


def test_open_reads_a_directory_created_by_the_host_later(tmp_path: Path) -> None:
    io = IoKit(tmp_path)
    assert io.create("game:\\Later\\x.bin", GENERIC_READ, OPEN)[0] == STATUS_NO_SUCH_FILE
    (io.title / "later").mkdir()
    (io.title / "later" / "X.BIN").write_bytes(b"x")
    assert _read_all(io, "game:\\Later\\x.bin") == b"x"
