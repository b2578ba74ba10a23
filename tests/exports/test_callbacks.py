"""Routines the kernel runs by itself: vblanks, timer DPCs, audio clients; and when runs end."""

from __future__ import annotations

import itertools

import pytest
from tests.threadkit import Prog, World

from x360k.clock import SYSTEM_TIME_BASE
from x360k.exports.apc_dpc import KDPC_SIZE
from x360k.exports.audio import audio_state
from x360k.exports.callbacks import FRAME_TICKS_X3, QUEUED_FRAMES, vblank_time
from x360k.kernel_workers import INTERRUPT_IDLE_LIMIT, WORKER_THREAD_IDS
from x360k.native import header as H
from x360k.quirks import PROFILES, Profile

both = pytest.mark.parametrize("profile", PROFILES)
MS = 10_000


def markers(w: World) -> list[tuple[int, str]]:
    return [(e.tid, e.text or "") for e in w.rec.events if e.kind == "marker"]


def vsync_world(profile: Profile, calls: int) -> tuple[World, int]:
    """Main sets a callback that signals an event on its ``calls``-th call, and waits on it."""
    w = World(profile, thread_start_delay=False)
    done = w.event()

    def callback(source: int, data: int) -> Prog:
        t = w.k.current
        assert t is not None
        w.log.append((source, data, w.k.clock, w.m.read_u8(t.pcr + 0x18), t.ordinal))
        if len(w.log) == calls:
            yield ("NtSetEvent", (done, 0))
        return 0

    routine = w.routine(callback)

    def main() -> Prog:
        yield ("VdSetGraphicsInterruptCallback", (routine, 0x1234))
        status = yield ("NtWaitForSingleObjectEx", (done, 0, 0, 0))
        yield ("VdSetGraphicsInterruptCallback", (0, 0))
        w.log.append(("woke", status))
        return 0

    w.k.start_main(main())
    return w, routine


@both
def test_vblanks_call_the_interrupt_callback_at_60_hz(profile: Profile) -> None:
    w, _ = vsync_world(profile, 4)
    result = w.k.run()
    assert result.outcome == "finished"
    calls, woke = w.log[:-1], w.log[-1]
    assert woke == ("woke", 0)
    # Source 0 (vblank) and the user data, at DISPATCH_LEVEL, on one kernel thread, at n/60 s.
    assert [c[:2] for c in calls] == [(0, 0x1234)] * 4
    assert [c[2] for c in calls] == [vblank_time(n) for n in range(1, 5)]
    assert {c[3] for c in calls} == {2}
    vsync_thread = w.k.threads[calls[0][4]]
    assert vsync_thread.system and vsync_thread.thread_id == WORKER_THREAD_IDS["vsync"]
    texts = [text for tid, text in markers(w) if tid == vsync_thread.ordinal]
    assert texts == [f"vsync {n}: graphics interrupt callback" for n in range(1, 5)]
    # The callback was cleared: no further vblank ran it, and the run finished at once.
    assert result.clock < vblank_time(5)


@both
def test_vsync_runs_give_the_same_trace_every_time(profile: Profile) -> None:
    traces = []
    for _ in range(2):
        w, _ = vsync_world(profile, 3)
        w.k.run()
        traces.append([(e.tid, e.idx, e.kind, e.ts) for e in w.rec.events])
    assert traces[0] == traces[1]


@both
def test_only_vblanks_left_end_the_run_as_a_wedge_that_names_them(profile: Profile) -> None:
    w, _ = vsync_world(profile, 10**9)  # the callback never signals
    result = w.k.run()
    assert result.outcome == "wedge"
    assert INTERRUPT_IDLE_LIMIT <= result.clock <= INTERRUPT_IDLE_LIMIT + vblank_time(2)
    report = result.wedge
    assert [b.tid for b in report.blocked] == [0]
    assert report.blocked[0].objects[0].type == "Event"
    assert len(report.interrupts) == 1 and "graphics interrupt callback" in report.interrupts[0]
    assert "still firing" in report.render_text()


@both
def test_a_run_whose_threads_ended_finishes_with_a_callback_set(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def callback(source: int, data: int) -> Prog:
        w.log.append(w.k.clock)
        yield ("KeGetCurrentProcessType", ())
        return 0

    routine = w.routine(callback)

    def main() -> Prog:
        yield ("VdSetGraphicsInterruptCallback", (routine, 0))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-50 * MS)))
        return 0

    w.k.start_main(main())
    result = w.k.run()
    assert result.outcome == "finished"
    assert w.log == [vblank_time(n) for n in (1, 2, 3)]  # 50 ms: three vblanks
    assert result.clock < vblank_time(4)


