"""Stats on a synthetic trace agree with counts computed here independently."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from benchmarks.gen_trace import generate, generate_table

from x360k.trace.cache import convert
from x360k.trace.columns import batch_to_events
from x360k.trace.stats import compute_stats


def test_counts_match_independent_computation() -> None:
    events = list(batch_to_events(generate_table(5000, 7)))
    stats = compute_stats(events)
    assert stats.events == len(events)
    assert stats.kinds == Counter(e.kind for e in events)
    assert stats.exports == Counter(e.name for e in events if e.kind == "kernel.call")
    assert {t.tid: t.events for t in stats.threads} == Counter(e.tid for e in events)
    created = {e.sid for e in events if e.kind == "handle.create"}
    destroyed = {e.sid for e in events if e.kind == "handle.destroy"}
    leaked = created - destroyed
    assert {h.sid for h in stats.leaked} == leaked
    assert leaked, "the synthetic trace should leave some handles open"
    assert stats.handles_created == len(created)
    for handle in stats.leaked:
        prior = [
            e
            for e in events
            if e.tid == handle.tid and e.idx < handle.idx and e.kind == "kernel.call"
        ]
        assert handle.created_by == prior[-1].name
    exits = {e.tid: e.idx for e in events if e.kind == "thread.exit"}
    assert {t.tid: t.exited_at for t in stats.threads if t.exited_at is not None} == exits


def test_batch_path_gives_the_same_answer_on_every_format(tmp_path: Path) -> None:
    """The path ``trace stats`` runs (batches; a column subset on Parquet) equals the event path."""
    from x360k.trace.parquet_reader import ParquetReader
    from x360k.trace.readers import open_trace
    from x360k.trace.stats import STATS_COLUMNS, compute_stats_batches

    jsonl = generate(6000, 3, tmp_path / "t.jsonl", "jsonl")
    expected = compute_stats(open_trace(jsonl).events())
    parquet = tmp_path / "t.parquet"
    convert(jsonl, parquet, cache_dir=tmp_path / "cache")
    for path in (jsonl, parquet):
        done: list[int] = []
        reader = open_trace(path)
        batches = (
            reader.batches(300, columns=STATS_COLUMNS)
            if isinstance(reader, ParquetReader)
            else reader.batches(300)
        )
        got = compute_stats_batches(batches, progress=done.append)
        if path == parquet:
            # Parquet is sorted by (tid, idx): same events, so the same counts and lives;
            # handle matching follows file order, which is the sorted order here.
            assert got == compute_stats(open_trace(parquet).events())
            assert got.kinds == expected.kinds and got.exports == expected.exports
            assert got.threads == expected.threads
        else:
            assert got == expected
        assert done == sorted(done) and done[-1] == 6000


def test_stats_cli_reads_parquet_and_jsonl_alike(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from x360k.cli.main import cli

    jsonl = generate(3000, 5, tmp_path / "t.jsonl", "jsonl")
    parquet = tmp_path / "t.parquet"
    convert(jsonl, parquet, cache_dir=tmp_path / "cache")
    runner = CliRunner()
    a = runner.invoke(cli, ["trace", "stats", "--json", str(jsonl)])
    b = runner.invoke(cli, ["trace", "stats", "--json", str(parquet)])
    assert a.exit_code == b.exit_code == 0
    left, right = json.loads(a.output), json.loads(b.output)
    for key in ("events", "kinds", "exports", "threads", "handles_created"):
        assert left[key] == right[key], key
