"""Rtl time exports: a 64-bit system time (100 ns since 1601-01-01) to and from TIME_FIELDS.

TIME_FIELDS is eight big-endian u16: Year, Month, Day, Hour, Minute, Second,
Milliseconds, Weekday (0 = Sunday). The calendar is the proleptic Gregorian
one NT uses, computed with integer arithmetic over the whole 64-bit range
(Python's ``datetime`` stops at year 9999; a title's time need not).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final, NamedTuple

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl time")

TICKS_PER_MS: Final = 10_000
MS_PER_DAY: Final = 86_400_000
#: Days from 0000-03-01 (the civil-date algorithm's epoch) to 1601-01-01.
_EPOCH_SHIFT: Final = 584_694
_FIELDS = struct.Struct(">8H")
TIME_FIELDS_SIZE: Final = _FIELDS.size


class TimeFields(NamedTuple):
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    milliseconds: int
    weekday: int


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 0000-03-01 (H. Hinnant's algorithm)."""
    era, doe = divmod(days, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era, yoe = divmod(year, 400)
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def time_to_fields(time: int) -> TimeFields:
    """The calendar fields of an unsigned 64-bit system time."""
    days, ms = divmod(time // TICKS_PER_MS, MS_PER_DAY)
    year, month, day = _civil_from_days(days + _EPOCH_SHIFT)
    seconds, millis = divmod(ms, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return TimeFields(year, month, day, hour, minute, second, millis, (days + 1) % 7)


def fields_to_time(f: TimeFields) -> int | None:
    """The system time of valid fields (the weekday is ignored); None if they are not valid."""
    if f.year < 1601 or not 1 <= f.month <= 12 or f.day < 1:
        return None
    if f.day > _days_in_month(f.year, f.month):
        return None
    if f.hour > 23 or f.minute > 59 or f.second > 59 or f.milliseconds > 999:
        return None
    days = _days_from_civil(f.year, f.month, f.day) - _EPOCH_SHIFT
    ms = ((f.hour * 60 + f.minute) * 60 + f.second) * 1000 + f.milliseconds
    time = (days * MS_PER_DAY + ms) * TICKS_PER_MS
    return time if time < 1 << 63 else None


@GROUP.export(
    "RtlTimeToTimeFields",
    0x140,
    Param("time", K.LARGE_INTEGER),
    Param("time_fields", K.PTR),
    returns=Returns.VOID,
)
def rtl_time_to_time_fields(k: KernelState, t: Thread, time_ptr: int, fields_ptr: int) -> int:
    """Split a system time into TIME_FIELDS (years past 65535 keep their low 16 bits)."""
    mem = k.memory
    fields = time_to_fields(mem.read_u64(time_ptr))
    mem.write_bytes(fields_ptr, _FIELDS.pack(*(v & 0xFFFF for v in fields)))
    return 0


@GROUP.export(
    "RtlTimeFieldsToTime",
    0x13F,
    Param("time_fields", K.PTR),
    Param("time", K.PTR),
    returns=Returns.VALUE,
)
def rtl_time_fields_to_time(k: KernelState, t: Thread, fields_ptr: int, time_ptr: int) -> int:
    """TRUE and the system time of valid TIME_FIELDS; FALSE (nothing written) otherwise."""
    mem = k.memory
    fields = TimeFields(*_FIELDS.unpack(mem.read_bytes(fields_ptr, TIME_FIELDS_SIZE)))
    time = fields_to_time(fields)
    if time is None:
        return 0
    mem.write_u64(time_ptr, time)
    return 1
