"""Executive read-write locks (ERWLOCK): a 0x38-byte guest structure over an event and a semaphore.

Layout (big-endian; titles embed these in their own data):

* +0x00 lock count: -1 when free, else holders plus waiters minus one;
* +0x04 writers waiting, +0x08 readers waiting, +0x0C readers holding it;
* +0x10 a synchronization KEVENT a waiting writer sleeps on;
* +0x20 a KSEMAPHORE (limit 0x7FFFFFFF) waiting readers sleep on;
* +0x34 a spin lock word (the kernel's own guard, left 0 here: calls are atomic).

The embedded event and semaphore go through the native-object bridge, so a
blocked acquire is an ordinary wait on a kernel object: the scheduler runs
the others, a release wakes it, and a lock nobody will release shows up in
the wedge report with the lock's counts read when the wedge is reported.

Canary's release path has one hole (quirk ``rwlock_release_skips_writer``):
when the exclusive owner releases with only writers waiting, it decrements
the zero readers count instead of waking the next writer, which then sleeps
for ever and leaves the readers count at 0xFFFFFFFF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.native import ke_initialize_event, ke_initialize_semaphore, resolve_as
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.exports.sync import release_semaphore, set_event
from x360k.native import header as H
from x360k.native.bridge import fail
from x360k.objects.base import KernelObject
from x360k.objects.event import Event
from x360k.objects.semaphore import Semaphore

if TYPE_CHECKING:
    from x360k.dispatcher import WaitBlock
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rwlock")

LOCK_COUNT: Final = 0x00
WRITERS_WAITING: Final = 0x04
READERS_WAITING: Final = 0x08
READERS_ENTRY: Final = 0x0C
WRITER_EVENT: Final = 0x10
READER_SEMAPHORE: Final = 0x20
SPIN_LOCK: Final = 0x34
ERWLOCK_SIZE: Final = 0x38
#: The reader semaphore's limit.
READER_LIMIT: Final = 0x7FFFFFFF
#: The kernel's wait reason for these waits (WrExecutive).
WAIT_REASON: Final = 7
M32: Final = 0xFFFFFFFF


def read_counts(k: KernelState, lock: int) -> tuple[int, int, int, int]:
    """(lock count, writers waiting, readers waiting, readers holding), the first signed."""
    mem = k.memory
    return (
        mem.read_s32(lock + LOCK_COUNT),
        mem.read_u32(lock + WRITERS_WAITING),
        mem.read_u32(lock + READERS_WAITING),
        mem.read_u32(lock + READERS_ENTRY),
    )


def write_counts(
    k: KernelState, lock: int, count: int, writers: int, readers: int, entry: int
) -> None:
    mem = k.memory
    mem.write_u32(lock + LOCK_COUNT, count & M32)
    mem.write_u32(lock + WRITERS_WAITING, writers & M32)
    mem.write_u32(lock + READERS_WAITING, readers & M32)
    mem.write_u32(lock + READERS_ENTRY, entry & M32)


class RwLockWaits:
    """Which read-write lock each blocked thread is acquiring, for the wedge report."""

    __slots__ = ("by_thread", "previous_note")

    def __init__(self, previous_note: object) -> None:
        self.by_thread: dict[int, tuple[int, str]] = {}
        #: The wedge note hook installed before this one (critical sections), asked first.
        self.previous_note = previous_note


def _waits(k: KernelState) -> RwLockWaits:
    state: RwLockWaits | None = k.ext.get("rwlock")
    if state is None:
        state = RwLockWaits(k.ext.get("wedge:wait_note"))
        k.ext["rwlock"] = state
        k.ext["wedge:wait_note"] = _wait_note
    return state


def _wait_note(k: KernelState, wb: WaitBlock) -> str | None:
    state: RwLockWaits = k.ext["rwlock"]
    previous = state.previous_note
    if callable(previous):
        note = previous(k, wb)
        if note:
            return str(note)
    entry = state.by_thread.get(wb.thread.ordinal)
    if entry is None:
        return None
    lock, mode = entry
    count, writers, readers, holders = read_counts(k, lock)
    held = f"0x{holders:08X}" if holders & 0x80000000 else str(holders)
    return (
        f"acquiring read-write lock 0x{lock:08X} {mode}: lock count {count}, "
        f"{writers} writer(s) and {readers} reader(s) waiting, {held} reader(s) holding"
    )


def _block(k: KernelState, t: Thread, lock: int, obj: KernelObject, mode: str) -> int:
    waits = _waits(k).by_thread
    waits[t.ordinal] = (lock, mode)

    def finish(status: int) -> int:
        waits.pop(t.ordinal, None)
        return 0

    return k.wait(
        t,
        [obj],
        wait_all=False,
        alertable=False,
        deadline=None,
        finish=finish,
        note=f"read-write lock 0x{lock:08X} ({mode})",
    )


@GROUP.export(
    "ExInitializeReadWriteLock", 0x11, Param("read_write_lock", K.PTR), returns=Returns.VOID
)
def ex_initialize_read_write_lock(k: KernelState, t: Thread, lock: int) -> int:
    """A free lock: count -1, nobody waiting, an unset writer event, an empty reader semaphore."""
    k.memory.require(lock, ERWLOCK_SIZE)
    write_counts(k, lock, -1, 0, 0, 0)
    ke_initialize_event(k, t, lock + WRITER_EVENT, H.GuestType.SYNCHRONIZATION_EVENT, 0)
    ke_initialize_semaphore(k, t, lock + READER_SEMAPHORE, 0, READER_LIMIT)
    k.memory.write_u32(lock + SPIN_LOCK, 0)
    return 0


@GROUP.export(
    "ExAcquireReadWriteLockExclusive", 0x07, Param("read_write_lock", K.PTR), returns=Returns.VOID
)
def ex_acquire_read_write_lock_exclusive(k: KernelState, t: Thread, lock: int) -> int:
    """Own the lock alone; with any holder, count in as a waiting writer and sleep on the event."""
    k.memory.require(lock, ERWLOCK_SIZE)
    count, writers, readers, entry = read_counts(k, lock)
    count += 1
    if count == 0:
        write_counts(k, lock, count, writers, readers, entry)
        return 0
    write_counts(k, lock, count, writers + 1, readers, entry)
    event = resolve_as(k, t, lock + WRITER_EVENT, Event)
    if event is None:
        fail(k, t, lock, "read-write lock has no usable writer event; not waiting")
        return 0
    return _block(k, t, lock, event, "exclusive")


@GROUP.export(
    "ExTryToAcquireReadWriteLockExclusive",
    0x2DD,
    Param("read_write_lock", K.PTR),
    returns=Returns.VALUE,
)
def ex_try_to_acquire_read_write_lock_exclusive(k: KernelState, t: Thread, lock: int) -> int:
    """Own the lock alone if it is free: 1, else 0 (never waits)."""
    mem = k.memory
    mem.require(lock, ERWLOCK_SIZE)
    if mem.read_s32(lock + LOCK_COUNT) < 0:
        mem.write_u32(lock + LOCK_COUNT, 0)
        return 1
    return 0


def _shared_ok(count: int, writers: int, entry: int) -> bool:
    """A reader gets in at once: the lock is free, or readers hold it and no writer waits."""
    return count == 0 or (entry != 0 and writers == 0)


@GROUP.export(
    "ExAcquireReadWriteLockShared", 0x08, Param("read_write_lock", K.PTR), returns=Returns.VOID
)
def ex_acquire_read_write_lock_shared(k: KernelState, t: Thread, lock: int) -> int:
    """Hold the lock with other readers; behind a writer (holding or waiting), sleep."""
    k.memory.require(lock, ERWLOCK_SIZE)
    count, writers, readers, entry = read_counts(k, lock)
    count += 1
    if _shared_ok(count, writers, entry):
        write_counts(k, lock, count, writers, readers, entry + 1)
        return 0
    write_counts(k, lock, count, writers, readers + 1, entry)
    semaphore = resolve_as(k, t, lock + READER_SEMAPHORE, Semaphore)
    if semaphore is None:
        fail(k, t, lock, "read-write lock has no usable reader semaphore; not waiting")
        return 0
    return _block(k, t, lock, semaphore, "shared")


@GROUP.export(
    "ExTryToAcquireReadWriteLockShared",
    0x2DE,
    Param("read_write_lock", K.PTR),
    returns=Returns.VALUE,
)
def ex_try_to_acquire_read_write_lock_shared(k: KernelState, t: Thread, lock: int) -> int:
    """Hold the lock with other readers if that needs no wait: 1, else 0."""
    k.memory.require(lock, ERWLOCK_SIZE)
    count, writers, readers, entry = read_counts(k, lock)
    if count < 0 or (entry != 0 and writers == 0):
        write_counts(k, lock, count + 1, writers, readers, entry + 1)
        return 1
    return 0


@GROUP.export("ExReleaseReadWriteLock", 0x16, Param("read_write_lock", K.PTR), returns=Returns.VOID)
def ex_release_read_write_lock(k: KernelState, t: Thread, lock: int) -> int:
    """Give up one hold; the last one hands the lock to all waiting readers, else to one writer.

    Like the kernel it models it does not check that the caller holds the
    lock: an unbalanced release corrupts the counts as it would there.
    """
    k.memory.require(lock, ERWLOCK_SIZE)
    count, writers, readers, entry = read_counts(k, lock)
    count -= 1
    if count < 0:
        write_counts(k, lock, count, writers, readers, 0)
        return 0
    if entry == 0 and readers:
        # A writer leaves with readers queued: all of them get in together.
        write_counts(k, lock, count, writers, 0, readers)
        semaphore = resolve_as(k, t, lock + READER_SEMAPHORE, Semaphore)
        if semaphore is not None:
            release_semaphore(k, semaphore, readers)
        return 0
    if entry != 0 or k.quirks.rwlock_release_skips_writer:
        entry = (entry - 1) & M32
        if entry != 0:
            write_counts(k, lock, count, writers, readers, entry)
            return 0
    write_counts(k, lock, count, writers - 1, readers, entry)
    event = resolve_as(k, t, lock + WRITER_EVENT, Event)
    if event is not None:
        set_event(k, event)
    return 0
