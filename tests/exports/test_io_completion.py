"""I/O completion port exports against the reference (sections 5.6, 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.vfs.iokit import (
    IoKit,
)

from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_INVALID_HANDLE,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
)


@pytest.fixture
def canary(tmp_path: Path) -> IoKit:
    return IoKit(tmp_path, "canary")


@pytest.fixture
def console(tmp_path: Path) -> IoKit:
    return IoKit(tmp_path, "console")


def test_port_fifo_and_timeouts(io: IoKit) -> None:
    port = io.new_port()
    for i in range(3):
        assert io.k.call("NtSetIoCompletion", port, i, 10 + i, 0x100 + i, 20 + i) == 0
    for i in range(3):
        assert io.remove(port) == (STATUS_SUCCESS, i, 10 + i, 0x100 + i, 20 + i)
    assert io.remove(port, 0)[0] == STATUS_TIMEOUT


def test_remove_blocks_until_another_thread_posts(io: IoKit) -> None:
    port = io.new_port()

    def poster():  # type: ignore[no-untyped-def]
        yield ("KeDelayExecutionThread", (1, 0, delay))
        yield ("NtSetIoCompletion", (port, 5, 6, 7, 8))
        return 0

    delay = io.mem.alloc(8, 8)
    io.mem.write_s64(delay, -50 * 10_000)  # 50 ms
    io.k.spawn(poster())
    before = io.k.clock
    assert io.remove(port, None) == (STATUS_SUCCESS, 5, 6, 7, 8)
    assert io.k.clock - before >= 50 * 10_000


def test_remove_timeout_encodings(canary: IoKit, console: IoKit) -> None:
    # canary: a negative relative timeout becomes ~49 days; the console waits 1 s
    for io, expected_ms in ((canary, 0xFF676980), (console, 1000)):
        port = io.new_port()
        before = io.k.clock
        assert io.remove(port, -10_000_000)[0] == STATUS_TIMEOUT
        assert io.k.clock - before == pytest.approx(expected_ms * 10_000, abs=100)


def test_port_errors_and_waits(io: IoKit) -> None:
    port = io.new_port()
    assert io.k.call("NtSetIoCompletion", 0xF80000F0, 0, 0, 0, 0) == STATUS_INVALID_HANDLE
    assert io.remove(0xF80000F0)[0] == STATUS_INVALID_HANDLE
    ev = io.new_event()
    assert io.k.call("NtSetIoCompletion", ev, 0, 0, 0, 0) == STATUS_OBJECT_TYPE_MISMATCH
    assert io.remove(ev)[0] == STATUS_OBJECT_TYPE_MISMATCH
    status = io.k.call("NtWaitForSingleObjectEx", port, 1, 0, io.zero_timeout())
    assert status == io.canary_or(STATUS_SUCCESS, STATUS_OBJECT_TYPE_MISMATCH)
    assert io.k.call("NtCreateIoCompletion", 0x10, 0, 0, 0) == STATUS_ACCESS_VIOLATION


def test_port_object_leaks_under_canary(io: IoKit) -> None:
    port = io.new_port()
    obj = io.k.table.lookup(port, None)
    assert obj is not None
    io.close(port)
    assert obj.destroyed is (io.k.profile == "console")


def test_port_count_cap(canary: IoKit, console: IoKit) -> None:
    for io, removable in ((canary, 1024), (console, 1030)):
        port = io.new_port()
        for i in range(1030):
            io.k.call("NtSetIoCompletion", port, i, 0, 0, 0)
        got = 0
        while io.remove(port)[0] == STATUS_SUCCESS:
            got += 1
        assert got == removable
