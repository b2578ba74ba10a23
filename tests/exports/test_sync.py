"""Events, semaphores, mutants and timers: how each is signalled and what a satisfied wait does.

Tests parametrised over both profiles check behaviour the profiles share;
where a quirk makes them differ, each profile's answer is asserted separately.
"""

from __future__ import annotations

import itertools

import pytest

from x360k.kernel import SYSTEM_TIME_BASE
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ABANDONED_WAIT_0,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_MUTANT_NOT_OWNED,
    STATUS_SEMAPHORE_LIMIT_EXCEEDED,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_TIMER_RESUME_IGNORED,
    STATUS_USER_APC,
    STATUS_WAIT_0,
)

from ..threadkit import Prog, World, wait1

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000


def poll(w: World, handle: int) -> int:
    """A zero-timeout wait on the main thread: WAIT_0 (and the side effect) or TIMEOUT."""
    return w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, w.li(0))


def waiters(w: World, handle: int, n: int, *, start_wait: int | None = None) -> None:
    """``n`` threads that each wait once on ``handle`` and log (index, status)."""

    def waiter(i: int) -> Prog:
        w.log.append((i, (yield wait1(handle))))
        return 0

    for i in range(n):
        w.spawn(waiter(i))


def settle(w: World, calls: int = 1000) -> None:
    """Let the spawned threads run until all are blocked or ended (the main thread idles)."""
    w.k.run(max_calls=calls)


# -- events ------------------------------------------------------------------------------------


@both
def test_notification_event_set_releases_every_waiter_and_stays_set(profile: Profile) -> None:
    w = World(profile)
    ev = w.event(manual=True)
    waiters(w, ev, 3)
    settle(w)
    assert w.log == []
    assert w.k.call("NtSetEvent", ev, 0) == STATUS_SUCCESS
    settle(w)
    assert sorted(w.log) == [(0, 0), (1, 0), (2, 0)]
    assert poll(w, ev) == STATUS_WAIT_0
    assert poll(w, ev) == STATUS_WAIT_0  # a satisfied wait leaves it set


@both
def test_synchronization_event_set_releases_one_waiter_in_arrival_order(profile: Profile) -> None:
    w = World(profile)
    ev = w.event()
    waiters(w, ev, 3)
    settle(w)
    w.k.call("NtSetEvent", ev, 0)
    settle(w)
    assert w.log == [(0, 0)]
    assert poll(w, ev) == STATUS_TIMEOUT  # consumed by the waiter
    w.k.call("NtSetEvent", ev, 0)
    settle(w)
    assert w.log == [(0, 0), (1, 0)]


@both
def test_synchronization_event_with_no_waiter_stays_set_until_one_wait(profile: Profile) -> None:
    w = World(profile)
    ev = w.event()
    w.k.call("NtSetEvent", ev, 0)
    assert poll(w, ev) == STATUS_WAIT_0
    assert poll(w, ev) == STATUS_TIMEOUT


@both
def test_clear_event_unsets_and_query_reports_type_and_state(profile: Profile) -> None:
    w = World(profile)
    manual, auto = w.event(manual=True, state=True), w.event()
    info = w.out()
    assert w.k.call("NtQueryEvent", manual, info) == 0
    assert (w.u32(info), w.u32(info + 4)) == (0, 1)
    assert w.k.call("NtQueryEvent", auto, info) == 0
    assert (w.u32(info), w.u32(info + 4)) == (1, 0)
    assert w.k.call("NtClearEvent", manual) == 0
    assert w.k.call("NtClearEvent", manual) == 0  # already clear: no effect
    assert poll(w, manual) == STATUS_TIMEOUT
    assert w.k.call("NtClearEvent", 0xF8FFFFF0) == STATUS_INVALID_HANDLE


@both
@pytest.mark.parametrize("manual", [True, False])
def test_pulse_releases_current_waiters_and_leaves_event_unset(
    profile: Profile, manual: bool
) -> None:
    w = World(profile)
    ev = w.event(manual=manual)
    waiters(w, ev, 2)
    settle(w)
    assert w.k.call("NtPulseEvent", ev, 0) == 0
    settle(w)
    assert w.log == ([(0, 0), (1, 0)] if manual else [(0, 0)])
    assert poll(w, ev) == STATUS_TIMEOUT
    # With nobody waiting a pulse just leaves it unset.
    w.k.call("NtPulseEvent", ev, 0)
    assert poll(w, ev) == STATUS_TIMEOUT


