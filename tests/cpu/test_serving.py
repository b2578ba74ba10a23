"""Kernel calls served inside the interrupt hook: unicorn keeps running, errors still surface."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from x360k import call_path
from x360k.cpu.engine import Engine
from x360k.cpu.runner import execute_guest
from x360k.scheduler import CALL_COST, QUANTUM

Guest = Callable[[str], Path]


def _count_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    starts: list[int] = []
    original = Engine.start

    def counting(self: Engine, pc: int, count: int) -> int:
        starts.append(count)
        return original(self, pc, count)

    monkeypatch.setattr(Engine, "start", counting)
    return starts


@pytest.mark.parametrize("serve_in_hook", [True, False])
def test_a_lone_thread_stays_in_unicorn_across_its_quanta(
    guest: Guest, monkeypatch: pytest.MonkeyPatch, serve_in_hook: bool
) -> None:
    starts = _count_starts(monkeypatch)
    calls = 20 * QUANTUM
    run = execute_guest(
        guest("stress"), pokes={"calls": calls}, keep_trace=False, serve_in_hook=serve_in_hook
    )
    assert run.outcome == "finished" and run.kernel.calls == calls
    assert run.kernel.threads[0].exit_code == 0  # every call's r3 reached the guest
    assert all(count == 0 for count in starts)  # nothing else could run: uncounted
    # With the hook, each spent quantum rolls over into the next slice in place (nothing
    # else could run, no limit is near): one start in all. Without it, one per call.
    assert len(starts) == (1 if serve_in_hook else calls + 1)


@pytest.mark.parametrize("max_time", [QUANTUM * CALL_COST * 3, QUANTUM * CALL_COST * 3 + 50])
def test_max_time_stops_a_rolling_slice_where_a_restart_would(
    guest: Guest, monkeypatch: pytest.MonkeyPatch, max_time: int
) -> None:
    """``run`` looks at ``max_time`` between slices: a slice rolls over only below it."""
    starts = _count_starts(monkeypatch)
    served = execute_guest(
        guest("stress"), pokes={"calls": 10 * QUANTUM}, keep_trace=True, max_time=max_time
    )
    assert len(starts) == 1  # every slice before the limit rolled over
    stopped = execute_guest(
        guest("stress"),
        pokes={"calls": 10 * QUANTUM},
        keep_trace=True,
        max_time=max_time,
        serve_in_hook=False,
    )
    assert served.outcome == stopped.outcome == "limit"
    assert served.kernel.calls == stopped.kernel.calls
    assert served.kernel.clock == stopped.kernel.clock
    assert served.trace is not None and stopped.trace is not None
    assert served.trace.events == stopped.trace.events
    assert served.kernel.calls < 10 * QUANTUM


def test_a_call_limit_inside_a_quantum_is_exact(guest: Guest) -> None:
    run = execute_guest(guest("stress"), pokes={"calls": 500}, keep_trace=False, max_calls=70)
    assert run.outcome == "limit" and run.kernel.calls == 70


@pytest.mark.parametrize("max_calls", [QUANTUM, 3 * QUANTUM, 3 * QUANTUM + 1])
def test_a_call_limit_at_a_quantum_boundary_is_exact(guest: Guest, max_calls: int) -> None:
    runs = [
        execute_guest(
            guest("stress"),
            pokes={"calls": 500},
            keep_trace=True,
            max_calls=max_calls,
            serve_in_hook=serve_in_hook,
        )
        for serve_in_hook in (True, False)
    ]
    served, stopped = runs
    assert served.outcome == stopped.outcome == "limit"
    assert served.kernel.calls == stopped.kernel.calls == max_calls
    assert served.kernel.clock == stopped.kernel.clock
    assert served.trace is not None and stopped.trace is not None
    assert served.trace.events == stopped.trace.events


def _wrap_plans(monkeypatch: pytest.MonkeyPatch, before: Callable[[Any, Any], None]) -> None:
    """Run ``before(kernel, thread)`` in every call the call path makes by its plans.

    Both kinds of plan (the kernel's, and the CPU hook's) are bound to a copy of the
    export whose handler calls ``before`` first.
    """

    def wrapping(ex: Any) -> Any:
        handler = ex.handler

        def wrapped(k: Any, t: Any, *args: int) -> Any:
            before(k, t)
            return handler(k, t, *args)

        return dataclasses.replace(ex, handler=wrapped)

    plan, cpu_plan = call_path.bind_plan, call_path.bind_cpu_plan
    monkeypatch.setattr(call_path, "bind_plan", lambda k, ex, *rest: plan(k, wrapping(ex), *rest))
    monkeypatch.setattr(
        call_path, "bind_cpu_plan", lambda k, ex, *rest: cpu_plan(k, wrapping(ex), *rest)
    )


def test_an_error_in_a_served_call_reaches_the_caller(
    guest: Guest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(k: Any, t: Any) -> None:
        if k.calls == 100:
            raise ValueError("handler bug")

    _wrap_plans(monkeypatch, failing)
    with pytest.raises(ValueError, match="handler bug"):
        execute_guest(guest("stress"), pokes={"calls": 500}, keep_trace=False)


def test_guest_code_cannot_start_inside_a_served_call(
    guest: Guest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that ran guest code synchronously would nest unicorn runs: refused."""

    def nesting(k: Any, t: Any) -> None:
        if k.calls == 10:
            runtime = k.ext["cpu"]
            program = runtime.program(t, runtime.image.entry, (), t.gpr[1] - 0x1000)
            next(program)

    _wrap_plans(monkeypatch, nesting)
    with pytest.raises(RuntimeError, match="inside a kernel call"):
        execute_guest(guest("stress"), pokes={"calls": 500}, keep_trace=False)
