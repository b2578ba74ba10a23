"""``trace convert`` never writes over its input, picks the format from the suffix or refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from benchmarks.gen_trace import generate
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace import cache as cache_module
from x360k.trace.cache import convert
from x360k.trace.errors import TraceFormatError
from x360k.trace.readers import open_trace, sniff_format


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})


def test_same_path_is_refused_and_the_input_kept(tmp_path: Path, runner: CliRunner) -> None:
    source = generate(500, 1, tmp_path / "good.jsonl", "jsonl")
    before = source.read_bytes()
    result = runner.invoke(cli, ["trace", "convert", str(source), str(source)])
    assert result.exit_code == 2 and "is the input" in result.output
    link = tmp_path / "alias.jsonl"
    os.link(source, link)
    result = runner.invoke(cli, ["trace", "convert", str(source), str(link), "--to", "jsonl"])
    assert result.exit_code == 2 and "is the input" in result.output
    assert source.read_bytes() == before


@pytest.mark.parametrize("name", ["o.csv", "o", "o.txt"])
def test_unknown_suffix_is_refused(tmp_path: Path, runner: CliRunner, name: str) -> None:
    source = generate(100, 1, tmp_path / "t.jsonl", "jsonl")
    result = runner.invoke(cli, ["trace", "convert", str(source), str(tmp_path / name)])
    assert result.exit_code == 2 and "--to" in result.output
    assert not (tmp_path / name).exists()


def test_suffix_and_to_that_disagree_are_refused(tmp_path: Path) -> None:
    source = generate(100, 1, tmp_path / "t.jsonl", "jsonl")
    with pytest.raises(TraceFormatError, match="means jsonl"):
        convert(source, tmp_path / "o.jsonl", fmt="parquet")


@pytest.mark.parametrize(
    ("name", "fmt", "sniffed"),
    [
        ("o.parquet", None, "parquet"),
        ("o.arrow", None, "arrow-file"),
        ("o.jsonl", None, "jsonl"),
        ("o.data", "parquet", "parquet"),
        ("o.out", "jsonl", "jsonl"),
    ],
)
def test_each_format_round_trips(tmp_path: Path, name: str, fmt: str | None, sniffed: str) -> None:
    source = generate(800, 2, tmp_path / "t.jsonl", "jsonl")
    target = tmp_path / name
    result = convert(source, target, fmt=fmt, cache_dir=tmp_path / "cache")
    assert result.rows == 800 and not result.skipped
    assert sniff_format(target) == sniffed
    key = lambda e: (e.tid, e.idx)  # noqa: E731
    assert sorted(open_trace(target, fmt=sniffed).events(), key=key) == sorted(
        open_trace(source).events(), key=key
    )
    header = open_trace(target, fmt=sniffed).header
    assert header is not None and header.emulator == "x360k-synthetic"


def test_jsonl_output_through_the_cli_with_json(tmp_path: Path, runner: CliRunner) -> None:
    source = generate(300, 4, tmp_path / "t.parquet", "parquet")
    target = tmp_path / "back.jsonl"
    result = runner.invoke(cli, ["trace", "convert", "--json", str(source), str(target)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {"path": str(target), "format": "jsonl", "events": 300, "state": "written"}


def test_a_failed_write_names_the_target_not_a_temporary_file(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = generate(100, 1, tmp_path / "t.jsonl", "jsonl")
    target = tmp_path / "o.parquet"
    target.write_bytes(b"previous contents")

    def full_disk(table: object, path: Path) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(cache_module, "write_parquet", full_disk)
    result = runner.invoke(cli, ["trace", "convert", str(source), str(target)])
    assert result.exit_code == 2
    assert result.output.strip() == (f"x360k trace convert: {target}: No space left on device")
    assert ".tmp" not in result.output
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
