"""Wait exports: every status, wait-all atomicity, timeouts per profile, APCs, signal-and-wait.

STATUS_ALERTED (0x101) is never returned by either profile: canary never
produces it (its wait code only wonders whether it should), and x360k models no
kernel alerts (there is no KeAlertThread export in either profile), so an
interrupted alertable wait always reports STATUS_USER_APC.
"""

from __future__ import annotations

import pytest

from x360k.kernel import SYSTEM_TIME_BASE
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ABANDONED_WAIT_0,
    STATUS_ALERTED,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1,
    STATUS_INVALID_PARAMETER_3,
    STATUS_INVALID_PARAMETER_MIX,
    STATUS_MUTANT_NOT_OWNED,
    STATUS_NO_YIELD_PERFORMED,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SEMAPHORE_LIMIT_EXCEEDED,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_USER_APC,
    STATUS_WAIT_0,
)

from ..threadkit import Prog, World, wait1

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000
WAIT_ALL, WAIT_ANY = 0, 1


def multi(w: World, handles: list[int], wait_type: int, timeout: int = 0) -> int:
    return w.k.call(
        "NtWaitForMultipleObjectsEx", len(handles), w.handles(*handles), wait_type, 1, 0, timeout
    )


def poll(w: World, handle: int) -> int:
    return w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, w.li(0))


# -- wait-any / wait-all -----------------------------------------------------------------------


@both
@pytest.mark.parametrize("index", [0, 1, 5, 63])
def test_wait_any_returns_wait_0_plus_lowest_signalled_index(profile: Profile, index: int) -> None:
    w = World(profile)
    events = [w.event() for _ in range(64)]
    w.k.call("NtSetEvent", events[index], 0)
    if index + 1 < 64:
        w.k.call("NtSetEvent", events[63], 0)
    assert multi(w, events, WAIT_ANY) == STATUS_WAIT_0 + index
    # Only the object reported was consumed.
    if index != 63:
        assert poll(w, events[63]) == STATUS_WAIT_0


@both
def test_wait_any_accepts_duplicates_and_reports_the_lowest_index(profile: Profile) -> None:
    w = World(profile)
    ev = w.event(state=True)
    dup = w.out()
    w.k.call("NtDuplicateObject", ev, dup, 0)
    other = w.event()
    assert multi(w, [other, w.u32(dup), ev], WAIT_ANY) == STATUS_WAIT_0 + 1


@both
def test_wait_all_is_atomic_nothing_consumed_unless_all_ready(profile: Profile) -> None:
    w = World(profile)
    e1, e2 = w.event(state=True), w.event()
    sem = w.semaphore(1, 1)

    def all_waiter() -> Prog:
        w.log.append(
            ("all", (yield ("NtWaitForMultipleObjectsEx", (3, w.handles(e1, sem, e2), 0, 1, 0, 0))))
        )
        return 0

    w.spawn(all_waiter())
    w.k.run(max_calls=100)
    assert w.log == []
    # e1 and the semaphore are still available: nothing was consumed by the blocked wait-all.
    assert poll(w, e1) == STATUS_WAIT_0
    assert poll(w, sem) == STATUS_WAIT_0
    w.k.call("NtSetEvent", e1, 0)
    w.k.call("NtReleaseSemaphore", sem, 1, 0)
    w.k.call("NtSetEvent", e2, 0)
    w.k.run(max_calls=100)
    assert w.log == [("all", STATUS_WAIT_0)]
    # ...and when it was satisfied, every object's side effect happened at once.
    assert poll(w, e1) == STATUS_TIMEOUT
    assert poll(w, e2) == STATUS_TIMEOUT
    assert poll(w, sem) == STATUS_TIMEOUT


@both
def test_wait_all_poll_consumes_nothing_when_one_is_missing(profile: Profile) -> None:
    w = World(profile)
    e1, e2 = w.event(state=True), w.event()
    assert multi(w, [e1, e2], WAIT_ALL, w.li(0)) == STATUS_TIMEOUT
    assert poll(w, e1) == STATUS_WAIT_0


@both
def test_wait_all_with_an_object_twice(profile: Profile) -> None:
    w = World(profile)
    ev = w.event(state=True)
    dup = w.out()
    w.k.call("NtDuplicateObject", ev, dup, 0)
    status = multi(w, [ev, w.u32(dup)], WAIT_ALL)
    expected = STATUS_ABANDONED_WAIT_0 if profile == "canary" else STATUS_INVALID_PARAMETER_MIX
    assert status == expected
    assert poll(w, ev) == STATUS_WAIT_0  # not consumed


