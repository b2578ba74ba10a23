"""Interlocked SLists under both profiles: LIFO order, depth and sequence, flush, bad pointers."""

from __future__ import annotations

import pytest

from x360k.exports.slist import read_header
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_push_and_pop_are_lifo_and_keep_depth_and_sequence(k: Kernel) -> None:
    head = k.memory.alloc(8, 8)
    entries = [k.memory.alloc(8, 8) for _ in range(3)]
    previous = [k.call("InterlockedPushEntrySList", head, e) for e in entries]
    assert previous == [0, entries[0], entries[1]]
    assert read_header(k, head) == (entries[2], 3, 3)
    assert k.memory.read_u32(entries[2]) == entries[1]  # entries link to the one below
    assert k.call("InterlockedPopEntrySList", head) == entries[2]
    # A pop lowers the depth and leaves the sequence (it counts pushes).
    assert read_header(k, head) == (entries[1], 2, 3)
    assert k.call("InterlockedPopEntrySList", head) == entries[1]
    assert k.call("InterlockedPopEntrySList", head) == entries[0]
    assert k.call("InterlockedPopEntrySList", head) == 0
    assert read_header(k, head) == (0, 0, 3)


@pytest.mark.parametrize("profile", PROFILES)
def test_flush_returns_the_chain_and_empties_the_list(profile: Profile) -> None:
    k = Kernel(profile)
    head = k.memory.alloc(8, 8)
    a, b = k.memory.alloc(4, 4), k.memory.alloc(4, 4)
    k.call("InterlockedPushEntrySList", head, a)
    k.call("InterlockedPushEntrySList", head, b)
    assert k.call("InterlockedFlushSList", head) == b
    assert k.memory.read_u32(b) == a  # the returned chain is intact
    first, depth, sequence = read_header(k, head)
    assert (first, depth) == (0, 0)
    # Canary zeroes the sequence; NT keeps it.
    assert sequence == (0 if profile == "canary" else 2)
    assert k.call("InterlockedFlushSList", head) == 0


def test_sequence_wraps_at_sixteen_bits(k: Kernel) -> None:
    head = k.memory.alloc(8, 8)
    k.memory.write_u16(head + 6, 0xFFFF)
    e = k.memory.alloc(4, 4)
    k.call("InterlockedPushEntrySList", head, e)
    assert read_header(k, head) == (e, 1, 0)


def test_bad_pointers_are_access_violations_with_nothing_changed(k: Kernel) -> None:
    head = k.memory.alloc(8, 8)
    bad = 0xFFFFFFF0
    assert k.call("InterlockedPushEntrySList", head, bad) == STATUS_ACCESS_VIOLATION
    assert read_header(k, head) == (0, 0, 0)
    assert k.call("InterlockedPushEntrySList", bad, head) == STATUS_ACCESS_VIOLATION
    assert k.call("InterlockedPopEntrySList", bad) == STATUS_ACCESS_VIOLATION
    assert k.call("InterlockedFlushSList", bad) == STATUS_ACCESS_VIOLATION
    # A head whose first entry is unmapped: the pop faults and the header stays.
    k.memory.write_u32(head, bad)
    k.memory.write_u16(head + 4, 1)
    assert k.call("InterlockedPopEntrySList", head) == STATUS_ACCESS_VIOLATION
    assert read_header(k, head) == (bad, 1, 0)
