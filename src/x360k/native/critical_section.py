"""RTL critical sections: a 28-byte guest structure with an event inside.

Layout (titles read these fields, and some ship critical sections already
initialised in their data, so this is the whole state):

* +0x00 a dispatcher header of type 1 (a synchronization event the
  contenders wait on); its ``absolute`` byte holds the spin count / 256;
* +0x10 lock count: -1 when free, else the number of holders and waiters
  minus one. Canary keeps it in host (little-endian) byte order, unlike every
  other field (quirk ``critical_section_lock_host_order``); -1 and 0 read the
  same either way, other values do not;
* +0x14 recursion count (big-endian, signed);
* +0x18 owning KTHREAD (0 when free).

Entering takes the lock when the count goes from -1 to 0, re-enters for the
owner, and otherwise adds itself to the count and waits on the embedded
event; the last leave hands the section to the longest waiter by setting
that event, so the hand-off order is the scheduler's FIFO order.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from x360k.native import header as H

if TYPE_CHECKING:
    from x360k.memory import GuestMemory

LOCK_COUNT: Final = 0x10
RECURSION_COUNT: Final = 0x14
OWNING_THREAD: Final = 0x18
CRITICAL_SECTION_SIZE: Final = 0x1C

#: Recursion count and owner: big-endian under both profiles.
_TAIL: Final = struct.Struct(">iI")


def _s32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class LockCount:
    """The byte order the profile keeps the lock count in, and whole-state access.

    Every operation reads the 12 bytes after the header once and writes them
    back once: the uncontended enter/leave pair is the hottest path titles
    have, so it costs two guest-memory accesses each way.
    """

    __slots__ = ("_fmt", "host_order")

    # ``_fmt`` is read directly by this module's enter/leave fast paths.

    def __init__(self, host_order: bool) -> None:
        self.host_order = host_order
        self._fmt = struct.Struct("<i" if host_order else ">i")

    def read_state(self, mem: GuestMemory, cs: int) -> tuple[int, int, int]:
        """(lock count, recursion count, owning KTHREAD)."""
        buf, off = mem.span(cs + LOCK_COUNT, 12)
        recursion, owner = _TAIL.unpack_from(buf, off + 4)
        return self._fmt.unpack_from(buf, off)[0], recursion, owner

    def write_state(self, mem: GuestMemory, cs: int, lock: int, recursion: int, owner: int) -> None:
        buf, off = mem.span(cs + LOCK_COUNT, 12)
        self._fmt.pack_into(buf, off, _s32(lock))
        _TAIL.pack_into(buf, off + 4, _s32(recursion), owner & 0xFFFFFFFF)

    def read(self, mem: GuestMemory, cs: int) -> int:
        return self.read_state(mem, cs)[0]


def spin_count_byte(spin_count: int) -> int:
    """The spin count as the header's ``absolute`` byte: /256 rounded up, at most 255."""
    return min(255, ((spin_count & 0xFFFFFFFF) + 255) >> 8)


def initialize(
    mem: GuestMemory, cs: int, lock: LockCount, spin_count: int, *, console: bool
) -> None:
    """RtlInitializeCriticalSection(AndSpinCount): a free section with its event unset.

    The console writes a whole KEVENT header (size and an empty wait list);
    canary writes only the type, spin byte and signal state and leaves the
    wait-list words as they were.
    """
    if console:
        H.write_header(
            mem,
            cs,
            H.GuestType.SYNCHRONIZATION_EVENT,
            0,
            size_bytes=H.HEADER_SIZE,
            absolute=spin_count_byte(spin_count),
        )
    else:
        mem.write_u8(cs + H.TYPE, H.GuestType.SYNCHRONIZATION_EVENT)
        mem.write_u8(cs + H.ABSOLUTE, spin_count_byte(spin_count))
        mem.write_u32(cs + H.SIGNAL_STATE, 0)
    lock.write_state(mem, cs, -1, 0, 0)


def try_acquire(mem: GuestMemory, cs: int, lock: LockCount, kthread: int) -> bool:
    """Take the section if it is free or already ours (RtlTryEnter, and Enter's fast path)."""
    buf, off = mem.span(cs + LOCK_COUNT, 12)
    fmt = lock._fmt
    count = fmt.unpack_from(buf, off)[0]
    recursion, owner = _TAIL.unpack_from(buf, off + 4)
    if owner == kthread:
        fmt.pack_into(buf, off, _s32(count + 1))
        _TAIL.pack_into(buf, off + 4, _s32(recursion + 1), owner)
        return True
    if count == -1:
        fmt.pack_into(buf, off, 0)
        _TAIL.pack_into(buf, off + 4, 1, kthread)
        return True
    return False


def take(mem: GuestMemory, cs: int, lock: LockCount, kthread: int) -> None:
    """A woken waiter now owns the section once (the lock count already counts it)."""
    count, _recursion, _owner = lock.read_state(mem, cs)
    lock.write_state(mem, cs, count, 1, kthread)


def join_waiters(mem: GuestMemory, cs: int, lock: LockCount) -> bool:
    """Count the caller in; True if someone holds it (the caller must wait)."""
    count, recursion, owner = lock.read_state(mem, cs)
    lock.write_state(mem, cs, count + 1, recursion, owner)
    return count + 1 != 0


def release(mem: GuestMemory, cs: int, lock: LockCount) -> bool:
    """One leave; True when a waiter must be woken (the embedded event set).

    Like the kernel it models, this does not check that the caller owns the
    section: an unbalanced leave corrupts the counts just as it would there.
    """
    buf, off = mem.span(cs + LOCK_COUNT, 12)
    fmt = lock._fmt
    count = _s32(fmt.unpack_from(buf, off)[0] - 1)
    recursion, owner = _TAIL.unpack_from(buf, off + 4)
    recursion = _s32(recursion - 1)
    fmt.pack_into(buf, off, count)
    if recursion != 0:
        _TAIL.pack_into(buf, off + 4, recursion, owner)
        return False
    _TAIL.pack_into(buf, off + 4, 0, 0)
    return count != -1
