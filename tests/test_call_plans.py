"""Call plans (the per-export compiled call path) against the generic path: the same traces.

Every example scenario and a guest run, under both profiles, are recorded once
with plans and once with every plan refusing (so each call takes
``CallPath.invoke``); the events must be equal field for field. The hex texts
the plans format arguments with must read as the generic ``0x%08x`` does, also
once their cache has started over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from x360k import call_path
from x360k.call_plans import HEX_CACHE_LIMIT, HexTexts, _refuse, plan_source
from x360k.cpu.runner import execute_guest
from x360k.exports.registry import Returns
from x360k.kernel import Kernel
from x360k.scenario import load_scenario, run_scenario
from x360k.trace.event import TraceEvent
from x360k.trace.recorder import MemoryRecorder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _scenario_events(path: Path, profile: str) -> list[TraceEvent]:
    rec = MemoryRecorder()
    run_scenario(load_scenario(path), profile=profile, recorder=rec)
    return rec.events


def _generic_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_path, "bind_plan", lambda *args: _refuse)
    monkeypatch.setattr(call_path, "bind_cpu_plan", lambda *args: None)


@pytest.mark.parametrize("profile", ["canary", "console"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_scenarios_trace_the_same_with_and_without_plans(
    path: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = _scenario_events(path, profile)
    _generic_only(monkeypatch)
    generic = _scenario_events(path, profile)
    assert len(planned) > 10
    assert planned == generic


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_a_guest_traces_the_same_with_and_without_plans(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest = ROOT / "guests" / "bin" / "producer_consumer.elf"
    planned = execute_guest(guest, profile=profile, keep_trace=True)
    _generic_only(monkeypatch)
    generic = execute_guest(guest, profile=profile, keep_trace=True)
    assert planned.trace is not None and generic.trace is not None
    assert len(planned.trace.events) > 10
    assert planned.trace.events == generic.trace.events
    assert planned.kernel.clock == generic.kernel.clock


def test_out_of_range_arguments_take_the_generic_path() -> None:
    k = Kernel(recorder=MemoryRecorder())
    out = k.memory.alloc(4)
    assert k.call("NtCreateEvent", out, 0, 1, 0) == 0
    handle = k.memory.read_u32(out)
    # -1 is masked like a register value: an invalid previous-state pointer, as a guest's.
    assert k.call("NtSetEvent", handle, -1) == 0xC0000005
    assert k.main_thread.gpr[4] == 0xFFFFFFFFFFFFFFFF
    # Fewer arguments than declared: r4 is read as it was left (all ones: a bad pointer).
    assert k.call("NtSetEvent", handle) == 0xC0000005
    assert k.call("NtSetEvent", handle, 0) == 0


def test_hex_texts_match_the_generic_format_across_a_restart() -> None:
    texts = HexTexts()
    values = [0, 1, 0xF8000010, 0xFFFFFFFF, *range(HEX_CACHE_LIMIT + 5)]
    for value in values:
        got = texts.get(value) or texts.text(value)
        assert got == format(value, "#010x")
    assert len(texts._cache) <= HEX_CACHE_LIMIT


@pytest.mark.parametrize("cpu", [False, True])
@pytest.mark.parametrize("returns", list(Returns))
@pytest.mark.parametrize("nargs", range(9))
def test_every_arity_compiles(nargs: int, returns: Returns, cpu: bool) -> None:
    compile(plan_source(nargs, returns, cpu=cpu), "plan", "exec")


@pytest.mark.parametrize("profile", ["canary", "console"])
@pytest.mark.parametrize("name", ["rtl_strings", "stress"])
def test_cpu_plans_trace_as_the_kernel_plans_do(
    name: str, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone guest thread's calls go through CPU plans; without them, the kernel's plans."""
    guest = ROOT / "guests" / "bin" / f"{name}.elf"
    pokes = {"calls": 300} if name == "stress" else None
    planned = execute_guest(guest, profile=profile, keep_trace=True, pokes=pokes)
    monkeypatch.setattr(call_path, "bind_cpu_plan", lambda *args: None)
    kernel_side = execute_guest(guest, profile=profile, keep_trace=True, pokes=pokes)
    assert planned.trace is not None and kernel_side.trace is not None
    assert len(planned.trace.events) > 10
    assert planned.trace.events == kernel_side.trace.events
    assert planned.kernel.clock == kernel_side.kernel.clock


def _calls_of_every_return_kind(k: Kernel) -> list[int]:
    lock = k.memory.alloc(8)
    out = k.memory.alloc(4)
    return [
        k.call("KeQueryPerformanceFrequency"),  # a value
        k.call("KfLowerIrql", 0),  # nothing: r3 as it was
        k.call("KeAcquireSpinLockAtRaisedIrql", lock),
        k.call("KeReleaseSpinLockFromRaisedIrql", lock),
        k.call("NtCreateEvent", out, 0, 1, 0),  # a status
        k.call("NtSetEvent", 0x1234, 0),  # a failing status, sign-extended in r3
        k.main_thread.gpr[3],
    ]


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_values_and_void_returns_are_the_generic_paths(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned_rec = MemoryRecorder()
    planned = _calls_of_every_return_kind(Kernel(profile, recorder=planned_rec))  # type: ignore[arg-type]
    _generic_only(monkeypatch)
    generic_rec = MemoryRecorder()
    generic = _calls_of_every_return_kind(Kernel(profile, recorder=generic_rec))  # type: ignore[arg-type]
    assert planned == generic
    assert planned[-1] >> 32 == 0xFFFFFFFF  # the failing status, as the guest sees r3
    kinds = [e.kind for e in planned_rec.events]
    assert kinds.count("kernel.return") == 6
    assert planned_rec.events == generic_rec.events


@pytest.mark.parametrize("plans", [True, False])
def test_recent_calls_are_the_last_eight_oldest_first(
    plans: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not plans:
        _generic_only(monkeypatch)
    rec = MemoryRecorder()
    k = Kernel(recorder=rec)
    t = k.main_thread
    assert t.recent == []
    names = ["KeQueryPerformanceFrequency", "KfLowerIrql"]
    for i in range(11):
        k.call(names[i % 2], *([0] if i % 2 else []))
        if i == 2:
            assert [name for _, name in t.recent] == [names[0], names[1], names[0]]
    calls = [(e.idx, e.name) for e in rec.events if e.kind == "import.call"]
    assert t.recent == calls[-8:]
