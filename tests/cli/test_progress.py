"""The late progress bar: nothing for short work or off a terminal, a bar once work runs long."""

from __future__ import annotations

from x360k.cli.progress import LateBar


def test_no_bar_when_disabled_or_quick() -> None:
    off = LateBar("x", 10, enabled=False, after=0.0)
    off.update(5)
    assert off.progress is None
    quick = LateBar("x", 10, enabled=True, after=3600.0)
    quick.update(5)
    assert quick.progress is None


def test_bar_appears_after_the_delay_and_tracks_work() -> None:
    bar = LateBar("stats t.parquet", 100, enabled=True, after=0.0)
    bar.update(40)
    assert bar.progress is not None
    task = bar.progress.tasks[0]
    assert task.completed == 40 and task.total == 100
    assert task.description == "stats t.parquet"
    bar.stop()
    assert bar.progress is None
