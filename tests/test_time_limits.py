"""Extreme guest timeouts: the clock and every trace field stay inside int64, in every writer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.threadkit import Prog, World, wait1
from x360k.clock import CLOCK_MAX, SYSTEM_TIME_BASE
from x360k.quirks import PROFILES, Profile
from x360k.trace.arrow_writer import ArrowStreamWriter
from x360k.trace.columns import events_to_batch
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.parquet_writer import write_parquet
from x360k.trace.readers import open_trace

INT64_MAX = (1 << 63) - 1
#: Timeouts a hostile title might pass (LARGE_INTEGER values, 100 ns units).
EXTREMES = [-(1 << 63), -(1 << 63) + 1, -1, INT64_MAX, INT64_MAX - SYSTEM_TIME_BASE + 1, 1 << 62]


def _run_extremes(profile: Profile, value: int) -> World:
    w = World(profile)
    ev = w.event()
    tm = w.timer()

    def sleeper() -> Prog:
        yield ("KeDelayExecutionThread", (1, 0, w.li(value)))
        yield wait1(ev, timeout=w.li(value))
        yield ("NtSetTimerEx", (tm, w.li(value), 0, 0, 0, 0, 1, 0))
        yield wait1(tm)
        yield ("NtSetTimerEx", (tm, w.li(value), 0, 0, 0, 0, 1, 0x7FFFFFFF))
        yield wait1(tm, timeout=w.li(value))
        yield ("KeQuerySystemTime", (w.out(),))
        return 0

    w.spawn(sleeper())
    w.run(max_calls=200)
    return w


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("value", EXTREMES, ids=hex)
def test_the_clock_stays_in_range(profile: Profile, value: int) -> None:
    w = _run_extremes(profile, value)
    assert 0 <= w.k.clock <= CLOCK_MAX + 10_000
    assert SYSTEM_TIME_BASE + w.k.clock <= INT64_MAX
    for e in w.rec.events:
        assert e.ts is None or 0 <= e.ts <= INT64_MAX


@pytest.mark.parametrize("profile", PROFILES)
def test_every_writer_takes_the_trace(profile: Profile, tmp_path: Path) -> None:
    w = _run_extremes(profile, -(1 << 63))
    events = w.rec.events
    with JsonlWriter(tmp_path / "t.jsonl") as jw:
        for e in events:
            jw.record(e)
    with ArrowStreamWriter(tmp_path / "t.arrows") as aw:
        for e in events:
            aw.record(e)
    write_parquet(pa.Table.from_batches([events_to_batch(events)]), tmp_path / "t.parquet")
    for name in ("t.jsonl", "t.arrows", "t.parquet"):
        got = list(open_trace(tmp_path / name).events())
        assert len(got) == len(events)
        assert max(e.ts or 0 for e in got) == max(e.ts or 0 for e in events)


def test_a_periodic_timer_stops_at_the_end_of_time() -> None:
    w = World("console")
    tm = w.timer()
    # Due near the end of time, every 2**31 ms: the next period would pass CLOCK_MAX.
    w.k.call("NtSetTimerEx", tm, w.li(-(CLOCK_MAX - 10)), 0, 0, 0, 0, 1, 0x7FFFFFFF)

    def waiter() -> Prog:
        for _ in range(3):
            yield wait1(tm)
        return 0

    w.spawn(waiter())
    result = w.run(max_calls=100)
    assert w.k.clock <= CLOCK_MAX + 10_000
    assert result.outcome in ("wedge", "finished", "limit")