def test_previous_state_canary_always_one() -> None:
    w = World("canary")
    ev = w.event()
    prev = w.out()
    assert w.k.call("NtSetEvent", ev, prev) == 0
    assert w.u32(prev) == 1  # it was not set
    assert w.k.call("NtPulseEvent", ev, prev) == 0
    assert w.u32(prev) == 1


def test_previous_state_console_is_real() -> None:
    w = World("console")
    ev = w.event()
    prev = w.out()
    w.k.call("NtSetEvent", ev, prev)
    assert w.u32(prev) == 0
    w.k.call("NtSetEvent", ev, prev)
    assert w.u32(prev) == 1
    w.k.call("NtPulseEvent", ev, prev)
    assert w.u32(prev) == 1
    w.k.call("NtPulseEvent", ev, prev)
    assert w.u32(prev) == 0


def test_event_type_two_canary_is_synchronization() -> None:
    w = World("canary")
    ev = w._make("NtCreateEvent", 2, 1)
    assert poll(w, ev) == STATUS_WAIT_0
    assert poll(w, ev) == STATUS_TIMEOUT


def test_event_type_two_console_is_invalid() -> None:
    w = World("console")
    assert w.k.call("NtCreateEvent", w.out(), 0, 2, 1) == STATUS_INVALID_PARAMETER


# -- semaphores --------------------------------------------------------------------------------


@both
@pytest.mark.parametrize(("initial", "maximum"), [(-1, 1), (0, 0), (3, 2), (0, -5)])
def test_semaphore_bad_counts_are_invalid(profile: Profile, initial: int, maximum: int) -> None:
    w = World(profile)
    ptr = w.out()
    status = w.k.call("NtCreateSemaphore", ptr, 0, initial & 0xFFFFFFFF, maximum & 0xFFFFFFFF)
    assert status == STATUS_INVALID_PARAMETER
    # Canary makes and releases a slot first and writes 0; the console writes nothing.
    assert w.u32(ptr) == (0 if profile == "canary" else 0xCCCCCCCC)


@both
def test_semaphore_wait_takes_one_and_release_reports_previous(profile: Profile) -> None:
    w = World(profile)
    sem = w.semaphore(2, 5)
    assert poll(w, sem) == STATUS_WAIT_0
    assert poll(w, sem) == STATUS_WAIT_0
    assert poll(w, sem) == STATUS_TIMEOUT
    prev = w.out()
    assert w.k.call("NtReleaseSemaphore", sem, 3, prev) == 0
    assert w.u32(prev) == 0
    assert w.k.call("NtReleaseSemaphore", sem, 1, prev) == 0
    assert w.u32(prev) == 3


@both
def test_semaphore_release_wakes_as_many_waiters_as_its_count(profile: Profile) -> None:
    w = World(profile)
    sem = w.semaphore(0, 10)
    waiters(w, sem, 3)
    settle(w)
    w.k.call("NtReleaseSemaphore", sem, 2, 0)
    settle(w)
    assert w.log == [(0, 0), (1, 0)]
    assert poll(w, sem) == STATUS_TIMEOUT


def test_semaphore_over_release_canary_succeeds_unchanged_previous_zero() -> None:
    w = World("canary")
    sem = w.semaphore(1, 2)
    prev = w.out()
    assert w.k.call("NtReleaseSemaphore", sem, 2, prev) == STATUS_SUCCESS
    assert w.u32(prev) == 0
    assert w.k.call("NtReleaseSemaphore", sem, 0, prev) == STATUS_SUCCESS
    assert poll(w, sem) == STATUS_WAIT_0
    assert poll(w, sem) == STATUS_TIMEOUT  # count was 1, not 3
    # Invalid handle: still writes 0.
    w.m.write_u32(prev, 0xCCCCCCCC)
    assert w.k.call("NtReleaseSemaphore", 0xF8FFFFF0, 1, prev) == STATUS_INVALID_HANDLE
    assert w.u32(prev) == 0


def test_semaphore_over_release_console_limit_exceeded() -> None:
    w = World("console")
    sem = w.semaphore(1, 2)
    prev = w.out()
    assert w.k.call("NtReleaseSemaphore", sem, 2, prev) == STATUS_SEMAPHORE_LIMIT_EXCEEDED
    assert w.u32(prev) == 0xCCCCCCCC
    assert w.k.call("NtReleaseSemaphore", sem, 0, prev) == STATUS_INVALID_PARAMETER
    assert w.k.call("NtReleaseSemaphore", 0xF8FFFFF0, 1, prev) == STATUS_INVALID_HANDLE
    assert w.u32(prev) == 0xCCCCCCCC


