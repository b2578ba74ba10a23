"""Scenarios run on the kernel: examples hold, broken expectations are caught at their line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from x360k.scenario import ScenarioError, load_scenario, parse_scenario, run_scenario
from x360k.trace.recorder import MemoryRecorder

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
RUNS = [
    pytest.param(path, profile, id=f"{path.stem}-{profile}")
    for path in EXAMPLES
    for profile in load_scenario(path).profiles
]


def test_examples_exist() -> None:
    names = {p.stem for p in EXAMPLES}
    assert len(names) >= 6
    assert {"duplicate_object", "worker_never_signals", "dup_signal_wakes_source"} <= names


@pytest.mark.parametrize(("path", "profile"), RUNS)
def test_example_meets_its_expectations(path: Path, profile: str) -> None:
    scenario = load_scenario(path)
    assert scenario.warnings == []
    result = run_scenario(scenario, profile=profile)
    assert [f.render() for f in result.failures] == []
    assert result.ok
    assert result.outcome == result.expected_outcome


def run_text(text: str, profile: str = "canary") -> object:
    return run_scenario(parse_scenario(textwrap.dedent(text), "s.yaml"), profile=profile)


WAIT_FOR_WORKER = """\
threads:
  main:
    - call: NtCreateEvent
      event_type: synchronization
      initial_state: false
      out: ev
    - call: ExCreateThread
      start_address: worker
    - call: NtWaitForSingleObjectEx
      handle: ev
      expect: STATUS_WAIT_0
  worker:
    - call: NtSetEvent
      handle: ev
      expect: {expect}
"""


def test_a_wrong_step_expectation_fails_at_its_line() -> None:
    result = run_text(WAIT_FOR_WORKER.replace("{expect}", "STATUS_INVALID_HANDLE"))
    assert not result.ok  # type: ignore[attr-defined]
    (failure,) = result.failures  # type: ignore[attr-defined]
    assert failure.line == 15
    assert "NtSetEvent returned STATUS_SUCCESS" in failure.message
    assert "expected STATUS_INVALID_HANDLE" in failure.message


def test_the_same_scenario_with_the_right_expectation_passes() -> None:
    result = run_text(WAIT_FOR_WORKER.replace("{expect}", "STATUS_SUCCESS"))
    assert result.ok, result.failures  # type: ignore[attr-defined]
    assert [t.program for t in result.threads] == ["main", "worker"]  # type: ignore[attr-defined]


def test_unexpected_wedge_points_at_the_blocked_step_and_unreached_expectations() -> None:
    text = (
        WAIT_FOR_WORKER.replace("{expect}", "STATUS_SUCCESS").replace(
            "start_address: worker", "start_address: idler"
        )
        + "  idler:\n    - call: NtYieldExecution\n"
    )
    scenario = parse_scenario(textwrap.dedent(text), "s.yaml")
    result = run_scenario(scenario)
    assert result.outcome == "wedge" and result.wedge is not None
    lines = {f.line: f.message for f in result.failures}
    assert "unexpected wedge" in lines[9]
    assert "never returned" in lines[11]  # the wait's expect: never checked
    assert "never returned" in lines[15]  # the worker never ran


def test_failures_inside_a_loop_are_counted_once_per_line() -> None:
    result = run_text(
        """\
        threads:
          main:
            - call: NtCreateSemaphore
              initial_count: 0
              maximum_count: 10
              out: sem
            - repeat: 3
              steps:
                - call: NtWaitForSingleObjectEx
                  handle: sem
                  timeout: 0
                  expect: STATUS_WAIT_0
        """
    )
    (failure,) = result.failures  # type: ignore[attr-defined]
    assert failure.line == 12
    assert "STATUS_TIMEOUT" in failure.message and failure.message.endswith("(3 times)")


def test_expect_out_compares_with_bound_names() -> None:
    text = """\
    profiles: [canary, console]
    threads:
      main:
        - call: NtCreateEvent
          object_attributes: shared
          event_type: 0
          initial_state: false
          out: a
        - call: NtCreateEvent
          object_attributes: {name: shared, openif: true}
          event_type: 0
          initial_state: false
          out: b
          expect_out: {b: a}
    """
    assert run_text(text, "canary").ok  # type: ignore[attr-defined]
    console = run_text(text, "console")
    (failure,) = console.failures  # type: ignore[attr-defined]
    assert failure.line == 14 and "expected a (= 0x" in failure.message


def test_trace_fragment_mismatch_says_where_the_match_stopped() -> None:
    result = run_text(
        """\
        threads:
          main:
            - call: NtCreateEvent
              event_type: 0
              initial_state: false
              out: ev
            - call: NtClose
              handle: ev
        expect:
          trace:
            - thread: main
              fragment:
                - kernel.call NtClose handle=ev
                - kernel.return NtClose
        """
    )
    (failure,) = result.failures  # type: ignore[attr-defined]
    assert failure.line == 11
    assert "stops at 'kernel.return NtClose'" in failure.message
    assert "handle.destroy" in failure.message


def test_absent_fragment_and_objects_alive() -> None:
    result = run_text(
        """\
        threads:
          main:
            - call: NtCreateEvent
              event_type: 0
              initial_state: false
              out: ev
        expect:
          objects_alive: 0
          trace:
            - fragment: [handle.create object_type=Event]
              absent: true
        """
    )
    lines = sorted(f.line for f in result.failures)  # type: ignore[attr-defined]
    assert lines == [8, 10]
    assert result.objects_alive == 1  # type: ignore[attr-defined]
    assert result.objects_alive_types == {"Event": 1}  # type: ignore[attr-defined]


def test_a_name_not_yet_bound_by_another_thread_is_a_scenario_error_at_run_time() -> None:
    scenario = parse_scenario(
        textwrap.dedent(
            """\
            threads:
              main:
                - call: NtSetEvent
                  handle: ev
                - call: ExCreateThread
                  start_address: maker
              maker:
                - call: NtCreateEvent
                  event_type: 0
                  initial_state: false
                  out: ev
            """
        ),
        "late.yaml",
    )
    with pytest.raises(ScenarioError) as info:
        run_scenario(scenario)
    assert str(info.value).startswith("late.yaml:4: 'ev' is not bound yet")


def test_runs_are_deterministic_and_recorder_sees_every_event() -> None:
    scenario = load_scenario(EXAMPLES[0])
    traces = []
    for _ in range(2):
        recorder = MemoryRecorder()
        result = run_scenario(scenario, recorder=recorder)
        assert result.ok
        traces.append(recorder.events)
    assert traces[0] == traces[1] and traces[0]
    assert result.handles_created == sum(e.kind == "handle.create" for e in traces[0])


def test_call_limit_is_an_outcome() -> None:
    text = """\
    threads:
      main:
        - repeat: 1000
          steps:
            - call: NtYieldExecution
    """
    scenario = parse_scenario(textwrap.dedent(text), "loop.yaml")
    result = run_scenario(scenario, max_calls=10)
    assert result.outcome == "limit" and result.calls == 10
    assert not result.ok


def test_the_documented_example_runs_as_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text()
    block = doc.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    scenario = parse_scenario(block, "docs/scenarios.md")
    for profile in scenario.profiles:
        result = run_scenario(scenario, profile=profile)
        assert result.ok, [f.render() for f in result.failures]


def test_expect_may_name_a_value_the_same_step_binds() -> None:
    result = run_text(
        """\
        threads:
          main:
            - call: ExCreateThread
              start_address: child
              out: {handle: h, thread_id: tid}
              expect_out: {h: h, tid: tid}
          child: []
        """
    )
    assert result.ok, result.failures  # type: ignore[attr-defined]


DPC_ON_MAIN = """\
threads:
  main:
    - call: ObCreateObject
      object_type: 0
      object_body_size: 0x1c
      out: dpc
      expect: STATUS_SUCCESS
    - {call: KeInitializeDpc, dpc: dpc, deferred_routine: deferred, deferred_context: 7}
    - {call: KeInsertQueueDpc, dpc: dpc, system_argument1: 1, system_argument2: 2, expect: 1}
    - {call: KeRemoveQueueDpc, dpc: dpc, expect: {canary: 1, console: 0}}
  deferred:
    - call: NtYieldExecution
