"""File objects on their own: the auto-reset I/O event, ports and cleanup on destroy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from x360k.objects.file import File
from x360k.objects.io_completion import IoCompletion
from x360k.objects.thread import Thread
from x360k.vfs.device import FILE_OPEN, HostFolderDevice


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
    with pytest.raises(OSError):
        os.fstat(fd)