# -- mutants -----------------------------------------------------------------------------------


@both
def test_mutant_owner_acquires_recursively_and_others_wait(profile: Profile) -> None:
    w = World(profile)
    mut = w.mutant(owned=True)
    assert poll(w, mut) == STATUS_WAIT_0  # owner re-acquires: recursion 2
    waiters(w, mut, 1)
    settle(w)
    assert w.log == []
    w.k.call("NtReleaseMutant", mut, 0)
    settle(w)
    assert w.log == []  # still held once
    w.k.call("NtReleaseMutant", mut, 0)
    settle(w)
    assert w.log == [(0, 0)]
    assert poll(w, mut) == STATUS_ABANDONED_WAIT_0  # the waiter ended holding it


def test_mutant_release_by_non_owner_canary_succeeds_and_changes_nothing() -> None:
    w = World("canary")
    mut = w.mutant()

    def other() -> Prog:
        w.log.append((yield ("NtReleaseMutant", (mut, 0))))
        return 0

    assert poll(w, mut) == 0  # main owns it
    w.spawn(other())
    settle(w)
    assert w.log == [STATUS_SUCCESS]
    obj = w.k.table.lookup(mut, None)
    assert getattr(obj, "owner", None) is w.k.main_thread


def test_mutant_release_console_reports_not_owned_and_previous_count() -> None:
    w = World("console")
    mut = w.mutant(owned=True)
    prev = w.out()
    assert poll(w, mut) == 0
    assert w.k.call("NtReleaseMutant", mut, prev) == 0
    assert w.m.read_s32(prev) == -1  # NT's signal state before: 1 - recursion 2
    assert w.k.call("NtReleaseMutant", mut, prev) == 0
    assert w.m.read_s32(prev) == 0
    assert w.k.call("NtReleaseMutant", mut, prev) == STATUS_MUTANT_NOT_OWNED


@both
def test_abandoned_mutant_single_wait_gets_0x80_and_ownership(profile: Profile) -> None:
    w = World(profile)
    mut = w.mutant()

    def holder() -> Prog:
        yield wait1(mut)
        return 3  # ends holding it

    def later() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(-50 * MS)))
        w.log.append((yield wait1(mut)))
        w.log.append((yield wait1(mut)))  # now the owner: recursion, not abandoned
        return 0

    w.spawn(holder())
    w.spawn(later())
    assert w.run().outcome == "finished"
    assert w.log == [STATUS_ABANDONED_WAIT_0, STATUS_WAIT_0]


@both
def test_abandoned_mutant_in_wait_any_and_wait_all(profile: Profile) -> None:
    w = World(profile)
    m1, m2 = w.mutant(), w.mutant()
    ev = w.event(manual=True)

    def holder() -> Prog:
        yield wait1(m1)
        yield wait1(m2)
        return 0

    def any_then_all() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(-50 * MS)))
        w.log.append((yield ("NtWaitForMultipleObjectsEx", (2, w.handles(ev, m1), 1, 1, 0, 0))))
        w.log.append((yield ("NtWaitForMultipleObjectsEx", (2, w.handles(m2, ev), 0, 1, 0, 0))))
        return 0

    w.spawn(holder())
    w.spawn(any_then_all())

    def main() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(-200 * MS)))
        yield ("NtSetEvent", (ev, 0))
        return 0

    w.main(main())
    assert w.run().outcome == "finished"
    # Wait-any: m1 (index 1) abandoned; ev not yet set. Wait-all: plain 0x80, no index.
    assert w.log == [STATUS_ABANDONED_WAIT_0 + 1, STATUS_ABANDONED_WAIT_0]


# -- timers ------------------------------------------------------------------------------------


def set_timer(
    w: World, timer: int, due: int, period_ms: int = 0, apc: int = 0, ctx: int = 0
) -> int:
    return w.k.call("NtSetTimerEx", timer, w.li(due), apc, 1, ctx, 0, period_ms, 0)


@both
def test_notification_timer_fires_at_due_time_and_stays_signalled(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer(manual=True)
    assert poll(w, timer) == STATUS_TIMEOUT  # unarmed, unsignalled
    start = w.k.clock
    assert set_timer(w, timer, -5 * MS) == 0
    assert w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, 0) == 0
    assert w.k.clock >= start + 5 * MS
    assert w.k.clock < start + 5 * MS + 100
    assert poll(w, timer) == STATUS_WAIT_0
    # Re-arming makes it unsignalled again.
    set_timer(w, timer, -5 * MS)
    assert poll(w, timer) == STATUS_TIMEOUT