expect:
  outcome: finished
  trace:
    - thread: main
      profile: console
      fragment: [kernel.call NtYieldExecution]
    - thread: main
      profile: canary
      absent: true
      fragment: [kernel.call NtYieldExecution]
"""


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_a_routine_run_on_main_keeps_mains_name(profile: str) -> None:
    # The console runs the DPC's routine (a scenario program) on main before the insert
    # returns; the thread is still 'main' to the trace expectations.
    result = run_text(DPC_ON_MAIN, profile)
    assert result.ok, [f.render() for f in result.failures]  # type: ignore[attr-defined]
    assert [t.program for t in result.threads] == ["main"]  # type: ignore[attr-defined]


VSYNC_SCENARIO = """\
threads:
  main:
    - call: NtCreateEvent
      event_type: 1
      initial_state: 0
      out: done
      expect: STATUS_SUCCESS
    - {call: VdSetGraphicsInterruptCallback, callback: on_vblank, user_data: 5}
    - {call: NtWaitForSingleObjectEx, handle: done, wait_mode: 0, alertable: 0, expect: 0}
    - {call: VdSetGraphicsInterruptCallback, callback: 0, user_data: 0}
  on_vblank:
    - {call: NtSetEvent, handle: done}
expect:
  outcome: finished
  trace:
    - thread: on_vblank
      fragment: [marker, import.call NtSetEvent, kernel.call NtSetEvent]
"""


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_a_scenario_routine_runs_as_the_vsync_callback(profile: str) -> None:
    # The kernel's vsync thread runs the scenario program; it is named after it in the trace.
    result = run_text(VSYNC_SCENARIO, profile)
    assert result.ok, [f.render() for f in result.failures]  # type: ignore[attr-defined]
    assert [t.program for t in result.threads] == ["main", "on_vblank"]  # type: ignore[attr-defined]
