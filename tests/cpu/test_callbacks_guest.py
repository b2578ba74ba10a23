"""guests/callbacks.c: routines the kernel calls by itself, as PowerPC code on its own threads.

The guest's waits end only if the kernel really runs its vsync callback, its
timer's DPC and its audio client's callback; the values below are what those
routines saw (arguments, IRQL) and how often they ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from x360k.clock import SYSTEM_TIME_BASE
from x360k.cpu.runner import execute_guest
from x360k.kernel_workers import INTERRUPT_IDLE_LIMIT
from x360k.quirks import PROFILES, Profile

Guest = Callable[[str], Path]
STATUS_TIMEOUT = 0x102


@pytest.mark.parametrize("profile", PROFILES)
def test_callbacks_guest(guest: Guest, profile: Profile) -> None:
    run = execute_guest(guest("callbacks"), profile=profile)
    assert run.outcome == "finished", run.fault.headline() if run.fault else run.outcome
    base = next(s.value for s in run.image.symbols if s.name == "observed")
    mem = run.kernel.memory
    seen = [mem.read_u32(base + 4 * i) for i in range(12)]
    console = profile == "console"
    # Five vblanks ended the wait; the callback got source 0 and its user data at DISPATCH_LEVEL.
    assert (seen[0], seen[1], seen[2]) == (0, 7, 5)
    if console:
        # The periodic timer's DPC ran three times in DPC context with the due time's words.
        assert (seen[3], seen[4], seen[5], seen[6], seen[7]) == (0, 3, 7, SYSTEM_TIME_BASE >> 32, 1)
    else:
        # Canary lacks KeSetTimerEx: nothing ran and the one-second wait timed out.
        assert (seen[3], seen[4], seen[5]) == (STATUS_TIMEOUT, 0, 0)
    # The audio callback got a pointer to its argument; 8 + 4 calls, each submitting a frame.
    assert (seen[8], seen[9], seen[10], seen[11]) == (0, 0xA0D10, 0, 12)
    # The routines ran on the kernel's own threads, which are still parked: main alone ended.
    system = [t for t in run.kernel.threads if t.system]
    assert len(system) == (3 if console else 2)
    assert [t.terminated for t in run.kernel.threads if not t.system] == [True]


def test_a_guest_waiting_only_on_vblanks_stops_as_a_wedge(guest: Guest) -> None:
    # The callback never signals: vblanks alone move time on for 10 s, then the run is a
    # wedge whose report names the event main waits on and the vsync source still firing.
    run = execute_guest(guest("callbacks"), pokes={"vsync_calls": 0xFFFFFFFF})
    assert run.outcome == "wedge"
    report = run.result.wedge if run.result is not None else None
    assert report is not None
    assert [b.objects[0].type for b in report.blocked] == ["Event"]
    assert any("graphics interrupt callback" in source for source in report.interrupts)
    assert report.clock >= INTERRUPT_IDLE_LIMIT
