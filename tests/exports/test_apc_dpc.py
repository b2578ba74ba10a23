"""KAPC and KDPC objects under both profiles: queueing, delivery, removal, canary's gaps."""

from __future__ import annotations

import pytest
from tests.threadkit import Prog, World, wait1

from x360k.exports.apc_dpc import KAPC_SIZE, KDPC_SIZE
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_USER_APC

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000


def apc_world(profile: Profile) -> tuple[World, int, int]:
    """A world with a normal routine and a kernel routine that rewrites the context to 77."""
    w = World(profile, thread_start_delay=False)

    def normal(context: int, a1: int, a2: int) -> Prog:
        w.log.append(("normal", context, a1, a2))
        yield ("NtYieldExecution", ())
        return 0

    def kernel_routine(apc: int, p_normal: int, p_context: int, p_a1: int, p_a2: int) -> Prog:
        w.log.append(("kernel", apc, w.m.read_u32(p_context)))
        w.m.write_u32(p_context, 77)
        yield ("NtYieldExecution", ())
        return 0

    return w, w.routine(normal), w.routine(kernel_routine)


@both
def test_initialize_apc_fills_the_kapc(profile: Profile) -> None:
    k = Kernel(profile)
    apc = k.memory.alloc(KAPC_SIZE, 8)
    k.memory.fill(apc, KAPC_SIZE, 0xEE)
    t = k.main_thread
    k.call("KeInitializeApc", apc, t.kthread, 0x1000, 0x2000, 0x3000, 1, 0x55)
    m = k.memory
    assert (m.read_u8(apc), m.read_u8(apc + 1), m.read_u8(apc + 2), m.read_u8(apc + 3)) == (
        18,
        0,
        1,
        0,
    )
    assert [m.read_u32(apc + o) for o in (4, 0x10, 0x14, 0x18, 0x1C)] == [
        t.kthread,
        0x1000,
        0x2000,
        0x3000,
        0x55,
    ]
    # No normal routine: a kernel-mode APC with no context, whatever was asked.
    k.call("KeInitializeApc", apc, t.kthread, 0x1000, 0, 0, 1, 0x55)
    assert (m.read_u8(apc + 2), m.read_u32(apc + 0x1C)) == (0, 0)


def alertable_sleeper(w: World, apc: int, normal: int, kernel_routine: int) -> int:
    """A thread in an alertable wait; an APC for it is then initialised and inserted."""
    ev = w.event()
    w.log.append(ev)

    def sleeper() -> Prog:
        w.log.append(("wait", (yield wait1(ev, alertable=True))))
        w.log.append(("delay", (yield ("KeDelayExecutionThread", (1, 1, w.li(-MS))))))
        return 0

    t = w.spawn(sleeper())
    w.k.run(max_calls=50)
    w.k.call("KeInitializeApc", apc, t.kthread, kernel_routine, 0, normal, 1, 5)
    assert w.k.call("KeInsertQueueApc", apc, 6, 7, 0) == 1
    assert w.k.call("KeInsertQueueApc", apc, 6, 7, 0) == 0  # already queued
    assert w.m.read_u8(apc + 3) == 1
    return ev


def test_console_insert_alerts_the_waiter_and_runs_both_routines() -> None:
    w, normal, kernel_routine = apc_world("console")
    apc = w.m.alloc(KAPC_SIZE, 8)
    alertable_sleeper(w, apc, normal, kernel_routine)
    assert w.run().outcome == "finished"
    # The kernel routine ran first and rewrote the context the normal routine got.
    assert w.log[1:] == [
        ("kernel", apc, 5),
        ("normal", 77, 6, 7),
        ("wait", STATUS_USER_APC),
        ("delay", 0),
    ]
    assert w.m.read_u8(apc + 3) == 0


def test_canary_insert_waits_for_the_next_alertable_wait() -> None:
    w, normal, kernel_routine = apc_world("canary")
    apc = w.m.alloc(KAPC_SIZE, 8)
    ev = alertable_sleeper(w, apc, normal, kernel_routine)
    w.k.run(max_calls=100)
    assert len(w.log) == 1  # still waiting, nothing ran
    w.k.call("NtSetEvent", ev, 0)
    assert w.run().outcome == "finished"
    assert w.log[1:] == [
        ("wait", 0),
        ("kernel", apc, 5),
        ("normal", 77, 6, 7),
        ("delay", STATUS_USER_APC),
    ]


