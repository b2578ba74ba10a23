"""Thread exports: creation, start delay, exit, termination, suspension, priorities, events."""

from __future__ import annotations

import pytest

from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_SUCCESS,
    STATUS_THREAD_IS_TERMINATING,
    STATUS_TIMEOUT,
    STATUS_WAIT_0,
)

from ..threadkit import Prog, World, wait1

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000
CREATE_SUSPENDED = 1


def create(w: World, entry: int, context: int = 0, flags: int = 0, startup: int = 0) -> tuple:
    handle_ptr, id_ptr = w.out(), w.out()
    status = w.k.call("ExCreateThread", handle_ptr, 0, id_ptr, startup, entry, context, flags)
    return status, w.u32(handle_ptr), w.u32(id_ptr)


@both
def test_create_thread_writes_handle_and_id_and_runs_start_routine(profile: Profile) -> None:
    w = World(profile)

    def body(context: int) -> Prog:
        w.log.append(("ran", context, (yield ("KeQueryInterruptTime", ()))))
        return 0

    status, handle, tid = create(w, w.routine(body), context=0x42)
    assert status == STATUS_SUCCESS
    assert handle & 0xFF000000 == 0xF8000000
    thread = w.k.table.lookup(handle, None)
    assert getattr(thread, "thread_id", None) == tid
    created_at = w.k.clock
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0) == STATUS_WAIT_0
    ((_, context, when),) = w.log
    assert context == 0x42
    # Canary holds a new thread back 10 ms; the console runs it at once.
    if profile == "canary":
        assert when >= created_at + 10 * MS
    else:
        assert when < created_at + 100
    assert w.k.threads[1].thread_id == tid
    assert tid == (7 if profile == "canary" else 2)  # canary's ids start after host threads


@both
def test_xapi_thread_startup_receives_start_and_context(profile: Profile) -> None:
    w = World(profile)

    def startup(start: int, context: int) -> Prog:
        w.log.append((start, context))
        yield ("NtYieldExecution", ())
        return 0

    def never(context: int) -> Prog:
        w.log.append("start routine called directly")
        yield ("NtYieldExecution", ())
        return 0

    entry = w.routine(never)
    status, handle, _ = create(w, entry, context=9, startup=w.routine(startup))
    assert status == 0
    w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0)
    assert w.log == [(entry, 9)]


@both
def test_thread_create_and_exit_events(profile: Profile) -> None:
    w = World(profile)

    def body(context: int) -> Prog:
        yield ("NtYieldExecution", ())
        return 0x1234

    entry = w.routine(body)
    _, handle, tid = create(w, entry)
    w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0)
    (made,) = [e for e in w.rec.thread(0) if e.kind == "thread.create"]
    assert (made.child_tid, made.child_raw_tid, made.entry, made.handle) == (1, tid, entry, handle)
    (ended,) = [e for e in w.rec.thread(1) if e.kind == "thread.exit"]
    assert ended.ret == 0x1234 and ended.raw_tid == tid


@both
def test_ex_terminate_thread_ends_the_caller_with_its_code(profile: Profile) -> None:
    w = World(profile)
    mut = w.mutant()

    def body(context: int) -> Prog:
        yield wait1(mut)
        yield ("ExTerminateThread", (77,))
        w.log.append("after terminate")  # pragma: no cover - never runs
        return 0  # pragma: no cover

    _, handle, _ = create(w, w.routine(body))
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0) == STATUS_WAIT_0
    t = w.k.threads[1]
    assert t.terminated and t.exit_code == 77
    assert w.log == []
    assert w.m.read_u32(t.kthread + 0x140) == 77
    # The kernel.return of ExTerminateThread is never recorded: the call never returns.
    assert [e.kind for e in w.rec.thread(1)][-3:] == ["import.call", "kernel.call", "thread.exit"]
    # It ended holding the mutant: abandoned.
    assert w.k.call("NtWaitForSingleObjectEx", mut, 1, 0, 0) == 0x80


@both
def test_created_suspended_runs_only_after_resume(profile: Profile) -> None:
    w = World(profile)

    def body(context: int) -> Prog:
        w.log.append("ran")
        yield ("NtYieldExecution", ())
        return 0

    _, handle, _ = create(w, w.routine(body), flags=CREATE_SUSPENDED)
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, w.li(-50 * MS)) == STATUS_TIMEOUT
    assert w.log == []
    prev = w.out()
    assert w.k.call("NtResumeThread", handle, prev) == 0
    assert w.u32(prev) == 1
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, 0) == STATUS_WAIT_0
    assert w.log == ["ran"]


