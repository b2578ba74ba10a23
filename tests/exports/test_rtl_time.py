"""RtlTimeToTimeFields / RtlTimeFieldsToTime under both profiles."""

from __future__ import annotations

import datetime as dt
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.exports.rtl_time import TimeFields, fields_to_time, time_to_fields
from x360k.kernel import Kernel
from x360k.quirks import PROFILES

EPOCH = dt.datetime(1601, 1, 1)


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_time_to_fields_in_guest_memory(k: Kernel) -> None:
    time = k.memory.alloc(8, 8)
    out = k.memory.alloc(16, 2)
    # 2009-06-15 13:45:30.250, a Monday.
    k.memory.write_u64(time, 128895471302500000)
    k.call("RtlTimeToTimeFields", time, out)
    assert struct.unpack(">8H", k.memory.read_bytes(out, 16)) == (2009, 6, 15, 13, 45, 30, 250, 1)
    back = k.memory.alloc(8, 8)
    assert k.call("RtlTimeFieldsToTime", out, back) == 1
    assert k.memory.read_u64(back) == 128895471302500000


@pytest.mark.parametrize(
    "bad",
    [
        (1600, 12, 31, 0, 0, 0, 0, 0),
        (2001, 2, 29, 0, 0, 0, 0, 0),
        (2000, 13, 1, 0, 0, 0, 0, 0),
        (2000, 1, 1, 24, 0, 0, 0, 0),
        (2000, 1, 1, 0, 0, 0, 1000, 0),
    ],
)
def test_invalid_fields_are_refused_and_nothing_written(k: Kernel, bad: tuple[int, ...]) -> None:
    fields = k.memory.alloc(16, 2)
    k.memory.write_bytes(fields, struct.pack(">8H", *bad))
    out = k.memory.alloc(8, 8)
    k.memory.write_u64(out, 0x1234)
    assert k.call("RtlTimeFieldsToTime", fields, out) == 0
    assert k.memory.read_u64(out) == 0x1234


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=EPOCH, max_value=dt.datetime(9999, 12, 31)))
def test_fields_agree_with_datetime_and_round_trip(when: dt.datetime) -> None:
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    ticks = (when - EPOCH) // dt.timedelta(microseconds=1) * 10
    f = time_to_fields(ticks)
    weekday = (when.weekday() + 1) % 7
    assert f == TimeFields(
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        when.microsecond // 1000,
        weekday,
    )
    assert fields_to_time(f) == ticks


def test_times_past_datetime_range() -> None:
    f = time_to_fields(0x7FFFFFFFFFFFFFFF)
    assert f.year == 30828
    assert fields_to_time(f) == 0x7FFFFFFFFFFFFFFF // 10_000 * 10_000