@both
@pytest.mark.parametrize(("count", "wait_type"), [(0, 1), (65, 1), (2, 2)])
def test_multi_wait_parameter_checks(profile: Profile, count: int, wait_type: int) -> None:
    w = World(profile)
    events = [w.event(state=True) for _ in range(65)]
    array = w.handles(*events)
    status = w.k.call("NtWaitForMultipleObjectsEx", count, array, wait_type, 1, 0, 0)
    if profile == "canary":
        assert status == STATUS_INVALID_PARAMETER
    else:  # NT names the argument at fault: 1 the count, 3 the wait type
        assert status == (STATUS_INVALID_PARAMETER_3 if count == 2 else STATUS_INVALID_PARAMETER_1)


@both
def test_multi_wait_with_an_invalid_handle(profile: Profile) -> None:
    w = World(profile)
    ev = w.event(state=True)
    status = multi(w, [ev, 0xF8FFFFF0], WAIT_ANY)
    assert status == (STATUS_INVALID_PARAMETER if profile == "canary" else STATUS_INVALID_HANDLE)
    assert poll(w, ev) == STATUS_WAIT_0


@both
def test_single_wait_invalid_handle(profile: Profile) -> None:
    w = World(profile)
    assert w.k.call("NtWaitForSingleObjectEx", 0xF8FFFFF0, 1, 0, 0) == STATUS_INVALID_HANDLE


# -- timeouts ----------------------------------------------------------------------------------


def timed_wait(w: World, value: int) -> tuple[int, int]:
    """Wait on a never-set event with a timeout of ``value``; (status, virtual ticks taken)."""
    ev = w.event()
    ptr = w.li(value)
    start = w.k.clock
    status = w.k.call("NtWaitForSingleObjectEx", ev, 1, 0, ptr)
    return status, w.k.clock - start


@both
def test_zero_timeout_polls(profile: Profile) -> None:
    w = World(profile)
    status, took = timed_wait(w, 0)
    assert status == STATUS_TIMEOUT
    assert took < MS // 100


@both
def test_relative_timeout_whole_milliseconds(profile: Profile) -> None:
    w = World(profile)
    status, took = timed_wait(w, -20 * MS)
    assert status == STATUS_TIMEOUT
    assert 20 * MS <= took < 20 * MS + 100


def test_relative_timeout_canary_truncates_to_milliseconds() -> None:
    w = World("canary")
    assert timed_wait(w, -9_999)[1] < 100  # under 1 ms: a poll
    status, took = timed_wait(w, -15_000)  # 1.5 ms -> 1 ms
    assert status == STATUS_TIMEOUT
    assert MS <= took < MS + 100


def test_relative_timeout_console_keeps_100ns() -> None:
    w = World("console")
    status, took = timed_wait(w, -9_999)
    assert status == STATUS_TIMEOUT
    assert 9_999 <= took < 9_999 + 100
    assert 15_000 <= timed_wait(w, -15_000)[1] < 15_000 + 100


def test_positive_timeout_canary_is_read_as_milliseconds() -> None:
    w = World("canary")
    status, took = timed_wait(w, 7)
    assert status == STATUS_TIMEOUT
    assert 7 * MS <= took < 7 * MS + 100
    # An NT absolute time is misread as its low 32 bits of milliseconds.
    absolute = SYSTEM_TIME_BASE + 5 * MS
    ms = absolute & 0xFFFFFFFF
    assert w.k.deadline_from(w.li(absolute)) == w.k.clock + ms * MS


def test_positive_timeout_console_is_an_absolute_system_time() -> None:
    w = World("console")
    status, took = timed_wait(w, SYSTEM_TIME_BASE + 3 * MS)
    assert status == STATUS_TIMEOUT
    assert w.k.clock - took <= 3 * MS <= w.k.clock
    # An absolute time already past is a poll.
    assert timed_wait(w, SYSTEM_TIME_BASE)[1] < 100


def test_canary_timeout_of_0xffffffff_ms_is_forever() -> None:
    w = World("canary")
    assert w.k.deadline_from(w.li(0xFFFFFFFF)) is None
    assert w.k.deadline_from(w.li(-0xFFFFFFFF * MS)) is None


@both
def test_timeout_yield_quirk_default(profile: Profile) -> None:
    assert World(profile).k.quirks.wait_timeout_yields is (profile == "canary")