@both
def test_synchronization_timer_is_reset_by_a_wait(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    set_timer(w, timer, -1 * MS)
    assert w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, 0) == 0
    assert poll(w, timer) == STATUS_TIMEOUT


@both
def test_absolute_due_time(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    set_timer(w, timer, SYSTEM_TIME_BASE + 30 * MS)
    assert w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, 0) == 0
    assert w.k.clock == 30 * MS


@both
def test_periodic_timer_fires_every_period(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    times: list[int] = []
    set_timer(w, timer, -2 * MS, period_ms=3)
    for _ in range(4):
        assert w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, 0) == 0
        times.append(w.k.call("KeQueryInterruptTime"))
    deltas = [b - a for a, b in itertools.pairwise(times)]
    assert all(3 * MS <= d < 3 * MS + 100 for d in deltas), deltas


@both
def test_cancel_disarms_but_keeps_signal_state(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer(manual=True)
    set_timer(w, timer, -1 * MS)
    w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, 0)
    state = w.out()
    assert w.k.call("NtCancelTimer", timer, state) == 0
    assert w.u32(state) == (0 if profile == "canary" else 1)
    assert poll(w, timer) == STATUS_WAIT_0  # still signalled
    set_timer(w, timer, -1 * MS)
    w.k.call("NtCancelTimer", timer, 0)
    # Disarmed before it fired: a wait with a 5 ms timeout times out.
    assert w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, w.li(-5 * MS)) == STATUS_TIMEOUT


def test_cancel_timer_invalid_handle_canary_still_writes_zero() -> None:
    w = World("canary")
    state = w.out()
    assert w.k.call("NtCancelTimer", 0xF8FFFFF0, state) == STATUS_INVALID_HANDLE
    assert w.u32(state) == 0
    w2 = World("console")
    state = w2.out()
    assert w2.k.call("NtCancelTimer", 0xF8FFFFF0, state) == STATUS_INVALID_HANDLE
    assert w2.u32(state) == 0xCCCCCCCC


@both
def test_resume_flag(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    status = w.k.call("NtSetTimerEx", timer, w.li(-1 * MS), 0, 1, 0, 1, 0, 0)
    assert status == STATUS_TIMER_RESUME_IGNORED
    result = w.k.call("NtWaitForSingleObjectEx", timer, 1, 0, w.li(-10 * MS))
    # Canary does not arm the timer at all; the console arms it and ignores only the resume.
    assert result == (STATUS_TIMEOUT if profile == "canary" else STATUS_WAIT_0)


@both
def test_timer_apc_runs_on_the_arming_thread_in_an_alertable_wait(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    never = w.event()

    def apc(context: int, low: int, high: int) -> Prog:
        w.log.append(("apc", context, (high << 32) | low))
        yield ("NtYieldExecution", ())
        return 0

    routine = w.routine(apc)

    def armer() -> Prog:
        yield ("NtSetTimerEx", (timer, w.li(-2 * MS), routine, 1, 0x1234, 0, 0, 0))
        # A non-alertable wait does not deliver; the alertable one does.
        w.log.append(("plain", (yield wait1(never, timeout=w.li(-5 * MS)))))
        w.log.append(("alertable", (yield wait1(never, alertable=True))))
        return 0

    w.main(armer())
    assert w.run().outcome == "finished"
    assert w.log[0] == ("plain", STATUS_TIMEOUT)
    kind, context, when = w.log[1]
    assert (kind, context) == ("apc", 0x1234)
    assert SYSTEM_TIME_BASE + 2 * MS <= when < SYSTEM_TIME_BASE + 3 * MS
    assert w.log[2] == ("alertable", STATUS_USER_APC)


# -- threads as objects ------------------------------------------------------------------------


@both
def test_thread_is_signalled_when_it_ends_and_stays_signalled(profile: Profile) -> None:
    w = World(profile)

    def child() -> Prog:
        yield ("NtYieldExecution", ())
        return 0x55

    t = w.spawn(child())
    handle = t.handles[0]
    assert poll(w, handle) == STATUS_TIMEOUT
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0) == STATUS_WAIT_0
    assert poll(w, handle) == STATUS_WAIT_0
    assert w.m.read_u32(t.kthread + 0x140) == 0x55
    assert w.m.read_u32(t.kthread + 4) == 1