@both
def test_suspend_and_resume_a_running_thread(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def counter() -> Prog:
        for i in range(1000):
            w.log.append(i)
            yield ("KeDelayExecutionThread", (1, 0, w.li(-MS)))
        return 0

    t = w.spawn(counter())
    handle = t.handles[0]
    prev = w.out()
    w.k.call("KeDelayExecutionThread", 1, 0, w.li(-5 * MS + 5))
    assert w.k.call("NtSuspendThread", handle, prev) == 0
    assert w.u32(prev) == 0
    assert w.k.call("NtSuspendThread", handle, prev) == 0
    assert w.u32(prev) == 1
    seen = len(w.log)
    w.k.call("KeDelayExecutionThread", 1, 0, w.li(-20 * MS))
    assert len(w.log) <= seen + 1  # at most the sleep it was in completes
    w.k.call("NtResumeThread", handle, prev)
    assert w.u32(prev) == 2
    w.k.call("KeDelayExecutionThread", 1, 0, w.li(-20 * MS))
    assert len(w.log) <= seen + 1
    w.k.call("NtResumeThread", handle, prev)
    assert w.u32(prev) == 1
    w.k.call("KeDelayExecutionThread", 1, 0, w.li(-20 * MS))
    assert len(w.log) >= seen + 15


@both
def test_suspend_an_ended_thread(profile: Profile) -> None:
    w = World(profile)

    def body() -> Prog:
        return 0
        yield  # pragma: no cover

    t = w.spawn(body())
    w.run()
    assert w.k.call("NtSuspendThread", t.handles[0], 0) == STATUS_THREAD_IS_TERMINATING


def test_resume_running_thread_canary_wraps_guest_count_to_255() -> None:
    w = World("canary")
    me = w.k.main_thread
    prev = w.out()
    assert w.k.call("NtResumeThread", 0xFFFFFFFE, prev) == 0
    assert w.u32(prev) == 0
    assert w.m.read_u8(me.kthread + 0xBC) == 255


def test_resume_running_thread_console_changes_nothing() -> None:
    w = World("console")
    me = w.k.main_thread
    prev = w.out()
    assert w.k.call("NtResumeThread", 0xFFFFFFFE, prev) == 0
    assert w.u32(prev) == 0
    assert w.m.read_u8(me.kthread + 0xBC) == 0


@both
def test_ke_suspend_and_resume_by_kthread(profile: Profile) -> None:
    w = World(profile)

    def body() -> Prog:
        w.log.append("ran")
        yield ("NtYieldExecution", ())
        return 0

    t = w.spawn(body(), suspended=True)
    assert w.k.call("KeSuspendThread", t.kthread) == 1
    assert w.k.call("KeResumeThread", t.kthread) == 0
    w.run()
    assert w.log == []
    assert w.k.call("KeResumeThread", t.kthread) == 0
    w.run()
    assert w.log == ["ran"]


@both
def test_base_priority_decides_who_runs_first(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def worker(name: str) -> Prog:
        for _ in range(2):
            w.log.append(name)
            yield ("NtYieldExecution", ())
        return 0

    low = w.spawn(worker("low"), suspended=True)
    high = w.spawn(worker("high"), suspended=True)
    assert w.k.call("KeSetBasePriorityThread", high.kthread, 2) == 0
    assert w.k.call("KeQueryBasePriorityThread", high.kthread) == 2
    assert w.k.call("KeSetBasePriorityThread", low.kthread, 0xFFFFFFFF) == 0  # -1
    assert w.k.call("KeQueryBasePriorityThread", low.kthread) == 0xFFFFFFFF
    w.k.call("NtResumeThread", low.handles[0], 0)
    w.k.call("NtResumeThread", high.handles[0], 0)
    w.run()
    # A higher-priority thread keeps the CPU even across yields.
    assert w.log == ["high", "high", "low", "low"]


@both
def test_woken_higher_priority_thread_preempts_at_the_next_call(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    ev = w.event()

    def urgent() -> Prog:
        yield wait1(ev)
        w.log.append("urgent")
        return 0

    def busy() -> Prog:
        yield ("NtSetEvent", (ev, 0))
        w.log.append("busy after set")
        yield ("NtYieldExecution", ())
        return 0

    u = w.spawn(urgent())
    u.priority = 5
    w.spawn(busy())
    w.run()
    assert w.log == ["urgent", "busy after set"]
