"""``trace show``: hints for unknown exports and guest binaries; --json is schema v1."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace.event import TraceEvent
from x360k.trace.jsonl_writer import JsonlWriter


def _trace(path: Path) -> Path:
    with JsonlWriter(path) as writer:
        writer.record(TraceEvent(tid=0, idx=0, kind="kernel.call", name="NtClose", args=["0x1"]))
        writer.record(TraceEvent(tid=0, idx=1, kind="kernel.return", name="NtClose", status=0))
        writer.record(TraceEvent(tid=0, idx=2, kind="kernel.call", name="XamShowSomething"))
    return path


def test_unknown_export_gets_did_you_mean(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.jsonl")
    result = CliRunner().invoke(cli, ["trace", "show", str(path), "--export", "NtCloze"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"x360k trace show: --export NtCloze: no such export, and no event in {path} names it; "
        "did you mean NtClose?"
    )


def test_a_name_only_the_trace_knows_is_fine(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.jsonl")
    result = CliRunner().invoke(cli, ["trace", "show", str(path), "--export", "XamShowSomething"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["[2] kernel.call XamShowSomething tid=0"]


def test_json_lines_are_schema_v1_events(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.jsonl")
    result = CliRunner().invoke(cli, ["trace", "show", "--json", str(path), "--export", "NtClose"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows == [
        {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "args": ["0x1"]},
        {"tid": 0, "idx": 1, "kind": "kernel.return", "name": "NtClose", "status": 0},
    ]


def test_an_elf_passed_as_a_trace_is_named_a_guest_binary(tmp_path: Path) -> None:
    elf = tmp_path / "game.bin"
    elf.write_bytes(b"\x7fELF\x01\x02\x01" + bytes(200))
    for command in (["trace", "show"], ["trace", "stats"]):
        result = CliRunner().invoke(cli, [*command, str(elf)])
        assert result.exit_code == 2
        line = result.output.strip()
        assert "\n" not in line and str(elf) in line
        assert "ELF executable" in line and "x360k run" in line


def test_an_xex_passed_as_a_trace_is_named_a_guest_binary(tmp_path: Path) -> None:
    xex = tmp_path / "default.bin"
    xex.write_bytes(b"XEX2" + bytes(100))
    result = CliRunner().invoke(cli, ["trace", "stats", str(xex)])
    assert result.exit_code == 2
    assert "XEX2 executable" in result.output and "x360k xex info" in result.output
    ran = CliRunner().invoke(cli, ["run", str(xex)])
    assert ran.exit_code == 2 and "YAML" not in ran.output
    assert "header" in ran.output  # the XEX2 reader answered, not the scenario loader


def test_an_empty_or_inverted_range_is_an_error_not_an_empty_listing(tmp_path: Path) -> None:
    path = _trace(tmp_path / "t.jsonl")
    runner = CliRunner()
    for span in ("5:2", "3:3", "-1:4"):
        res = runner.invoke(cli, ["trace", "show", str(path), "--range", span])
        assert res.exit_code == 2, (span, res.output)
        assert "Invalid value for --range" in res.stderr and "B must be above A" in res.stderr
    assert runner.invoke(cli, ["trace", "show", str(path), "--range", "0:1"]).exit_code == 0
