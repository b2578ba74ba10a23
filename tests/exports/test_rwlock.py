"""Executive read-write locks under both profiles: sharing, blocking, hand-off and canary's hole."""

from __future__ import annotations

import pytest
from tests.threadkit import Prog, World

from x360k.exports.rwlock import read_counts
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION

both = pytest.mark.parametrize("profile", PROFILES)


def new_lock(w: World) -> int:
    lock = w.m.alloc(0x38, 8)
    w.m.fill(lock, 0x38, 0xCC)
    w.k.call("ExInitializeReadWriteLock", lock)
    return lock


@both
def test_initialize_writes_a_free_lock(profile: Profile) -> None:
    w = World(profile)
    lock = new_lock(w)
    assert read_counts(w.k, lock) == (-1, 0, 0, 0)
    assert w.m.read_u8(lock + 0x10) == 1  # synchronization event
    assert w.m.read_u8(lock + 0x20) == 5  # semaphore
    assert w.m.read_u32(lock + 0x30) == 0x7FFFFFFF  # its limit
    assert w.m.read_u32(lock + 0x34) == 0  # spin lock


@both
def test_readers_share_and_a_writer_is_refused_until_they_leave(profile: Profile) -> None:
    w = World(profile)
    lock = new_lock(w)
    k = w.k
    assert k.call("ExTryToAcquireReadWriteLockShared", lock) == 1
    k.call("ExAcquireReadWriteLockShared", lock)  # does not block: readers hold it
    assert read_counts(k, lock) == (1, 0, 0, 2)
    assert k.call("ExTryToAcquireReadWriteLockExclusive", lock) == 0
    k.call("ExReleaseReadWriteLock", lock)
    k.call("ExReleaseReadWriteLock", lock)
    assert read_counts(k, lock) == (-1, 0, 0, 0)
    assert k.call("ExTryToAcquireReadWriteLockExclusive", lock) == 1
    assert k.call("ExTryToAcquireReadWriteLockShared", lock) == 0
    k.call("ExReleaseReadWriteLock", lock)
    assert read_counts(k, lock) == (-1, 0, 0, 0)


@both
def test_blocked_readers_all_enter_when_the_writer_leaves(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    lock = new_lock(w)
    k = w.k
    k.call("ExAcquireReadWriteLockExclusive", lock)

    def reader(n: int) -> Prog:
        yield ("ExAcquireReadWriteLockShared", (lock,))
        w.log.append(("in", n))
        yield ("ExReleaseReadWriteLock", (lock,))
        return 0

    w.spawn(reader(1))
    w.spawn(reader(2))
    k.run(max_calls=100)
    assert w.log == []  # both wait behind the writer
    assert read_counts(k, lock) == (2, 0, 2, 0)
    k.call("ExReleaseReadWriteLock", lock)
    assert w.run().outcome == "finished"
    assert sorted(w.log) == [("in", 1), ("in", 2)]
    assert read_counts(k, lock) == (-1, 0, 0, 0)


@both
def test_writer_blocked_behind_readers_gets_the_lock_from_the_last_one(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    lock = new_lock(w)
    k = w.k
    k.call("ExAcquireReadWriteLockShared", lock)

    def writer() -> Prog:
        yield ("ExAcquireReadWriteLockExclusive", (lock,))
        w.log.append("writer in")
        yield ("ExReleaseReadWriteLock", (lock,))
        return 0

    w.spawn(writer())
    k.run(max_calls=100)
    assert w.log == []
    # A writer waits: a new reader may not jump the queue.
    assert k.call("ExTryToAcquireReadWriteLockShared", lock) == 0
    k.call("ExReleaseReadWriteLock", lock)
    assert w.run().outcome == "finished"
    assert w.log == ["writer in"]
    assert read_counts(k, lock) == (-1, 0, 0, 0)


def writer_behind_writer(profile: Profile) -> World:
    """The main thread holds the lock exclusively, a second writer blocks, then main releases."""
    w = World(profile, thread_start_delay=False)
    lock = new_lock(w)
    w.log.append(lock)
    w.k.call("ExAcquireReadWriteLockExclusive", lock)

    def second() -> Prog:
        yield ("ExAcquireReadWriteLockExclusive", (lock,))
        w.log.append("second in")
        yield ("ExReleaseReadWriteLock", (lock,))
        return 0

    w.spawn(second())
    w.k.run(max_calls=100)
    assert read_counts(w.k, lock) == (1, 1, 0, 0)
    w.k.call("ExReleaseReadWriteLock", lock)
    return w


def test_console_hands_the_lock_from_writer_to_writer() -> None:
    w = writer_behind_writer("console")
    assert w.run().outcome == "finished"
    assert w.log[1:] == ["second in"]
    assert read_counts(w.k, w.log[0]) == (-1, 0, 0, 0)


def test_canary_never_wakes_a_writer_queued_behind_a_writer() -> None:
    w = writer_behind_writer("canary")
    result = w.run()
    assert result.outcome == "wedge"
    assert "second in" not in w.log
    lock = w.log[0]
    assert read_counts(w.k, lock) == (0, 1, 0, 0xFFFFFFFF)
    text = result.wedge.render_text()
    assert f"acquiring read-write lock 0x{lock:08X} exclusive" in text
    assert "1 writer(s) and 0 reader(s) waiting, 0xFFFFFFFF reader(s) holding" in text


def test_the_canary_hole_is_one_quirk() -> None:
    w = World("console", thread_start_delay=False, rwlock_release_skips_writer=True)
    lock = new_lock(w)
    w.k.call("ExAcquireReadWriteLockExclusive", lock)

    def second() -> Prog:
        yield ("ExAcquireReadWriteLockExclusive", (lock,))
        return 0

    w.spawn(second())
    w.k.run(max_calls=100)
    w.k.call("ExReleaseReadWriteLock", lock)
    assert w.run().outcome == "wedge"


@both
def test_bad_lock_pointer_changes_nothing_and_never_raises(profile: Profile) -> None:
    k = Kernel(profile)
    for export in ("ExTryToAcquireReadWriteLockShared", "ExTryToAcquireReadWriteLockExclusive"):
        assert k.call(export, 0xFFFFFFF0) == STATUS_ACCESS_VIOLATION, export
    for export in (
        "ExInitializeReadWriteLock",
        "ExAcquireReadWriteLockExclusive",
        "ExAcquireReadWriteLockShared",
        "ExReleaseReadWriteLock",
    ):
        # VOID exports: r3 keeps the argument; the call just fails.
        assert k.call(export, 0xFFFFFFF0) == 0xFFFFFFF0, export
    k.table.check_invariants()
