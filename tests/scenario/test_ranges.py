"""A number too big for its field is an error naming file, line and range, never cut to fit."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from x360k.scenario import ScenarioError, parse_scenario
from x360k.scenario.schema import CallStep, LargeInt, Lit


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(textwrap.dedent(text), "big.yaml")
    return info.value


@pytest.mark.parametrize(
    ("step", "field"),
    [
        (
            "call: NtCreateSemaphore\n      initial_count: 99999999999999999999999999\n"
            "      maximum_count: 2",
            "initial_count",
        ),
        ("call: NtClose\n      handle: 0x1FFFFFFFFFFFFFFFF", "handle"),
        ("call: NtClose\n      handle: 0x100000000", "handle"),
        ("call: NtClose\n      handle: '0x100000000'", "handle"),
        ("call: NtClose\n      handle: -2147483649", "handle"),
        ("call: NtClose\n      handle: 1\n      expect: 0x100000000", "expect"),
        ("call: KeDelayExecutionThread\n      interval: 0x10000000000000000", "interval"),
    ],
)
def test_out_of_range_is_an_error_at_its_line(step: str, field: str) -> None:
    err = _error(f"threads:\n  main:\n    - {step}\n")
    lines = step.splitlines()
    assert err.line == 3 + next(i for i, s in enumerate(lines) if field in s)
    text = str(err)
    assert text.startswith(f"big.yaml:{err.line}: ") and "\n" not in text
    assert field in text and "out of range" in text
    assert "0xFFFFFFFF" in text if field != "interval" else "0xFFFFFFFFFFFFFFFF" in text


def test_edges_of_the_range_are_accepted() -> None:
    scenario = parse_scenario(
        textwrap.dedent(
            """\
            threads:
              main:
                - call: NtClose
                  handle: 0xFFFFFFFF
                - call: NtClose
                  handle: -1
                - call: NtClose
                  handle: -2147483648
                - call: KeDelayExecutionThread
                  interval: -9223372036854775808
            """
        ),
        "edge.yaml",
    )
    steps = scenario.threads[0].steps
    handles = [s.args[0] for s in steps[:3] if isinstance(s, CallStep)]
    assert handles == [Lit(0xFFFFFFFF), Lit(0xFFFFFFFF), Lit(0x80000000)]
    last = steps[3]
    assert isinstance(last, CallStep) and LargeInt(-(1 << 63)) in last.args


def test_run_exits_2_on_an_out_of_range_number(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from x360k.cli.main import cli

    path = tmp_path / "big.yaml"
    path.write_text(
        "name: big\nthreads:\n  main:\n    - call: NtCreateSemaphore\n"
        "      initial_count: 99999999999999999999999999\n      maximum_count: 2\n"
    )
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}:5:" in result.output and "out of range" in result.output
    assert "PASS" not in result.output
