"""The x360k trace commands, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.gen_trace import generate
from click.testing import CliRunner

from x360k.cli.main import cli


def test_commands_on_a_small_trace(tmp_path: Path, monkeypatch: object) -> None:
    path = generate(2000, 3, tmp_path / "t.jsonl", "jsonl")
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    shown = runner.invoke(cli, ["trace", "show", str(path), "--tid", "1", "--range", "0:3"])
    assert shown.exit_code == 0, shown.output
    assert [line.split()[0] for line in shown.output.splitlines()] == ["[0]", "[1]", "[2]"]
    stats = runner.invoke(cli, ["trace", "stats", "--json", str(path)])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["events"] == 2000
    sql = runner.invoke(cli, ["trace", "sql", "select count(*) as n from events", str(path)])
    assert sql.exit_code == 0 and sql.output.splitlines() == ["n", "2000"]
    out = tmp_path / "t.parquet"
    converted = runner.invoke(cli, ["trace", "convert", str(path), str(out)])
    assert converted.exit_code == 0 and "written" in converted.output
    again = runner.invoke(cli, ["trace", "convert", str(path), str(out)])
    assert "up to date" in again.output
    perfetto = runner.invoke(
        cli, ["trace", "export", str(out), "--perfetto", str(tmp_path / "p.json")]
    )
    assert perfetto.exit_code == 0
    assert json.loads((tmp_path / "p.json").read_text())["traceEvents"]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tid": 0, "idx": 0, "kind": "marker"}\n{"tid": 0}\n')
    result = CliRunner().invoke(cli, ["trace", "show", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"x360k trace show: {bad}:2: not a trace event: Object missing required field `idx`"
    )


def test_sql_and_export_print_json(tmp_path: Path) -> None:
    path = generate(500, 2, tmp_path / "t.jsonl", "jsonl")
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    sql = runner.invoke(
        cli,
        [
            "trace",
            "sql",
            "--json",
            "select tid, count(*) as n from events group by tid order by tid",
            str(path),
        ],
    )
    assert sql.exit_code == 0, sql.output
    rows = [json.loads(line) for line in sql.output.splitlines()]
    assert sum(r["n"] for r in rows) == 500 and [r["tid"] for r in rows] == sorted(
        r["tid"] for r in rows
    )
    out = tmp_path / "p.pftrace"
    exported = runner.invoke(cli, ["trace", "export", "--json", str(path), "--perfetto", str(out)])
    assert exported.exit_code == 0, exported.output
    report = json.loads(exported.output)
    assert report["path"] == str(out) and report["fmt"] == "proto"
    assert report["source_events"] == 500 and out.stat().st_size > 0
    same = runner.invoke(cli, ["trace", "export", str(path), "--perfetto", str(tmp_path / "p.csv")])
    assert same.exit_code == 2 and ".pftrace" in same.output


def test_run_takes_an_elf_under_any_name(tmp_path: Path) -> None:
    elf = tmp_path / "game.bin"
    elf.write_bytes(b"\x7fELF\x01\x02\x01" + bytes(200))
    result = CliRunner().invoke(cli, ["run", str(elf)])
    assert result.exit_code == 2
    assert "ELF" in result.output and "YAML" not in result.output