@both
def test_a_callback_with_no_code_leaves_a_marker_each_vblank(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def main() -> Prog:
        yield ("VdSetGraphicsInterruptCallback", (0x82345670, 0))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-35 * MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    texts = [text for _tid, text in markers(w)]
    assert texts.count("graphics interrupt callback 0x82345670 cannot run in this host") == 2


# -- timer DPCs -------------------------------------------------------------------------------


def timer_world(profile: Profile, **quirks: bool) -> tuple[World, int, int, int]:
    w = World(profile, thread_start_delay=False, **quirks)

    def deferred(dpc: int, context: int, low: int, high: int) -> Prog:
        t = w.k.current
        assert t is not None
        w.log.append((dpc, context, low | high << 32, w.k.clock, w.m.read_u8(t.pcr + 0x18)))
        yield ("KeGetCurrentProcessType", ())
        return 0

    routine = w.routine(deferred)
    timer = w.m.alloc(H.KTIMER_SIZE, 8)
    dpc = w.m.alloc(KDPC_SIZE, 8)
    w.k.call("KeInitializeTimerEx", timer, 1)
    w.k.call("KeInitializeDpc", dpc, routine, 0x77)
    return w, timer, dpc, routine


def test_console_timer_dpc_runs_on_each_expiry() -> None:
    w, timer, dpc, _ = timer_world("console")

    def main() -> Prog:
        yield ("KeSetTimerEx", (timer, 0, 3, dpc))  # due now, then every 3 ms
        yield ("KeDelayExecutionThread", (1, 0, w.li(-9 * MS)))
        yield ("KeCancelTimer", (timer,))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-9 * MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    # Due at 0, 3, 6, 9 ms of the 9 ms delay: DeferredRoutine(dpc, context, due system time),
    # each run once its expiry fell.
    assert [(d, c) for d, c, *_ in w.log] == [(dpc, 0x77)] * 4
    dues = [entry[2] - SYSTEM_TIME_BASE for entry in w.log]
    assert [b - a for a, b in itertools.pairwise(dues)] == [3 * MS] * 3
    assert all(due <= entry[3] < due + MS for due, entry in zip(dues, w.log, strict=True))
    assert {entry[4] for entry in w.log} == {2}
    assert w.k.call("KeRemoveQueueDpc", dpc) == 0  # each was dequeued as it ran


def test_console_timer_dpc_removed_before_it_runs_does_not_run() -> None:
    w, timer, dpc, _ = timer_world("console")

    def main() -> Prog:
        yield ("KeSetTimerEx", (timer, 0, 0, dpc))  # due now
        yield ("KeRemoveQueueDpc", (dpc,))
        return 0

    # The expiry falls due as KeSetTimerEx returns and queues the DPC; the worker would take
    # the CPU at main's next call boundary, but that call takes the DPC off the queue first.
    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    assert w.log == []
    assert markers(w) == []


@both
def test_timer_dpc_under_dpc_never_runs_stays_queued(profile: Profile) -> None:
    w, timer, dpc, _ = timer_world(profile, ke_mutant_timer_missing=False, dpc_never_runs=True)

    def main() -> Prog:
        yield ("KeSetTimerEx", (timer, 0, 0, dpc))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    assert w.log == []
    assert w.k.call("KeRemoveQueueDpc", dpc) == 1
    assert w.m.read_u32(dpc + 0x18) == SYSTEM_TIME_BASE >> 32


def test_canary_has_no_timer_dpc() -> None:
    w, timer, dpc, _ = timer_world("canary")
    assert w.k.call("KeSetTimerEx", timer, 0, 0, dpc) == timer  # unimplemented
    assert w.k.run().outcome == "finished"
    assert w.log == [] and w.k.call("KeRemoveQueueDpc", dpc) == 0


# -- audio render clients ---------------------------------------------------------------------


@both
def test_audio_client_callback_paces_with_consumed_frames(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    frame = w.m.alloc(6144, 8)
    block = w.m.alloc(8, 8)
    driver = w.out()
    limit = QUEUED_FRAMES + 3

    def callback(wrapped: int) -> Prog:
        w.log.append((w.m.read_u32(wrapped), w.k.clock))
        if len(w.log) <= limit:
            yield ("XAudioSubmitRenderDriverFrame", (w.u32(driver), frame))
        return 0

    w.m.write_u32(block, w.routine(callback))
    w.m.write_u32(block + 4, 0xABCD)

    def main() -> Prog:
        assert (yield ("XAudioRegisterRenderDriverClient", (block, driver))) == 0
        yield ("KeDelayExecutionThread", (1, 0, w.li(-200 * MS)))
        yield ("XAudioUnregisterRenderDriverClient", (w.u32(driver),))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    assert {arg for arg, _ in w.log} == {0xABCD}
    # Eight at once; then one per consumed frame, the frames playing back to back.
    start = w.log[0][1]
    assert all(clock - start < MS for _, clock in w.log[:QUEUED_FRAMES])
    later = [clock for _, clock in w.log[QUEUED_FRAMES:]]
    frame_ticks = FRAME_TICKS_X3 / 3  # 16/3 ms
    assert frame_ticks <= later[0] - start < frame_ticks + MS
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert gaps and all(abs(gap - frame_ticks) < 1 for gap in gaps)
    # The first ``limit`` calls submitted a frame each; every frame consumed asked for one more.
    assert len(w.log) == QUEUED_FRAMES + limit
    assert audio_state(w.k).clients == {}


@both
def test_unregistered_client_is_not_called_again(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    block = w.m.alloc(8, 8)
    driver = w.out()

    frame = w.m.alloc(6144, 8)

    def callback(wrapped: int) -> Prog:
        w.log.append(w.k.clock)
        yield ("XAudioSubmitRenderDriverFrame", (w.u32(driver), frame))
        return 0

    w.m.write_u32(block, w.routine(callback))

    def main() -> Prog:
        yield ("XAudioRegisterRenderDriverClient", (block, driver))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-MS)))
        yield ("XAudioUnregisterRenderDriverClient", (w.u32(driver),))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-100 * MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    # The eight first calls ran (each submitting a frame); frames consumed after the
    # unregister ask the gone client for nothing.
    assert len(w.log) == QUEUED_FRAMES
    assert all(clock < MS for clock in w.log)


