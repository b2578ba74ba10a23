"""The dispatcher header and the per-type bodies, as they sit in guest memory.

Every waitable kernel structure starts with the same 16-byte header
(big-endian): a type byte, the ``absolute`` and ``size`` bytes, an
``inserted`` byte, the signed signal state and a wait-list head. Titles read
the signal state directly and compilers expand KeInitializeEvent inline, so
the layout here is exactly what guest code sees; nothing else in x360k needs
to know these offsets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from x360k.memory import GuestMemory

TYPE: Final = 0x0
ABSOLUTE: Final = 0x1
SIZE: Final = 0x2
INSERTED: Final = 0x3
SIGNAL_STATE: Final = 0x4
WAIT_LIST_FLINK: Final = 0x8
WAIT_LIST_BLINK: Final = 0xC
HEADER_SIZE: Final = 0x10

#: KSEMAPHORE: header + Limit.
SEMAPHORE_LIMIT: Final = 0x10
KSEMAPHORE_SIZE: Final = 0x14
#: KMUTANT: header + MutantListEntry (8) + OwnerThread + Abandoned (u8).
MUTANT_LIST_ENTRY: Final = 0x10
MUTANT_OWNER: Final = 0x18
MUTANT_ABANDONED: Final = 0x1C
KMUTANT_SIZE: Final = 0x20
#: KTIMER: header + DueTime (u64) + TimerListEntry (8) + Dpc* + Period (ms).
TIMER_DUE_TIME: Final = 0x10
TIMER_LIST_ENTRY: Final = 0x18
TIMER_DPC: Final = 0x20
TIMER_PERIOD: Final = 0x24
KTIMER_SIZE: Final = 0x28

#: Canary's signature in wait_list_flink of a structure it has bridged: 'X','E','N',0.
SIGNATURE: Final = 0x58454E00


class GuestType(enum.IntEnum):
    """The header's type byte (the kernel's dispatcher object types)."""

    NOTIFICATION_EVENT = 0
    SYNCHRONIZATION_EVENT = 1
    MUTANT = 2
    PROCESS = 3
    QUEUE = 4
    SEMAPHORE = 5
    THREAD = 6
    GATE = 7
    NOTIFICATION_TIMER = 8
    SYNCHRONIZATION_TIMER = 9


def type_name(type_byte: int) -> str:
    """A readable name for a type byte, also for values no dispatcher type has."""
    try:
        return GuestType(type_byte).name.lower().replace("_", " ")
    except ValueError:
        return f"unknown type {type_byte}"


@dataclass(slots=True, frozen=True)
class DispatcherHeader:
    """A decoded header, for reports and tests (the hot paths read single fields)."""

    type: int
    absolute: int
    size: int
    inserted: int
    signal_state: int
    wait_list_flink: int
    wait_list_blink: int

    @property
    def stamped(self) -> bool:
        return self.wait_list_flink == SIGNATURE


def read_header(mem: GuestMemory, ptr: int) -> DispatcherHeader:
    return DispatcherHeader(
        type=mem.read_u8(ptr + TYPE),
        absolute=mem.read_u8(ptr + ABSOLUTE),
        size=mem.read_u8(ptr + SIZE),
        inserted=mem.read_u8(ptr + INSERTED),
        signal_state=mem.read_s32(ptr + SIGNAL_STATE),
        wait_list_flink=mem.read_u32(ptr + WAIT_LIST_FLINK),
        wait_list_blink=mem.read_u32(ptr + WAIT_LIST_BLINK),
    )


def write_header(
    mem: GuestMemory,
    ptr: int,
    type_byte: int,
    signal_state: int,
    *,
    size_bytes: int = 0,
    absolute: int = 0,
    empty_wait_list: bool = True,
) -> None:
    """Write a header as an initialising kernel routine would.

    ``size_bytes`` is the whole structure's size (stored in 32-bit words; 0
    leaves the byte 0, as canary does). With ``empty_wait_list`` the wait-list
    head points at itself, the state of a list with no waiters.
    """
    mem.write_u8(ptr + TYPE, type_byte)
    mem.write_u8(ptr + ABSOLUTE, absolute)
    mem.write_u8(ptr + SIZE, size_bytes // 4)
    mem.write_u8(ptr + INSERTED, 0)
    mem.write_u32(ptr + SIGNAL_STATE, signal_state)
    if empty_wait_list:
        init_list_head(mem, ptr + WAIT_LIST_FLINK)


def init_list_head(mem: GuestMemory, entry: int) -> None:
    """An empty LIST_ENTRY: flink and blink both point at the entry itself."""
    mem.write_u32(entry, entry)
    mem.write_u32(entry + 4, entry)
