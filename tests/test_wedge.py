"""The seed's wedge scenario both ways, and what the wedge report says (both profiles)."""

from __future__ import annotations

import msgspec
import pytest

from x360k.kernel import WedgeError
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_WAIT_0
from x360k.wedge import WedgeReport

from .threadkit import Prog, World, wait1


def seed_scenario(w: World, *, worker_signals: bool) -> None:
    """Thread A makes an event and a worker; the worker duplicates the handle, yields a while,
    then (maybe) sets the duplicate, keeping it open; A waits on the source meanwhile."""

    def worker(source: int) -> Prog:
        dup_ptr = w.out()
        status = yield ("NtDuplicateObject", (source, dup_ptr, 0))
        assert status == 0
        dup = w.u32(dup_ptr)
        w.log.append(("dup", dup))
        for _ in range(3):
            yield ("NtYieldExecution", ())
        if worker_signals:
            w.log.append(("set", (yield ("NtSetEvent", (dup, 0)))))
        return 7

    entry = w.routine(worker)

    def thread_a() -> Prog:
        handle_ptr, id_ptr = w.out(), w.out()
        assert (yield ("NtCreateEvent", (handle_ptr, 0, 1, 0))) == 0
        event = w.u32(handle_ptr)
        w.log.append(("event", event))
        assert (yield ("ExCreateThread", (w.out(), 0, id_ptr, 0, entry, event, 0))) == 0
        w.log.append(("wait", (yield wait1(event))))
        return 0

    w.main(thread_a())


@pytest.mark.parametrize("profile", PROFILES)
def test_signal_on_duplicate_wakes_wait_on_source(profile: Profile) -> None:
    w = World(profile)
    seed_scenario(w, worker_signals=True)
    result = w.run()
    assert result.outcome == "finished"
    log = dict(w.log)
    assert log["dup"] != log["event"]
    assert log["set"] == 0
    assert log["wait"] == STATUS_WAIT_0
    # A's wait returned in A's own stream, after the worker's set in the worker's stream.
    a_return = [e for e in w.rec.thread(0) if e.kind == "kernel.return"][-1]
    assert a_return.name == "NtWaitForSingleObjectEx" and a_return.status == 0
    set_call = next(e for e in w.rec.thread(1) if e.name == "NtSetEvent")
    assert a_return.ts is not None and set_call.ts is not None and a_return.ts >= set_call.ts


@pytest.mark.parametrize("profile", PROFILES)
def test_worker_that_never_signals_is_reported_as_a_wedge(profile: Profile) -> None:
    w = World(profile)
    seed_scenario(w, worker_signals=False)
    result = w.run()
    assert result.outcome == "wedge"
    report = result.wedge
    assert isinstance(report, WedgeReport)
    event = dict(w.log)["event"]
    dup = dict(w.log)["dup"]
    sid = w.k.sid_of(event)
    assert sid is not None

    (blocked,) = report.blocked
    assert blocked.tid == 0 and blocked.wait_kind == "wait"
    (obj,) = blocked.objects
    assert obj.type == "Event"
    assert f"0x{event:08X}" in obj.handles and sid in obj.sids
    assert report.ended == [1]
    holders = {h.handle: h for h in obj.holders}
    assert holders[f"0x{dup:08X}"].created_by == 1
    assert holders[f"0x{dup:08X}"].creator_state == "terminated"
    assert holders[f"0x{event:08X}"].created_by == 0
    assert obj.reachable_by == []
    assert "ended (1)" in obj.note

    text = report.render_text()
    assert "thread 0" in text and f"0x{event:08X}" in text and sid in text
    assert "ended threads: 1" in text
    assert "NtWaitForSingleObjectEx" in text

    again = msgspec.json.decode(report.to_json(), type=WedgeReport)
    assert again == report


@pytest.mark.parametrize("profile", PROFILES)
def test_wedge_when_worker_closed_its_duplicate_says_nothing_else_can_reach(
    profile: Profile,
) -> None:
    w = World(profile)

    def worker(source: int) -> Prog:
        dup_ptr = w.out()
        yield ("NtDuplicateObject", (source, dup_ptr, 0))
        yield ("NtClose", (w.u32(dup_ptr),))
        return 0

    entry = w.routine(worker)

    def a() -> Prog:
        hp = w.out()
        yield ("NtCreateEvent", (hp, 0, 1, 0))
        yield ("ExCreateThread", (w.out(), 0, 0, 0, entry, w.u32(hp), 0))
        yield wait1(w.u32(hp))
        return 0

    w.main(a())
    result = w.run()
    assert result.outcome == "wedge"
    (obj,) = result.wedge.blocked[0].objects
    assert len(obj.holders) == 1
    assert "nothing else can reach it" in obj.note


@pytest.mark.parametrize("profile", PROFILES)
def test_wedge_report_names_a_mutant_deadlock_cycle(profile: Profile) -> None:
    w = World(profile)
    m1, m2 = w.mutant(), w.mutant()
    ready = w.event(manual=True)

    def grab(first: int, second: int) -> Prog:
        yield wait1(first)
        yield ("NtYieldExecution", ())
        yield wait1(second)
        return 0

    w.spawn(grab(m1, m2))
    w.spawn(grab(m2, m1))

    def main() -> Prog:
        yield wait1(ready)
        return 0

    w.main(main())
    result = w.run()
    assert result.outcome == "wedge"
    assert result.wedge.cycles == [[1, 2, 1]]
    owners = {b.tid: b.objects[0].owner_tid for b in result.wedge.blocked if b.tid}
    assert owners == {1: 2, 2: 1}
    assert "deadlock cycle: thread 1 -> thread 2 -> thread 1" in result.wedge.render_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_kernel_call_that_can_never_complete_raises_wedge_error(profile: Profile) -> None:
    w = World(profile)
    event = w.event()
    with pytest.raises(WedgeError) as info:
        w.k.call("NtWaitForSingleObjectEx", event, 1, 0, 0)
    assert info.value.report.blocked[0].tid == 0
    assert f"0x{event:08X}" in str(info.value)


@pytest.mark.parametrize("profile", PROFILES)
def test_periodic_timer_nobody_waits_on_does_not_hide_a_wedge(profile: Profile) -> None:
    w = World(profile)
    timer = w.timer()
    event = w.event()
    assert w.k.call("NtSetTimerEx", timer, w.li(-10_000), 0, 1, 0, 0, 5, 0) == 0

    def stuck() -> Prog:
        yield wait1(event)
        return 0

    w.main(stuck())
    result = w.run(max_calls=100)
    assert result.outcome == "wedge"
    assert result.calls < 100