@both
def test_removed_apc_never_runs(profile: Profile) -> None:
    w, normal, kernel_routine = apc_world(profile)
    w.k.quirks = w.k.quirks.replace(ke_insert_apc_no_alert=True)
    apc = w.m.alloc(KAPC_SIZE, 8)
    ev = alertable_sleeper(w, apc, normal, kernel_routine)
    assert w.k.call("KeRemoveQueueApc", apc) == 1
    assert w.k.call("KeRemoveQueueApc", apc) == 0
    w.k.call("NtSetEvent", ev, 0)
    assert w.run().outcome == "finished"
    assert w.log[1:] == [("wait", 0), ("delay", 0)]


@both
def test_kernel_mode_apc_is_queued_but_not_delivered(profile: Profile) -> None:
    w, normal, kernel_routine = apc_world(profile)
    apc = w.m.alloc(KAPC_SIZE, 8)
    t = w.k.main_thread
    w.k.call("KeInitializeApc", apc, t.kthread, kernel_routine, 0, normal, 0, 1)
    assert w.k.call("KeInsertQueueApc", apc, 0, 0, 0) == 1
    assert w.k.call("KeDelayExecutionThread", 1, 1, w.li(-MS)) == 0
    assert w.log == []
    assert w.k.call("KeRemoveQueueApc", apc) == 1


@both
def test_insert_without_a_live_thread_fails(profile: Profile) -> None:
    w, normal, _ = apc_world(profile)
    apc = w.m.alloc(KAPC_SIZE, 8)
    w.k.call("KeInitializeApc", apc, 0, 0, 0, normal, 1, 0)
    assert w.k.call("KeInsertQueueApc", apc, 0, 0, 0) == 0
    assert w.k.call("KeRemoveQueueApc", apc) == 0
    w.k.call("KeInitializeApc", apc, 0x12345678, 0, 0, normal, 1, 0)
    assert w.k.call("KeInsertQueueApc", apc, 0, 0, 0) == 0
    assert w.k.call("KiApcNormalRoutineNop", 1, 2) == 0


# -- DPCs -------------------------------------------------------------------------------------


def dpc_world(profile: Profile) -> tuple[World, int]:
    w = World(profile, thread_start_delay=False)

    def deferred(dpc: int, context: int, a1: int, a2: int) -> Prog:
        pcr = w.k.current.pcr if w.k.current else 0
        w.log.append(("dpc", dpc, context, a1, a2, w.m.read_u8(pcr + 0x18)))
        yield ("NtYieldExecution", ())
        return 0

    return w, w.routine(deferred)


def test_console_dpc_runs_before_the_insert_returns() -> None:
    w, routine = dpc_world("console")
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, routine, 9)
    assert w.m.read_u16(dpc) == 19
    assert w.k.call("KeInsertQueueDpc", dpc, 1, 2) == 1
    assert w.log == [("dpc", dpc, 9, 1, 2, 2)]  # at DISPATCH_LEVEL
    assert w.m.read_u8(w.k.main_thread.pcr + 0x18) == 0  # and back
    # The insert's return follows the routine's calls in the thread's stream.
    names = [(e.kind, e.name) for e in w.rec.thread(0) if e.kind.startswith("kernel.")]
    assert names[-3:] == [
        ("kernel.call", "NtYieldExecution"),
        ("kernel.return", "NtYieldExecution"),
        ("kernel.return", "KeInsertQueueDpc"),
    ]
    assert w.k.call("KeRemoveQueueDpc", dpc) == 0  # dequeued before it ran


def test_console_dpc_at_raised_irql_stays_queued() -> None:
    w, routine = dpc_world("console")
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, routine, 0)
    w.m.write_u8(w.k.main_thread.pcr + 0x18, 2)
    assert w.k.call("KeInsertQueueDpc", dpc, 0, 0) == 1
    assert w.k.call("KeInsertQueueDpc", dpc, 0, 0) == 0
    assert w.log == []
    assert w.k.call("KeRemoveQueueDpc", dpc) == 1


