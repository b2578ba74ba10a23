"""satisfy_now and the Dispatcher on bare objects (no exports): the rules every wait shares.

These rules are the same under both profiles (canary inherits them from its
Windows host), so each test runs under both.
"""

from __future__ import annotations

import pytest

from x360k.dispatcher import WaitBlock, satisfy_now
from x360k.objects.event import Event
from x360k.objects.mutant import Mutant
from x360k.objects.semaphore import Semaphore
from x360k.objects.timer import Timer
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ABANDONED_WAIT_0, STATUS_TIMEOUT, STATUS_WAIT_0

from .threadkit import World

both = pytest.mark.parametrize("profile", PROFILES)


@both
def test_wait_any_takes_the_lowest_ready_index_only(profile: Profile) -> None:
    w = World(profile)
    t = w.k.main_thread
    a, b, c = Event(False, False), Event(False, True), Semaphore(2, 2)
    assert satisfy_now(t, [a, b, c], wait_all=False) == STATUS_WAIT_0 + 1
    assert (b.state, c.count) == (False, 2)
    assert satisfy_now(t, [a, b, c], wait_all=False) == STATUS_WAIT_0 + 2
    assert c.count == 1


@both
def test_wait_all_consumes_nothing_unless_all_are_ready(profile: Profile) -> None:
    w = World(profile)
    t = w.k.main_thread
    ev, sem, mut = Event(False, True), Semaphore(1, 1), Mutant(None)
    timer = Timer(manual_reset=False)
    assert satisfy_now(t, [ev, sem, mut, timer], wait_all=True) is None
    assert (ev.state, sem.count, mut.owner) == (True, 1, None)
    timer.state = True
    assert satisfy_now(t, [ev, sem, mut, timer], wait_all=True) == STATUS_WAIT_0
    assert (ev.state, sem.count, mut.owner, timer.state) == (False, 0, t, False)


@both
def test_mutant_rules(profile: Profile) -> None:
    w = World(profile)
    me = w.k.main_thread
    other = w.k.create_thread(0, 0, creator=me)
    mut = Mutant(me)
    assert mut.is_signalled_for(me) and not mut.is_signalled_for(other)
    assert mut.satisfy(me) is False and mut.recursion == 2
    assert mut.release() == 2 and mut.release() == 1
    assert mut.owner is None and mut.is_signalled_for(other)
    mut.satisfy(other)
    mut.abandon()
    assert mut.owner is None and mut.abandoned
    assert satisfy_now(me, [Event(True, False), mut], wait_all=False) == STATUS_ABANDONED_WAIT_0 + 1
    assert mut.owner is me and not mut.abandoned and mut in me.owned_mutants


@both
def test_signal_satisfies_waiters_in_arrival_order_while_signalled(profile: Profile) -> None:
    w = World(profile)
    k = w.k
    threads = [k.create_thread(0, 0, creator=k.main_thread) for _ in range(3)]
    sem = Semaphore(0, 5)
    blocks = []
    for t in threads:
        wb = WaitBlock(t, [sem], False, False, None)
        k.dispatcher.begin(wb)
        blocks.append(wb)
    sem.count = 2
    k.dispatcher.signal(sem)
    assert [wb.done for wb in blocks] == [True, True, False]
    assert sem.count == 0 and sem.waiters == [blocks[2]]
    assert threads[2].wait is blocks[2]


@both
def test_complete_is_idempotent_and_cancels_the_timeout(profile: Profile) -> None:
    w = World(profile)
    k = w.k
    t = k.create_thread(0, 0, creator=k.main_thread)
    ev = Event(False, False)
    entry = k.scheduler.at(k.clock + 100, lambda: None)
    wb = WaitBlock(t, [ev, ev], False, False, k.clock + 100, timer=entry)
    k.dispatcher.begin(wb)
    assert ev.waiters == [wb]  # one wait block per object even when listed twice
    k.dispatcher.complete(wb, STATUS_TIMEOUT)
    k.dispatcher.complete(wb, STATUS_WAIT_0)
    assert wb.done and entry.cancelled and ev.waiters == [] and t.wait is None
