"""What a user expects of any command line: -m, --version, completion, one-line errors, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from x360k.cli.main import COMMANDS, cli, main

SEED = Path(__file__).parents[2] / "examples" / "traces"
#: The commands these conventions are pinned for (a group added later brings its own tests).
CHECKED = ("run", "diff", "trace", "exports", "status", "cache")


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the real console entry point (not click's test runner) and capture it."""
    old = sys.argv
    sys.argv = ["x360k", *argv]
    code: object = 0
    try:
        main()
    except SystemExit as exited:
        code = exited.code
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out, err


def test_python_dash_m_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "x360k", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("x360k, version ")


def test_shell_completion_is_documented_and_works() -> None:
    ctx = click.Context(cli, info_name="x360k")
    text = cli.get_help(ctx)
    assert "_X360K_COMPLETE=bash_source x360k" in text
    env = dict(os.environ, _X360K_COMPLETE="bash_source")
    done = subprocess.run(
        [sys.executable, "-m", "x360k"], capture_output=True, text=True, env=env, check=True
    )
    assert "complete" in done.stdout and "_X360K_COMPLETE" in done.stdout


def test_help_names_the_cache_and_no_docs_file() -> None:
    """An installed package has no docs/ folder: help must not send people there."""
    top = cli.get_help(click.Context(cli, info_name="x360k"))
    assert "X360K_CACHE" in top and ".x360k-cache" in top
    seen = 0
    assert set(CHECKED) <= set(COMMANDS)
    for name in CHECKED:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        commands = [command]
        if isinstance(command, click.Group):
            commands += [command.get_command(click.Context(command), n) for n in command.commands]
        for sub in commands:
            assert sub is not None
            text = sub.get_help(click.Context(sub, info_name=sub.name))
            assert "docs/" not in text, (sub.name, text)
            seen += 1
    assert seen >= 10


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["diff", "a", "b", "--show", "-1"], "--show"),
        (["trace", "export", "t.jsonl", "--perfetto", "p.json", "--max-events", "-5"], "-5"),
        (["status", "--bogus"], "--bogus"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert err.startswith("x360k ")


def test_map_naming_missing_threads_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    ref, cand = SEED / "seed_reference_canary.txt", SEED / "seed_candidate.txt"
    code, out, err = _main(["diff", str(ref), str(cand), "--map", "99=98"], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "no thread 99" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--json", "0x1FFFFFFFFFFFFFFFFFF"],
        ["status", "--json", "NOT_A_STATUS_NAME"],
        ["trace", "show", "--json", "/nonexistent/t.jsonl"],
        ["trace", "stats", "--json", "/nonexistent/t.jsonl"],
        ["diff", "--json", "/nonexistent/a.jsonl", "/nonexistent/b.jsonl"],
        ["diff", "--json", "a", "b", "--show", "-1"],
        ["run", "--json", "--quirk", "no_such_quirk", "x.yaml"],
        ["cache", "--json", "--bogus"],
    ],
)
def test_one_error_rule_under_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Every command: one line on stderr, and under --json one JSON error object on stdout."""
    code, out, err = _main(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    report = json.loads(out)
    assert report["exit_code"] == 2 and report["error"] and report["command"].split()[0] == argv[0]
    assert report["error"] in err


def test_status_out_of_range_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(["status", "0x1FFFFFFFFFFFFFFFFFF"], capsys)
    assert code == 2 and out == "" and "out of range" in err and "0xFFFFFFFF" in err
    code, out, _ = _main(["status", "--json", "--", "0xFFFFFFFFC0000008", "-1", "0x102"], capsys)
    assert code == 0
    assert [a["hex"] for a in json.loads(out)] == ["0xC0000008", "0xFFFFFFFF", "0x00000102"]
    code, _, err = _main(["status", "0x1C0000008"], capsys)
    assert code == 2 and "out of range" in err


def test_every_result_printing_command_has_json() -> None:
    for name in CHECKED:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        leaves = (
            [command.get_command(click.Context(command), n) for n in command.commands]
            if isinstance(command, click.Group)
            else [command]
        )
        for leaf in leaves:
            assert leaf is not None
            assert any("--json" in p.opts for p in leaf.params), leaf.name