@both
def test_dpc_queued_at_raised_irql_runs_when_the_irql_drops(profile: Profile) -> None:
    w, routine = dpc_world(profile)
    dpc = w.m.alloc(KDPC_SIZE, 8)
    lock = w.m.alloc(4, 4)
    w.k.call("KeInitializeDpc", dpc, routine, 8)
    old = w.k.call("KfAcquireSpinLock", lock)
    assert w.k.call("KeInsertQueueDpc", dpc, 0, 0) == 1
    assert w.log == []
    w.k.call("KfReleaseSpinLock", lock, old)
    if profile == "console":
        assert w.log == [("dpc", dpc, 8, 0, 0, 2)]
        assert w.k.call("KeRemoveQueueDpc", dpc) == 0
    else:
        assert w.log == []
        assert w.k.call("KeRemoveQueueDpc", dpc) == 1
    assert w.m.read_u8(w.k.main_thread.pcr + 0x18) == 0
    w.k.call("KfRaiseIrql", 2)
    assert w.k.call("KeInsertQueueDpc", dpc, 0, 0) == 1
    w.k.call("KfLowerIrql", 0)
    assert len(w.log) == (2 if profile == "console" else 0)


def test_canary_dpc_is_queued_and_never_runs() -> None:
    w, routine = dpc_world("canary")
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, routine, 0)
    assert w.k.call("KeInsertQueueDpc", dpc, 1, 2) == 1
    assert w.k.call("KeInsertQueueDpc", dpc, 1, 2) == 0
    assert w.run().outcome == "finished"
    assert w.log == []
    assert (w.m.read_u32(dpc + 0x14), w.m.read_u32(dpc + 0x18)) == (1, 2)
    assert w.k.call("KeRemoveQueueDpc", dpc) == 1
    assert w.k.call("KeRemoveQueueDpc", dpc) == 0


def test_console_dpc_routine_with_no_program_is_recorded() -> None:
    w, _ = dpc_world("console")
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, 0x82000000, 0)
    assert w.k.call("KeInsertQueueDpc", dpc, 0, 0) == 1
    texts = [e.text for e in w.rec.events if e.kind == "marker"]
    assert "DPC routine 0x82000000 cannot run in this host" in texts


def test_console_dpc_inserted_by_a_scheduled_thread_runs_on_it() -> None:
    w, routine = dpc_world("console")
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, routine, 3)

    def worker() -> Prog:
        w.log.append(("inserted", (yield ("KeInsertQueueDpc", (dpc, 4, 5)))))
        return 0

    t = w.spawn(worker())
    assert w.run().outcome == "finished"
    assert w.log == [("dpc", dpc, 3, 4, 5, 2), ("inserted", 1)]
    assert t.terminated


@both
def test_queued_kapcs_go_with_their_thread(profile: Profile) -> None:
    w, normal, _ = apc_world(profile)
    apc = w.m.alloc(KAPC_SIZE, 8)

    ev = w.event()

    def quick() -> Prog:
        yield wait1(ev)  # not alertable: the APC stays queued
        return 0

    t = w.spawn(quick())
    w.k.run(max_calls=50)
    w.k.call("KeInitializeApc", apc, t.kthread, 0, 0x1000, normal, 1, 0)
    assert w.k.call("KeInsertQueueApc", apc, 0, 0, 0) == 1
    w.k.call("NtSetEvent", ev, 0)
    assert w.run().outcome == "finished"
    assert w.log == []  # never alertable: it ended with the APC queued
    assert w.m.read_u8(apc + 3) == 0
    assert w.k.call("KeRemoveQueueApc", apc) == 0
    texts = [e.text for e in w.rec.events if e.kind == "marker"]
    assert f"apc 0x{apc:08x}: rundown routine 0x00001000 not run" in texts


def test_console_dpc_runs_before_another_ready_thread() -> None:
    w = World("console", thread_start_delay=False)

    def deferred(dpc: int, context: int, a1: int, a2: int) -> Prog:
        # At DISPATCH_LEVEL nothing reschedules: a routine's calls do not let others in.
        w.log.append(("dpc", (yield ("KeQueryPerformanceFrequency", ()))))
        return 0

    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeDpc", dpc, w.routine(deferred), 3)

    def inserter() -> Prog:
        w.log.append(("inserted", (yield ("KeInsertQueueDpc", (dpc, 0, 0)))))
        return 0

    def other() -> Prog:
        w.log.append("other")
        yield ("NtYieldExecution", ())
        return 0

    w.spawn(inserter())
    w.spawn(other())
    assert w.run().outcome == "finished"
    assert w.log == [("dpc", 50_000_000), ("inserted", 1), "other"]
