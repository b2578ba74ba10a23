"""File, I/O completion and symbolic-link objects on their own."""

from __future__ import annotations

from pathlib import Path

from x360k.objects.file import File
from x360k.objects.io_completion import IoCompletion, Packet
from x360k.objects.symlink import SymbolicLink
from x360k.objects.thread import Thread
from x360k.vfs.device import FILE_OPEN, HostFolderDevice


def test_port_fifo_and_cap() -> None:
    t = Thread(0, 1)
    port = IoCompletion(limit=2)
    assert not port.WAITABLE and not port.is_signalled_for(t)
    for i in range(3):
        port.post(Packet(i, 0, 0, 0))
    assert port.count == 2 and len(port.packets) == 3
    taken = []
    while port.is_signalled_for(t):
        port.satisfy(t)
        taken.append(port.take().key)
    assert taken == [0, 1] and len(port.packets) == 1
    unlimited = IoCompletion(limit=None)
    for i in range(5):
        unlimited.post(Packet(i, 0, 0, 0))
    assert unlimited.count == 5 and "5 packet" in unlimited.describe()


def test_file_event_is_auto_reset_and_destroy_closes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    dev = HostFolderDevice("\\Device\\X", tmp_path, writable=True)
    out = dev.open(("F",), FILE_OPEN, 0, 0x80000000)
    assert out.node is not None and out.node.names == ("f",)
    f = File(out.node, "x:\\F", synchronous=True)
    t = Thread(0, 1)
    assert f.WAITABLE and not f.is_signalled_for(t)
    f.io_signalled = True
    assert f.is_signalled_for(t) and f.signal_state() == 1
    f.satisfy(t)
    assert not f.is_signalled_for(t)
    released: list[IoCompletion] = []
    port = IoCompletion(None)
    f.completions.append((port, 1))
    f.release_port = released.append
    f.delete_on_close = True
    fd = out.node.fd
    f.on_destroy()
    assert released == [port] and out.node.fd == -1 and not (tmp_path / "f").exists()
    try:
        import os

        os.fstat(fd)
        raise AssertionError("descriptor still open")
    except OSError:
        pass


def test_symlink_object() -> None:
    s = SymbolicLink("game:", "\\Device\\Cdrom0")
    assert not s.WAITABLE and s.path == "game:" and "Cdrom0" in s.describe()
