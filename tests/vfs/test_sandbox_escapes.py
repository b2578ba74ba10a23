"""Hostile guest paths: every one fails cleanly and nothing outside the mount is touched."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from tests.vfs.iokit import CREATE, DIRECTORY, GENERIC_READ, GENERIC_WRITE, OPEN_IF, SYNC, IoKit
from x360k.status import STATUS_NO_SUCH_FILE, STATUS_OBJECT_NAME_INVALID

SECRET = b"top secret: never read me"

#: (guest path, status). OBJECT_NAME_INVALID is canary's own character check; everything the
#: sandbox refuses reads as a missing path.
HOSTILE: list[tuple[bytes, int]] = [
    (b"hdd:\\..\\outside\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\..\\..\\..\\..\\..\\..\\etc\\passwd", STATUS_NO_SUCH_FILE),
    (b"hdd:\\sub\\..\\..\\outside\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\.\\..\\outside\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\...\\outside\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\..", STATUS_NO_SUCH_FILE),
    (b"hdd:\\../outside/secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:/../outside/secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\sub/..\\..\\outside", STATUS_NO_SUCH_FILE),
    (b"hdd:\\%2e%2e\\outside\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\..%5coutside%5csecret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\\xc0\xae\xc0\xae\\outside", STATUS_OBJECT_NAME_INVALID),
    (b"hdd:\\\xef\xbc\x8e\xef\xbc\x8e\\outside", STATUS_OBJECT_NAME_INVALID),
    (b"/etc/passwd", STATUS_NO_SUCH_FILE),
    (b"{outside}", STATUS_NO_SUCH_FILE),  # replaced by the absolute host path of the secret
    (b"C:\\Windows\\win.ini", STATUS_NO_SUCH_FILE),
    (b"\\\\?\\C:\\secret.txt", STATUS_OBJECT_NAME_INVALID),
    (b"\\\\server\\share\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\link_out\\secret.txt", STATUS_NO_SUCH_FILE),
    (b"hdd:\\file_link", STATUS_NO_SUCH_FILE),
    (b"hdd:\\LINK_OUT\\SECRET.TXT", STATUS_NO_SUCH_FILE),
    (b"hdd:\\dangling", STATUS_NO_SUCH_FILE),
    (b"hdd:\\" + b"a" * 300, STATUS_NO_SUCH_FILE),
    (b"hdd:\\" + b"abc\\" * 300 + b"x", STATUS_NO_SUCH_FILE),
    (b"hdd:\\secret.txt\x00.bin", STATUS_OBJECT_NAME_INVALID),
    (b"hdd:\\\x00..\\outside", STATUS_OBJECT_NAME_INVALID),
    (b"hdd:\\sub:stream", STATUS_NO_SUCH_FILE),
    (b"hdd:..\\outside", STATUS_NO_SUCH_FILE),
    (b"hdd:\\con", STATUS_NO_SUCH_FILE),
    (b"hdd:\\trailing.", STATUS_NO_SUCH_FILE),
    (b"hdd:\\fifo", STATUS_NO_SUCH_FILE),
    (b"\\Device\\Harddisk0\\Partition1\\..\\..\\outside", STATUS_NO_SUCH_FILE),
    (b"\\Device\\Harddisk0\\Partition1..\\outside", STATUS_NO_SUCH_FILE),
]


@pytest.fixture
def world(tmp_path: Path) -> tuple[IoKit, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_bytes(SECRET)
    os.utime(secret, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    io = IoKit(tmp_path, "canary")
    (io.hdd / "sub").mkdir()
    (io.hdd / "inside.txt").write_bytes(b"fine")
    os.symlink(outside, io.hdd / "link_out")
    os.symlink(secret, io.hdd / "file_link")
    os.symlink(tmp_path / "nowhere", io.hdd / "dangling")
    os.symlink(io.hdd / "inside.txt", io.hdd / "link_in")
    os.mkfifo(io.hdd / "fifo")
    return io, secret


def _fingerprint(secret: Path) -> tuple[bytes, int, int, list[str]]:
    """Content, mtime, atime and siblings; our own read uses O_NOATIME so it leaves no trace."""
    st = secret.stat()
    fd = os.open(secret, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    try:
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    return data, st.st_mtime_ns, st.st_atime_ns, sorted(os.listdir(secret.parent))


def test_at_least_twenty_hostile_paths() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize(("path", "expected"), HOSTILE, ids=[repr(p[:40]) for p, _ in HOSTILE])
def test_hostile_path_fails_cleanly(world: tuple[IoKit, Path], path: bytes, expected: int) -> None:
    io, secret = world
    if path == b"{outside}":
        path = os.fsencode(secret)
    before = _fingerprint(secret)
    # read it, open it writable, create through it, create a directory there, stat it
    for access, disposition, options in (
        (GENERIC_READ, 1, SYNC),
        (GENERIC_READ | GENERIC_WRITE, OPEN_IF, SYNC),
        (GENERIC_READ | GENERIC_WRITE, CREATE, SYNC),
        (GENERIC_READ | GENERIC_WRITE, OPEN_IF, DIRECTORY),
    ):
        status, handle, _, _ = io.create(path, access, disposition, options)
        assert status == expected, (path, hex(status))
        # canary's character check rejects before the file system: nothing is written then
        assert handle == (0xFFFFFFFF if expected == STATUS_NO_SUCH_FILE else 0xCCCCCCCC)
    info = io.out(56)
    assert io.k.call("NtQueryFullAttributesFile", io.attrs(path), info) == expected
    assert _fingerprint(secret) == before
    assert sorted(os.listdir(io.hdd)) == [
        "dangling",
        "fifo",
        "file_link",
        "inside.txt",
        "link_in",
        "link_out",
        "sub",
    ]


def test_links_inside_the_mount_still_work(world: tuple[IoKit, Path]) -> None:
    io, _ = world
    h = io.open("hdd:\\link_in")
    assert io.read(h, 4)[1] == b"fine"


def test_listing_hides_escaping_links_and_specials(world: tuple[IoKit, Path]) -> None:
    io, secret = world
    before = _fingerprint(secret)
    d = io.open("hdd:\\", options=DIRECTORY | SYNC)
    assert io.list_all(d) == ["inside.txt", "link_in", "sub"]
    assert _fingerprint(secret) == before


def test_rename_and_root_handles_cannot_escape(world: tuple[IoKit, Path]) -> None:
    io, secret = world
    before = _fingerprint(secret)
    h = io.open("hdd:\\inside.txt", GENERIC_READ | GENERIC_WRITE)
    for target in ("hdd:\\..\\outside\\x", "hdd:\\link_out\\x", "..", "hdd:\\sub/x"):
        name = io.mem.new_ansi_string(target)
        length, maximum, buffer = struct.unpack(">HHI", io.mem.read_bytes(name, 8))
        payload = struct.pack(">IIHHI", 1, 0, length, maximum, buffer)
        assert io.set_info(h, 10, payload)[0] == STATUS_NO_SUCH_FILE, target
    sub = io.open("hdd:\\sub", options=DIRECTORY | SYNC)
    assert io.create("..\\outside\\secret.txt", root=sub)[0] == STATUS_NO_SUCH_FILE
    assert io.create("..", root=sub)[0] == STATUS_NO_SUCH_FILE
    assert (io.hdd / "inside.txt").read_bytes() == b"fine"
    assert _fingerprint(secret) == before


def test_swapping_in_a_link_after_open_changes_nothing(world: tuple[IoKit, Path]) -> None:
    """An open descriptor keeps pointing at the file inside even if the name is replaced."""
    io, secret = world
    before = _fingerprint(secret)
    h = io.open("hdd:\\inside.txt", GENERIC_READ | GENERIC_WRITE)
    os.replace(io.hdd / "inside.txt", io.hdd / "moved.txt")
    os.symlink(secret, io.hdd / "inside.txt")
    io.write(h, b"FINE", offset=0)
    assert (io.hdd / "moved.txt").read_bytes() == b"FINE"
    assert io.create("hdd:\\inside.txt")[0] == STATUS_NO_SUCH_FILE
    assert _fingerprint(secret) == before
