"""RTL critical sections: the guest structure as titles read it, contention, hand-off, wedges."""

from __future__ import annotations

import struct

import msgspec
import pytest

from x360k.native import critical_section as CS
from x360k.native import header as H
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_SUCCESS

from ..threadkit import Prog, World


def lock_bytes(value: int, profile: Profile) -> bytes:
    """The lock count as it sits in guest memory (canary: host little-endian)."""
    return struct.pack("<i" if profile == "canary" else ">i", value)


def fields(w: World, cs: int) -> tuple[bytes, int, int]:
    """(raw lock-count bytes, recursion count, owning KTHREAD) as a title reads them."""
    return (
        w.m.read_bytes(cs + CS.LOCK_COUNT, 4),
        w.m.read_s32(cs + CS.RECURSION_COUNT),
        w.m.read_u32(cs + CS.OWNING_THREAD),
    )


def new_cs(w: World, spin: int | None = None) -> int:
    cs = w.m.alloc(CS.CRITICAL_SECTION_SIZE, 8)
    if spin is None:
        w.k.call("RtlInitializeCriticalSection", cs)
    else:
        status = w.k.call("RtlInitializeCriticalSectionAndSpinCount", cs, spin)
        assert status == STATUS_SUCCESS
    return cs


@pytest.mark.parametrize("profile", PROFILES)
def test_initialised_layout(profile: Profile) -> None:
    w = World(profile)
    cs = new_cs(w, spin=1000)
    assert w.m.read_u8(cs + H.TYPE) == H.GuestType.SYNCHRONIZATION_EVENT
    assert w.m.read_u8(cs + H.ABSOLUTE) == 4  # 1000 / 256 rounded up
    assert w.m.read_u32(cs + H.SIGNAL_STATE) == 0
    assert fields(w, cs) == (b"\xff\xff\xff\xff", 0, 0)
    assert CS.spin_count_byte(0x10000000) == 255


@pytest.mark.parametrize("profile", PROFILES)
def test_recursive_enter_and_leave_counts(profile: Profile) -> None:
    w = World(profile)
    cs = new_cs(w)
    me = w.k.main_thread.kthread
    w.k.call("RtlEnterCriticalSection", cs)
    assert fields(w, cs) == (lock_bytes(0, profile), 1, me)
    w.k.call("RtlEnterCriticalSection", cs)
    assert w.k.call("RtlTryEnterCriticalSection", cs) == 1
    # The host-order quirk: 2 reads as 0x02000000 to a big-endian title under canary.
    assert fields(w, cs) == (lock_bytes(2, profile), 3, me)
    for expected in (1, 0):
        w.k.call("RtlLeaveCriticalSection", cs)
        assert fields(w, cs) == (lock_bytes(expected, profile), expected + 1, me)
    w.k.call("RtlLeaveCriticalSection", cs)
    assert fields(w, cs) == (lock_bytes(-1, profile), 0, 0)


def test_quirk_switches_byte_order_alone() -> None:
    w = World("console", critical_section_lock_host_order=True)
    cs = new_cs(w)
    w.k.call("RtlEnterCriticalSection", cs)
    w.k.call("RtlEnterCriticalSection", cs)
    assert fields(w, cs)[0] == b"\x01\x00\x00\x00"


def sleep_1ms(w: World) -> tuple[str, tuple[int, ...]]:
    return ("KeDelayExecutionThread", (1, 0, w.li(-10_000)))


def contention(profile: Profile) -> tuple[World, list[object], int]:
    """Thread 0 holds the section; threads 1..3 arrive in order and queue on it."""
    w = World(profile)
    cs = new_cs(w)

    lock = CS.LockCount(profile == "canary")

    def holder() -> Prog:
        yield ("RtlEnterCriticalSection", (cs,))
        w.log.append(("owner", 0, fields(w, cs)))
        while lock.read(w.m, cs) < 3:  # until all three contenders queue
            yield sleep_1ms(w)
        w.log.append(("queued", fields(w, cs)))
        yield ("RtlLeaveCriticalSection", (cs,))
        w.log.append(("handed", fields(w, cs)))
        return 0

    def contender(n: int) -> Prog:
        for _ in range(n):  # arrive n ms after starting
            yield sleep_1ms(w)
        w.log.append(("try", n, (yield ("RtlTryEnterCriticalSection", (cs,)))))
        yield ("RtlEnterCriticalSection", (cs,))
        w.log.append(("owner", n, fields(w, cs)))
        yield ("RtlEnterCriticalSection", (cs,))  # recursion while others wait
        yield ("NtYieldExecution", ())
        yield ("RtlLeaveCriticalSection", (cs,))
        yield ("RtlLeaveCriticalSection", (cs,))
        return 0

    w.main(holder())
    for n in (1, 2, 3):
        w.spawn(contender(n))
    assert w.run().outcome == "finished"
    return w, w.log, cs


@pytest.mark.parametrize("profile", PROFILES)
def test_contention_hands_off_in_arrival_order(profile: Profile) -> None:
    w, log, cs = contention(profile)
    kthreads = {t.ordinal: t.kthread for t in w.k.threads}
    owners = [entry[1] for entry in log if entry[0] == "owner"]
    assert owners == [0, 1, 2, 3]
    assert [entry[2] for entry in log if entry[0] == "try"] == [0, 0, 0]
    queued = next(entry[1] for entry in log if entry[0] == "queued")
    assert queued == (lock_bytes(3, profile), 1, kthreads[0])  # holder + three waiters
    handed = next(entry[1] for entry in log if entry[0] == "handed")
    assert handed == (lock_bytes(2, profile), 1, kthreads[1])  # given to the first waiter
    for entry in log:
        if entry[0] == "owner":
            assert entry[2][1] == 1 and entry[2][2] == kthreads[entry[1]]  # type: ignore[index]
    assert fields(w, cs) == (b"\xff\xff\xff\xff", 0, 0)


@pytest.mark.parametrize("profile", PROFILES)
def test_contention_is_deterministic(profile: Profile) -> None:
    a, log_a, _ = contention(profile)
    b, log_b, _ = contention(profile)
    assert log_a == log_b
    assert msgspec.msgpack.encode(a.rec.events) == msgspec.msgpack.encode(b.rec.events)


@pytest.mark.parametrize("profile", PROFILES)
def test_wedge_on_a_section_whose_owner_exited(profile: Profile) -> None:
    w = World(profile)
    cs = new_cs(w)

    def leaver() -> Prog:
        yield ("RtlEnterCriticalSection", (cs,))
        yield ("RtlEnterCriticalSection", (cs,))
        return 0  # ends without leaving

    def main() -> Prog:
        while not owner.terminated:
            yield sleep_1ms(w)
        yield ("RtlEnterCriticalSection", (cs,))
        return 0

    owner = w.spawn(leaver())
    w.main(main())
    result = w.run()
    assert result.outcome == "wedge"
    blocked = {b.tid: b for b in result.wedge.blocked}
    assert set(blocked) == {0}
    note = blocked[0].note
    assert f"critical section 0x{cs:08X}" in note
    assert f"owned by thread {owner.ordinal}" in note and "has ended" in note
    assert "recursion count 2" in note and "lock count 2" in note
    text = result.wedge.render_text()
    assert note in text and f"at 0x{cs:08X}" in text
