"""The cache directory: bounded by size, least recently used out first, visible, clearable."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from benchmarks.gen_trace import generate
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace import cache_store
from x360k.trace.cache import load

HASH = "0123456789abcdef0123456789abcdef"


def _entry(directory: Path, n: int, size: int, age: float) -> Path:
    path = directory / f"v1-{HASH[:-2]}{n:02d}.arrow"
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_eviction_removes_least_recently_used_first(tmp_path: Path) -> None:
    old = _entry(tmp_path, 1, 100, age=300)
    middle = _entry(tmp_path, 2, 100, age=200)
    new = _entry(tmp_path, 3, 100, age=100)
    other = tmp_path / "notes.txt"
    other.write_bytes(b"y" * 1000)
    cache_store.touch(old)  # a hit makes the oldest the most recent
    removed = cache_store.evict(tmp_path, 200, keep=new)
    assert [e.path for e in removed] == [middle]
    assert old.exists() and new.exists() and other.exists()
    removed = cache_store.evict(tmp_path, 50, keep=new)
    assert [e.path for e in removed] == [old]
    assert new.exists(), "the entry just written is never evicted"


def test_load_keeps_the_cache_under_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    traces = [generate(2000, seed, tmp_path / f"t{seed}.jsonl", "jsonl") for seed in (1, 2, 3)]
    load(traces[0], cache_dir=cache)
    one = cache_store.entries(cache)[0].size
    monkeypatch.setenv(cache_store.SIZE_ENV, str(int(one * 2.5)))
    for trace in traces[1:]:
        load(trace, cache_dir=cache)
    left = cache_store.entries(cache)
    assert len(left) == 2 and sum(e.size for e in left) <= one * 2.5
    assert load(traces[2], cache_dir=cache).from_cache
    assert not load(traces[0], cache_dir=cache).from_cache  # evicted first, being oldest


def test_parse_size() -> None:
    assert cache_store.parse_size("2G") == 2 << 30
    assert cache_store.parse_size("500M") == 500 << 20
    assert cache_store.parse_size("1024") == 1024
    with pytest.raises(ValueError, match="not a size"):
        cache_store.parse_size("lots")


def test_cache_command_shows_and_clears(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    runner = CliRunner(env={"X360K_CACHE": str(cache), "X360K_CACHE_SIZE": "1G"})
    trace = generate(1000, 1, tmp_path / "t.jsonl", "jsonl")
    assert runner.invoke(cli, ["trace", "sql", "select 1", str(trace)]).exit_code == 0
    (cache / "keep-me.txt").write_text("not ours")
    shown = runner.invoke(cli, ["cache", "--json", "--list"])
    assert shown.exit_code == 0
    report = json.loads(shown.output)
    assert report["directory"] == str(cache) and report["entries"] == 1
    assert report["bytes"] > 0 and report["limit_bytes"] == 1 << 30
    assert report["listing"][0]["name"].startswith("v1r2-")
    text = runner.invoke(cli, ["cache"]).output
    assert str(cache) in text and "1 entries" in text
    cleared = json.loads(runner.invoke(cli, ["cache", "--clear", "--json"]).output)
    assert cleared["cleared"] == 1 and cleared["entries"] == 0 and cleared["freed_bytes"] > 0
    assert (cache / "keep-me.txt").exists()


def test_bad_size_bound_is_an_error(tmp_path: Path) -> None:
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path), "X360K_CACHE_SIZE": "lots"})
    result = runner.invoke(cli, ["cache"])
    assert result.exit_code == 2 and "X360K_CACHE_SIZE" in result.output
