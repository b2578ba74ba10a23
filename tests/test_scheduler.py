"""The deterministic scheduler: order, quantum, virtual time, limits, and random programs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from x360k.kernel import SYSTEM_TIME_BASE
from x360k.quirks import PROFILES, Profile
from x360k.scheduler import CALL_COST, QUANTUM, Scheduler
from x360k.status import STATUS_ALERTED

from .threadkit import Prog, World, wait1

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000


def test_scheduler_timed_entries_fire_in_time_then_sequence_order() -> None:
    s = Scheduler()
    fired: list[str] = []
    s.at(20, lambda: fired.append("b"))
    s.at(10, lambda: fired.append("a"))
    late = s.at(20, lambda: fired.append("c"))
    gone = s.at(15, lambda: fired.append("x"))
    gone.cancelled = True
    assert s.next_deadline() == 10
    assert s.fire_due(19)
    assert fired == ["a"]
    assert s.next_deadline() == 20
    s.fire_due(20)
    assert fired == ["a", "b", "c"]
    assert late.cancelled and s.next_deadline() is None


@both
def test_equal_priority_threads_run_first_in_first_out(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def worker(name: str) -> Prog:
        for i in range(2):
            w.log.append((name, i))
            yield ("NtYieldExecution", ())
        return 0

    for name in "abc":
        w.spawn(worker(name))
    assert w.run().outcome == "finished"
    assert w.log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1)]


@both
def test_a_busy_thread_gives_up_the_cpu_after_its_quantum(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def busy(name: str) -> Prog:
        for _ in range(QUANTUM + 1):
            w.log.append(name)
            yield ("KeQueryInterruptTime", ())
        return 0

    w.spawn(busy("a"))
    w.spawn(busy("b"))
    w.run()
    assert w.log[: QUANTUM + 1] == ["a"] * QUANTUM + ["b"]


@both
def test_virtual_clock_moves_per_call_and_jumps_to_the_earliest_deadline(profile: Profile) -> None:
    w = World(profile)
    before = w.k.clock
    w.k.call("KeQueryInterruptTime")
    assert w.k.clock == before + CALL_COST
    now = w.out()
    w.k.call("KeDelayExecutionThread", 1, 0, w.li(-7 * MS))
    w.k.call("KeQuerySystemTime", now)
    assert w.m.read_u64(now) == SYSTEM_TIME_BASE + w.k.clock
    assert w.k.clock == before + 2 * CALL_COST + 7 * MS + CALL_COST


@both
def test_limits_on_calls_and_time(profile: Profile) -> None:
    w = World(profile)

    def forever() -> Prog:
        while True:
            yield ("KeDelayExecutionThread", (1, 0, w.li(-MS)))

    w.main(forever())
    result = w.k.run(max_calls=50)
    assert (result.outcome, result.calls) == ("limit", 50 + w.k.calls - 50)
    result = w.k.run(max_time=w.k.clock + 20 * MS)
    assert result.outcome == "limit"
    assert result.clock >= 20 * MS


@both
def test_same_program_twice_gives_byte_identical_traces(profile: Profile) -> None:
    def build() -> bytes:
        w = World(profile, wait_events=True)
        program_mix(w, seed_ops(7))
        w.run(max_calls=3000)
        return w.trace_bytes()

    first = build()
    assert first == build()
    assert len(first) > 1000


# -- random programs ---------------------------------------------------------------------------

OPS = (
    "set",
    "pulse",
    "wait_ev",
    "release_sem",
    "wait_sem",
    "acquire_mut",
    "release_mut",
    "wait_any",
    "wait_all",
    "yield",
    "sleep",
    "timed_wait",
)


def seed_ops(seed: int) -> list[list[tuple[str, int]]]:
    """A fixed, varied program set for the determinism test."""
    import random

    rnd = random.Random(seed)
    return [[(rnd.choice(OPS), rnd.randrange(3)) for _ in range(12)] for _ in range(4)]


def program_mix(w: World, programs: list[list[tuple[str, int]]]) -> None:
    """Turn op lists into threads over three events, two semaphores and two mutants."""
    events = [w.event(manual=i == 0) for i in range(3)]
    sems = [w.semaphore(1, 2), w.semaphore(0, 3)]
    muts = [w.mutant(), w.mutant()]

    def run_ops(ops: list[tuple[str, int]]) -> Prog:
        for op, arg in ops:
            ev, sem, mut = events[arg % 3], sems[arg % 2], muts[arg % 2]
            if op == "set":
                status = yield ("NtSetEvent", (ev, 0))
            elif op == "pulse":
                status = yield ("NtPulseEvent", (ev, 0))
            elif op == "wait_ev":
                status = yield wait1(ev)
            elif op == "release_sem":
                status = yield ("NtReleaseSemaphore", (sem, 1, 0))
            elif op == "wait_sem":
                status = yield wait1(sem)
            elif op == "acquire_mut":
                status = yield wait1(mut)
            elif op == "release_mut":
                status = yield ("NtReleaseMutant", (mut, 0))
            elif op in ("wait_any", "wait_all"):
                array = w.handles(ev, sem, mut)
                kind = 1 if op == "wait_any" else 0
                status = yield ("NtWaitForMultipleObjectsEx", (3, array, kind, 1, 0, 0))
            elif op == "yield":
                status = yield ("NtYieldExecution", ())
            elif op == "sleep":
                status = yield ("KeDelayExecutionThread", (1, 0, w.li(-(arg + 1) * MS)))
            else:
                status = yield wait1(ev, timeout=w.li(-(arg + 1) * MS))
            w.log.append(status)
        return 0

    first, *rest = programs
    w.main(run_ops(first))
    for ops in rest:
        w.spawn(run_ops(ops))


op_lists = st.lists(
    st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2)), min_size=1, max_size=10),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs=op_lists, profile=st.sampled_from(PROFILES))
def test_random_programs_finish_or_wedge_deterministically(
    programs: list[list[tuple[str, int]]], profile: Profile
) -> None:
    outcomes = []
    for _ in range(2):
        w = World(profile)
        program_mix(w, programs)
        result = w.run(max_calls=2000)
        # Every op is one call, so the runs end well inside the limit: finished or wedged.
        assert result.outcome in ("finished", "wedge")
        assert result.calls <= sum(len(p) for p in programs) + 30
        if result.outcome == "wedge":
            assert result.wedge.blocked, "a wedge names at least one blocked thread"
            for b in result.wedge.blocked:
                assert w.k.threads[b.tid].wait is not None
        else:
            assert all(t.terminated for t in w.k.threads)
        statuses = set(w.log)
        assert STATUS_ALERTED not in statuses
        allowed = {0, 1, 2, 0x80, 0x81, 0x82, 0x102, 0x40000024, 0xC0000046, 0xC0000047}
        assert statuses <= allowed, statuses
        outcomes.append((result.outcome, result.calls, result.clock, w.trace_bytes()))
    assert outcomes[0] == outcomes[1]


def test_the_ready_count_follows_the_queues() -> None:
    from x360k.objects.thread import Thread

    sched = Scheduler()
    threads = [Thread(i, i + 1) for i in range(4)]
    threads[3].priority = 5
    for t in threads:
        sched.make_ready(t)
    assert sched.ready == 4 and sched.any_ready()
    sched.discard(threads[1])
    sched.discard(threads[1])  # not queued any more: nothing to take away
    assert sched.ready == 3
    assert sched.pick() is threads[3]  # the higher priority first
    assert sched.ready == 2
    assert [sched.pick(), sched.pick()] == [threads[0], threads[2]]
    assert sched.ready == 0 and not sched.any_ready() and sched.pick() is None
    assert sched.ready == 0
