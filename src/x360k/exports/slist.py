"""Interlocked singly linked lists (SLIST_HEADER): push, pop and flush on a guest header.

The header is 8 big-endian bytes: +0 the first entry (0 for an empty list),
+4 the depth (u16), +6 the sequence (u16). An entry's first word is its next
pointer. Every operation is one atomic step here (only one guest thread runs
at a time), which is what the kernel's compare-and-swap loop achieves.

The sequence number counts pushes (it guards the lock-free pop against ABA
reuse); a pop leaves it alone. Canary's flush zeroes the whole header; NT's
keeps the sequence (quirk ``slist_flush_clears_sequence``). A bad header or
entry pointer fails the call with STATUS_ACCESS_VIOLATION in r3, nothing
changed, where the console would fault in the same place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("slist")

NEXT: Final = 0x0
DEPTH: Final = 0x4
SEQUENCE: Final = 0x6
SLIST_HEADER_SIZE: Final = 0x8


def read_header(k: KernelState, head: int) -> tuple[int, int, int]:
    """(first entry, depth, sequence)."""
    mem = k.memory
    return mem.read_u32(head + NEXT), mem.read_u16(head + DEPTH), mem.read_u16(head + SEQUENCE)


def write_header(k: KernelState, head: int, first: int, depth: int, sequence: int) -> None:
    mem = k.memory
    mem.write_u32(head + NEXT, first & 0xFFFFFFFF)
    mem.write_u16(head + DEPTH, depth & 0xFFFF)
    mem.write_u16(head + SEQUENCE, sequence & 0xFFFF)


@GROUP.export(
    "InterlockedPushEntrySList",
    0x2D,
    Param("list_head", K.PTR),
    Param("list_entry", K.PTR),
    returns=Returns.VALUE,
)
def interlocked_push_entry_slist(k: KernelState, t: Thread, head: int, entry: int) -> int:
    """Put ``entry`` first; depth and sequence go up by one. Returns the previous first entry."""
    mem = k.memory
    mem.require(head, SLIST_HEADER_SIZE)
    mem.require(entry, 4)
    first, depth, sequence = read_header(k, head)
    mem.write_u32(entry, first)
    write_header(k, head, entry, depth + 1, sequence + 1)
    return first


@GROUP.export("InterlockedPopEntrySList", 0x2C, Param("list_head", K.PTR), returns=Returns.VALUE)
def interlocked_pop_entry_slist(k: KernelState, t: Thread, head: int) -> int:
    """Take the first entry off (0 for an empty list); the depth goes down by one."""
    mem = k.memory
    mem.require(head, SLIST_HEADER_SIZE)
    first, depth, sequence = read_header(k, head)
    if first == 0:
        return 0
    write_header(k, head, mem.read_u32(first), depth - 1, sequence)
    return first


@GROUP.export("InterlockedFlushSList", 0x2B, Param("list_head", K.PTR), returns=Returns.VALUE)
def interlocked_flush_slist(k: KernelState, t: Thread, head: int) -> int:
    """Empty the list in one step; returns the old first entry (the chain stays linked)."""
    mem = k.memory
    mem.require(head, SLIST_HEADER_SIZE)
    first, _depth, sequence = read_header(k, head)
    write_header(k, head, 0, 0, 0 if k.quirks.slist_flush_clears_sequence else sequence)
    return first