@both
@pytest.mark.parametrize("yields", [True, False])
def test_timeout_yield_quirk(profile: Profile, yields: bool) -> None:
    """With the quirk (canary) a timed-out poll yields, so an equal-priority peer runs first."""
    w = World(profile, thread_start_delay=False, wait_timeout_yields=yields)
    ev = w.event()
    order: list[str] = []

    def poller() -> Prog:
        for _ in range(3):
            yield ("NtWaitForSingleObjectEx", (ev, 1, 0, w.li(0)))
            order.append("poll")
        return 0

    def peer() -> Prog:
        order.append("peer")
        yield ("NtYieldExecution", ())
        return 0

    w.main(poller())
    w.spawn(peer())
    assert w.run().outcome == "finished"
    if yields:
        assert order == ["peer", "poll", "poll", "poll"]
    else:
        assert order == ["poll", "poll", "poll", "peer"]


# -- user APCs ---------------------------------------------------------------------------------


def apc_world(profile: Profile) -> tuple[World, int]:
    w = World(profile, thread_start_delay=False)

    def apc(context: int, a1: int, a2: int) -> Prog:
        w.log.append(("apc", context, a1, a2))
        yield ("NtYieldExecution", ())
        return 0

    return w, w.routine(apc)


@both
def test_queued_apc_interrupts_an_alertable_wait_with_user_apc(profile: Profile) -> None:
    w, routine = apc_world(profile)
    ev = w.event()

    def sleeper() -> Prog:
        w.log.append(("wait", (yield wait1(ev, alertable=True))))
        return 0

    t = w.spawn(sleeper())
    w.k.run(max_calls=50)
    assert w.k.call("NtQueueApcThread", t.handles[0], routine, 1, 2, 3) == 0
    assert w.k.call("NtQueueApcThread", t.handles[0], routine, 4, 5, 6) == 0
    assert w.run().outcome == "finished"
    # Both APCs ran (FIFO) on the sleeper before its wait returned.
    assert w.log == [("apc", 1, 2, 3), ("apc", 4, 5, 6), ("wait", STATUS_USER_APC)]
    assert STATUS_ALERTED not in [s for _, s in w.log[2:]]
    # The wait's kernel.return is in the sleeper's stream, after the APC's calls.
    stream = w.rec.thread(t.ordinal)
    names = [(e.kind, e.name) for e in stream if e.kind in ("kernel.call", "kernel.return")]
    assert names[-1] == ("kernel.return", "NtWaitForSingleObjectEx")
    assert ("kernel.call", "NtYieldExecution") in names


@both
def test_non_alertable_wait_does_not_deliver_apcs(profile: Profile) -> None:
    w, routine = apc_world(profile)
    ev = w.event()

    def sleeper() -> Prog:
        w.log.append(("wait", (yield wait1(ev))))
        w.log.append(("sleep", (yield ("KeDelayExecutionThread", (1, 1, w.li(-MS))))))
        return 0

    t = w.spawn(sleeper())
    w.k.run(max_calls=50)
    w.k.call("NtQueueApcThread", t.handles[0], routine, 9, 0, 0)
    w.k.run(max_calls=50)
    assert w.log == []
    w.k.call("NtSetEvent", ev, 0)
    w.run()
    # Delivered at the next alertable wait (the delay), which returns STATUS_USER_APC at once.
    assert w.log == [("wait", 0), ("apc", 9, 0, 0), ("sleep", STATUS_USER_APC)]


@both
def test_signalled_object_wins_over_queued_apc(profile: Profile) -> None:
    w, routine = apc_world(profile)
    ready, never = w.event(state=True), w.event()

    def me() -> Prog:
        yield ("NtQueueApcThread", (0xFFFFFFFE, routine, 7, 0, 0))
        w.log.append(("ready", (yield wait1(ready, alertable=True))))
        w.log.append(("never", (yield wait1(never, alertable=True))))
        return 0

    w.main(me())
    assert w.run().outcome == "finished"
    assert w.log == [("ready", STATUS_WAIT_0), ("apc", 7, 0, 0), ("never", STATUS_USER_APC)]


@both
def test_apc_on_a_kernel_call_driven_thread(profile: Profile) -> None:
    w, routine = apc_world(profile)
    ev = w.event()
    main = w.k.main_thread

    def queuer() -> Prog:
        yield ("NtQueueApcThread", (main.handles[0], routine, 5, 0, 0))
        return 0

    w.spawn(queuer())
    assert w.k.call("NtWaitForSingleObjectEx", ev, 1, 1, 0) == STATUS_USER_APC
    assert w.log == [("apc", 5, 0, 0)]


@both
def test_apcs_queued_before_a_thread_starts_run_as_it_starts(profile: Profile) -> None:
    w, routine = apc_world(profile)

    def body() -> Prog:
        w.log.append("body")
        yield ("NtYieldExecution", ())
        return 0

    t = w.spawn(body(), suspended=True)
    w.k.call("NtQueueApcThread", t.handles[0], routine, 1, 0, 0)
    w.k.call("NtResumeThread", t.handles[0], 0)
    w.run()
    assert w.log == [("apc", 1, 0, 0), "body"]


