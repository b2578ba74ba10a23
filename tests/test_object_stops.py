"""Guest calls that would free an object still in use stop the run; the table stays whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Harness
from x360k.cli.main import cli
from x360k.cpu.fault import GuestFault
from x360k.handles import TableInvariantError
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_NO_MEMORY, STATUS_SUCCESS

CURRENT_THREAD = 0xFFFFFFFE


def _table_state(h: Harness) -> tuple[object, ...]:
    t = h.k.table
    return (
        [
            (handle, type(obj).__name__, t.slot_count(handle), obj.refs)
            for handle, obj in t.live_handles()
        ],
        sorted(t.live_objects),
        t.destroyed_count,
    )


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("size", [0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 30])
def test_huge_stacks_are_no_memory(profile: Profile, size: int) -> None:
    h = Harness(profile)
    hp, ip = h.out(), h.out()
    threads = len(h.k.threads)
    before = _table_state(h)
    assert h.k.call("ExCreateThread", hp, size, ip, 0, 0x1000, 0, 0) == STATUS_NO_MEMORY
    assert h.mem.read_u32(hp) == h.mem.read_u32(ip) == 0xCCCCCCCC  # nothing written
    assert len(h.k.threads) == threads and _table_state(h) == before
    h.k.table.check_invariants()
    # The arena is not left short: an ordinary thread still fits.
    assert h.k.call("ExCreateThread", hp, 0x10000, ip, 0, 0x1000, 0, 1) == STATUS_SUCCESS


def _stops(h: Harness, call: str, *args: int) -> str:
    before = _table_state(h)
    with pytest.raises(GuestFault) as info:
        h.k.call(call, *args)
    assert _table_state(h) == before, "the refused call changed the table"
    h.k.table.check_invariants()
    assert call in info.value.report.reason
    return info.value.report.reason


def test_closing_the_running_thread_twice_stops_under_canary() -> None:
    h = Harness("canary")
    assert h.k.call("NtClose", CURRENT_THREAD) == STATUS_SUCCESS  # the self count is gone
    reason = _stops(h, "NtClose", CURRENT_THREAD)
    assert "still running" in reason and "canary" in reason


def test_closing_the_pseudo_handle_is_invalid_under_console() -> None:
    h = Harness("console")
    for _ in range(3):
        assert h.k.call("NtClose", CURRENT_THREAD) == 0xC0000008
    h.k.table.check_invariants()


@pytest.mark.parametrize("profile", PROFILES)
def test_dereferencing_the_running_thread(profile: Profile) -> None:
    h = Harness(profile)
    kthread = h.k.main_thread.kthread
    if profile == "canary":
        h.k.call("ObDereferenceObject", kthread)  # takes the self count off the slot
    reason = _stops(h, "ObDereferenceObject", kthread)
    assert ("bug-check" in reason) == (profile == "console")


@pytest.mark.parametrize("profile", PROFILES)
def test_dereferencing_more_than_referenced(profile: Profile) -> None:
    h = Harness(profile)
    ev = h.create_event()
    out = h.out()
    assert h.k.call("ObReferenceObjectByHandle", ev, 0, out) == STATUS_SUCCESS
    body = h.mem.read_u32(out)
    h.k.call("ObDereferenceObject", body)  # gives back the reference taken
    if profile == "console":
        _stops(h, "ObDereferenceObject", body)  # would free what the handle still holds
        assert h.k.call("NtClose", ev) == STATUS_SUCCESS
    else:
        # Canary counts references on the slot: one more takes the handle's own count,
        # and the slot goes with the object (nothing left that uses it).
        h.k.call("ObDereferenceObject", body)
        h.k.call("ObDereferenceObject", body)
        assert h.k.call("NtClose", ev) == STATUS_SUCCESS  # double close succeeds (quirk)
    h.k.table.check_invariants()


def test_check_invariants_sees_a_broken_table() -> None:
    h = Harness("console")
    ev = h.create_event()
    obj = h.k.table.lookup(ev, None)
    assert obj is not None
    obj.refs = 0
    with pytest.raises(TableInvariantError):
        h.k.table.check_invariants()


def test_a_scenario_reports_the_stop_as_a_failure(tmp_path: Path) -> None:
    scenario = tmp_path / "stop.yaml"
    scenario.write_text(
        "name: closing the running thread's own handle twice\n"
        "threads:\n"
        "  main:\n"
        "    - {call: NtClose, handle: 0xFFFFFFFE}\n"
        "    - {call: NtClose, handle: 0xFFFFFFFE}\n"
    )
    trace = tmp_path / "t.jsonl"
    result = CliRunner().invoke(
        cli, ["run", str(scenario), "--profile", "canary", "--trace", str(trace)]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "stop.yaml:5: NtClose: would destroy the object of a thread" in result.output
    assert "kernel stop" in trace.read_text()  # the trace is written, with the stop marked