# -- Kernel.call-driven threads, hostile input ------------------------------------------------


@both
def test_a_blocked_kernel_call_is_woken_by_the_vsync_callback(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)
    done = w.event()

    def callback(source: int, data: int) -> Prog:
        w.log.append(w.k.clock)
        if len(w.log) == 2:
            yield ("NtSetEvent", (done, 0))
        return 0

    w.k.call("VdSetGraphicsInterruptCallback", w.routine(callback), 0)
    assert w.k.call("NtWaitForSingleObjectEx", done, 0, 0, 0) == 0
    assert w.log == [vblank_time(1), vblank_time(2)]


def test_timer_dpc_at_an_unmapped_address_leaves_a_marker() -> None:
    w, timer, _dpc, _ = timer_world("console")
    unmapped = 0x5000_0000
    assert w.k.call("KeSetTimerEx", timer, 0, 0, unmapped) == 0

    def main() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(-MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    assert [text for _tid, text in markers(w)] == ["timer dpc 0x50000000 is not mapped: not queued"]
    # The timer itself still fired and the object table is intact.
    assert w.k.call("KeCancelTimer", timer) == 0


@both
def test_a_suspended_worker_runs_its_jobs_once_resumed(profile: Profile) -> None:
    w = World(profile, thread_start_delay=False)

    def callback(source: int, data: int) -> Prog:
        w.log.append(w.k.clock)
        yield ("KeGetCurrentProcessType", ())
        return 0

    w.k.call("VdSetGraphicsInterruptCallback", w.routine(callback), 0)
    vsync_thread = next(t for t in w.k.threads if t.system)
    handle = vsync_thread.handles[0]
    assert w.k.call("NtSuspendThread", handle, 0) == 0

    def main() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(-40 * MS)))
        yield ("NtResumeThread", (handle, 0))
        yield ("KeDelayExecutionThread", (1, 0, w.li(-1 * MS)))
        return 0

    w.k.start_main(main())
    assert w.k.run().outcome == "finished"
    # Two vblanks fell while it was suspended: one call queued (the other counted), run at resume.
    assert len(w.log) == 1 and w.log[0] >= 40 * MS