@both
def test_apc_to_an_ended_thread_is_refused(profile: Profile) -> None:
    w, routine = apc_world(profile)

    def body() -> Prog:
        return 0
        yield  # pragma: no cover

    t = w.spawn(body())
    w.run()
    assert w.k.call("NtQueueApcThread", t.handles[0], routine, 1, 0, 0) == 0xC0000001


# -- signal and wait ---------------------------------------------------------------------------


@both
def test_signal_and_wait_ping_pong(profile: Profile) -> None:
    w = World(profile)
    ping, pong = w.event(), w.event()

    def a() -> Prog:
        for i in range(3):
            status = yield ("NtSignalAndWaitForSingleObjectEx", (ping, pong, 0, 0, 0))
            w.log.append(("a", i, status))
        return 0

    def b() -> Prog:
        for i in range(3):
            yield wait1(ping)
            w.log.append(("b", i))
            yield ("NtSetEvent", (pong, 0))
        return 0

    w.spawn(b())
    w.main(a())
    assert w.run().outcome == "finished"
    assert w.log == [("b", 0), ("a", 0, 0), ("b", 1), ("a", 1, 0), ("b", 2), ("a", 2, 0)]


@both
def test_signal_and_wait_signal_kinds_and_timeout(profile: Profile) -> None:
    w = World(profile)
    sem, mut, never = w.semaphore(0, 1), w.mutant(owned=True), w.event()
    assert w.k.call("NtSignalAndWaitForSingleObjectEx", sem, sem, 0, 0, 0) == STATUS_WAIT_0
    status = w.k.call("NtSignalAndWaitForSingleObjectEx", mut, never, 0, 0, w.li(-MS))
    assert status == STATUS_TIMEOUT
    obj = w.k.table.lookup(mut, None)
    assert getattr(obj, "owner", 1) is None  # released by the signal half


@both
def test_signal_and_wait_failures(profile: Profile) -> None:
    w = World(profile)
    ev, full, mut, timer = w.event(), w.semaphore(1, 1), w.mutant(), w.timer()
    canary = profile == "canary"

    def sw(signal: int, wait: int) -> int:
        return w.k.call("NtSignalAndWaitForSingleObjectEx", signal, wait, 0, 0, w.li(0))

    assert sw(full, ev) == (STATUS_ABANDONED_WAIT_0 if canary else STATUS_SEMAPHORE_LIMIT_EXCEEDED)
    assert sw(mut, ev) == (STATUS_ABANDONED_WAIT_0 if canary else STATUS_MUTANT_NOT_OWNED)
    assert sw(timer, ev) == (STATUS_ABANDONED_WAIT_0 if canary else STATUS_OBJECT_TYPE_MISMATCH)
    # Either handle missing: STATUS_INVALID_HANDLE and nothing is signalled.
    assert sw(ev, 0xF8FFFFF0) == STATUS_INVALID_HANDLE
    assert poll(w, ev) == STATUS_TIMEOUT


# -- delays and yields -------------------------------------------------------------------------


@both
def test_delay_relative(profile: Profile) -> None:
    w = World(profile)
    start = w.k.clock
    assert w.k.call("KeDelayExecutionThread", 1, 0, w.li(-3 * MS)) == STATUS_SUCCESS
    assert 3 * MS <= w.k.clock - start < 3 * MS + 100


def test_delay_absolute_canary_is_zero() -> None:
    w = World("canary")
    start = w.k.clock
    assert w.k.call("KeDelayExecutionThread", 1, 0, w.li(SYSTEM_TIME_BASE + 50 * MS)) == 0
    assert w.k.clock - start < 100


def test_delay_absolute_console_sleeps_until_then() -> None:
    w = World("console")
    assert w.k.call("KeDelayExecutionThread", 1, 0, w.li(SYSTEM_TIME_BASE + 50 * MS)) == 0
    assert w.k.clock == 50 * MS


@both
def test_zero_delay_is_a_yield(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    order: list[str] = []

    def a() -> Prog:
        order.append("a1")
        yield ("KeDelayExecutionThread", (1, 0, w.li(0)))
        order.append("a2")
        return 0

    def b() -> Prog:
        order.append("b")
        yield ("NtYieldExecution", ())
        return 0

    w.main(a())
    w.spawn(b())
    w.run()
    assert order == ["a1", "b", "a2"]


def test_yield_status_per_profile() -> None:
    assert World("canary").k.call("NtYieldExecution") == STATUS_SUCCESS
    assert World("console").k.call("NtYieldExecution") == STATUS_NO_YIELD_PERFORMED
