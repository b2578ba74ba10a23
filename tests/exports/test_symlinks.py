"""Symbolic-link exports against the reference (sections 5.6, 9)."""

from __future__ import annotations

from tests.vfs.iokit import (
    IoKit,
)

from x360k.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)


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
    missing = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("\\??\\nope:"))
    assert missing == io.canary_or(STATUS_NO_SUCH_FILE, STATUS_OBJECT_NAME_NOT_FOUND)
    assert io.k.call("NtOpenSymbolicLinkObject", hp, 0) == STATUS_INVALID_PARAMETER
    bad = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs(b"a*:"))
    assert bad == STATUS_OBJECT_NAME_INVALID
    expected = io.canary_or(STATUS_NO_SUCH_FILE, STATUS_INVALID_HANDLE)
    assert _query_link(io, 0xF80000F0)[0] == expected
    assert _query_link(io, io.new_event())[0] == STATUS_OBJECT_TYPE_MISMATCH
    # a link has no dispatcher header: canary satisfies a single wait at once, and so does
    # NT's always-signalled default object the console waits on instead
    status = io.k.call("NtWaitForSingleObjectEx", h, 1, 0, io.zero_timeout())
    assert status == STATUS_SUCCESS


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


def test_open_symbolic_link_through_a_root(io: IoKit) -> None:
    hp = io.out()
    status = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("game:", root=0xFFFFFFFD))
    assert status == STATUS_SUCCESS  # canary ignores the root; the console walks \?? from it
    ev = io.new_event()
    status = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("game:", root=ev))
    # canary: the root is ignored; the console cannot walk into an event
    assert status == io.canary_or(STATUS_SUCCESS, STATUS_OBJECT_PATH_NOT_FOUND)
    status = io.k.call("NtOpenSymbolicLinkObject", hp, io.attrs("\\??"))
    # canary refuses the '?' characters; the console's \?? is a directory, not a link
    assert status == io.canary_or(STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_TYPE_MISMATCH)
