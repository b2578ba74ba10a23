"""Every kind of mistake in a scenario file gives one line naming the right file line."""

from __future__ import annotations

import textwrap

import pytest

from x360k.scenario import ScenarioError, parse_scenario
from x360k.scenario.schema import Attrs, CallStep, LargeInt, Lit, OutSlot, Ref, Routine

GOOD_MAIN = """\
threads:
  main:
    - call: NtCreateEvent
      event_type: notification
      initial_state: false
      out: ev
"""


def load(text: str) -> object:
    return parse_scenario(textwrap.dedent(text), "bad.yaml")


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(text)
    err = info.value
    rendered = str(err)
    assert "\n" not in rendered
    assert rendered.startswith(f"bad.yaml:{err.line}: ")
    return err


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param("threads: [\n", 2, ["not valid YAML"], id="yaml-syntax"),
        pytest.param("", 1, ["empty file"], id="empty"),
        pytest.param("name: x\n", 1, ["needs 'threads:'"], id="no-threads"),
        pytest.param(
            "treads: {}\nthreads: {main: []}\n", 1, ["unknown key 'treads'"], id="top-key"
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtCreateEvnt\n",
            7,
            ["unknown xboxkrnl export 'NtCreateEvnt'", "did you mean NtCreateEvent"],
            id="unknown-export",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtSetEvent\n",
            7,
            ["NtSetEvent: missing argument 'handle'"],
            id="missing-argument",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtSetEvent\n      handel: ev\n",
            8,
            ["NtSetEvent has no argument 'handel'", "did you mean handle"],
            id="unknown-argument",
        ),
        pytest.param(
            """\
            threads:
              main:
                - call: NtSetEvent
                  handle: ev
                - call: NtCreateEvent
                  event_type: 0
                  initial_state: false
                  out: ev
            """,
            4,
            ["'ev' is used before it is bound", "bound at line 5"],
            id="used-before-bound",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtSetEvent\n      handle: evt\n",
            8,
            ["'evt' is used but never bound", "did you mean ev"],
            id="never-bound",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtClose\n      handle: ev\n      expect: STATUS_WAIT0\n",
            9,
            ["unknown status 'STATUS_WAIT0'", "STATUS_WAIT_0"],
            id="bad-status",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: ExCreateThread\n      start_address: wroker\n  worker: []\n",
            8,
            ["no thread program 'wroker'", "did you mean worker"],
            id="unknown-thread-program",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtWaitForSingleObjectEx\n      handle: ev\n"
            "      timeout: 10 parsecs\n",
            9,
            ["unknown unit 'parsecs'"],
            id="bad-duration",
        ),
        pytest.param(
            "threads:\n  main:\n    - call: NtCreateEvent\n      event_type: notifcation\n"
            "      initial_state: false\n",
            4,
            ["'notifcation' is not a number or one of", "did you mean notification"],
            id="bad-constant",
        ),
        pytest.param(
            "quirks:\n  double_close_succeed: on\nthreads: {main: []}\n",
            2,
            ["unknown quirk 'double_close_succeed'", "double_close_succeeds"],
            id="unknown-quirk",
        ),
        pytest.param(
            "threads: {main: []}\nexpect:\n  trace:\n    - fragment: [kernel.cal NtClose]\n",
            4,
            ["unknown event kind 'kernel.cal'", "kernel.call"],
            id="bad-event-kind",
        ),
        pytest.param(
            "threads:\n  main:\n    - call: ExTerminateThread\n      exit_code: 0\n"
            "      expect: STATUS_SUCCESS\n",
            5,
            ["ExTerminateThread returns nothing to expect"],
            id="expect-on-void",
        ),
        pytest.param(
            "threads: {main: []}\nexpect:\n  outcome: wedged\n",
            3,
            ["unknown outcome 'wedged'", "wedge"],
            id="bad-outcome",
        ),
        pytest.param(
            GOOD_MAIN + "    - call: NtClose\n      handle: ev\n      handle: ev\n",
            9,
            ["duplicate key 'handle'"],
            id="duplicate-key",
        ),
        pytest.param(
            GOOD_MAIN + "    - handle: ev\n",
            7,
            ["a step needs 'call: EXPORT'"],
            id="step-without-call",
        ),
        pytest.param("profile: xenia\nthreads: {main: []}\n", 1, ["unknown profile"], id="profile"),
    ],
)
def test_error_names_line_and_problem(text: str, line: int, words: list[str]) -> None:
    err = error_of(text)
    assert err.line == line, str(err)
    for word in words:
        assert word in err.message, str(err)


def test_readable_arguments_are_decoded() -> None:
    scenario = parse_scenario(
        textwrap.dedent(
            """\
            threads:
              main:
                - call: NtCreateEvent
                  object_attributes: {name: ready, openif: true}
                  event_type: synchronization
                  initial_state: true
                  out: ev
                - call: NtWaitForMultipleObjectsEx
                  handles: [ev, current_thread]
                  wait_type: any
                  timeout: 1.5ms
                - call: ExCreateThread
                  start_address: worker
                  creation_flags: [suspended, return_kthread]
              worker: []
            """
        ),
        "ok.yaml",
    )
    create, wait, spawn = (s for s in scenario.main.steps if isinstance(s, CallStep))
    assert create.line == 3 and wait.line == 8
    assert create.args[0] == OutSlot("ev")
    # a relative name gets the named-objects root titles pass (0xFFFFFFFC)
    assert create.args[1] == Attrs("ready", Lit(0xFFFFFFFC), 0xC0)
    assert create.args[2:] == [Lit(1), Lit(1)]
    count, handles, wait_type, mode, alertable, timeout = wait.args
    assert count == Lit(2)
    assert handles.items == [Ref("ev", 9), Lit(0xFFFFFFFE)]  # type: ignore[union-attr]
    assert (wait_type, mode, alertable) == (Lit(1), Lit(0), Lit(0))
    assert timeout == LargeInt(-15_000)
    assert spawn.args[4] == Routine("worker")
    assert spawn.args[6] == Lit(0x81)
    assert scenario.warnings == []


def test_never_started_thread_is_a_warning() -> None:
    scenario = parse_scenario("threads:\n  main: []\n  orphan: []\n", "w.yaml")
    assert len(scenario.warnings) == 1
    assert scenario.warnings[0].startswith("w.yaml:3: thread 'orphan' is never started")


def test_name_bound_by_another_thread_is_accepted_statically() -> None:
    scenario = parse_scenario(
        textwrap.dedent(
            """\
            threads:
              main:
                - call: ExCreateThread
                  start_address: maker
                - call: NtSetEvent
                  handle: ev
              maker:
                - call: NtCreateEvent
                  event_type: 0
                  initial_state: false
                  out: ev
            """
        ),
        "x.yaml",
    )
    assert scenario.main.name == "main"
