"""Readable spellings a scenario may use, and what they mean to the kernel.

Scenario authors write ``100ms`` for a timeout, ``notification`` for an
event type and ``current_thread`` for a pseudo-handle; these tables and
parsers turn them into the numbers the exports take. They are data, kept in
one place so ``docs/scenarios.md`` can describe them exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from x360k.handles import CURRENT_PROCESS, CURRENT_THREAD

#: 100 ns ticks per unit.
UNITS: Final[dict[str, Decimal]] = {
    "ns": Decimal("0.01"),
    "us": Decimal(10),
    "µs": Decimal(10),
    "ms": Decimal(10_000),
    "s": Decimal(10_000_000),
    "min": Decimal(600_000_000),
    "tick": Decimal(1),
    "ticks": Decimal(1),
}
_DURATION: Final = re.compile(r"([+-]?)\s*(\d+(?:\.\d+)?)\s*([a-zµ]+)")
IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Pseudo-handle names accepted wherever an export takes a handle.
PSEUDO_HANDLES: Final[dict[str, int]] = {
    "current_thread": CURRENT_THREAD,
    "current_process": CURRENT_PROCESS,
}

#: Words that mean "no timeout": the runner passes a null LARGE_INTEGER*.
INFINITE_WORDS: Final = frozenset({"infinite", "forever", "none"})

#: Symbolic values for parameters, by parameter name. A list of names ORs them (flags).
CONSTANTS: Final[dict[str, dict[str, int]]] = {
    "event_type": {"notification": 0, "synchronization": 1},
    "timer_type": {"notification": 0, "synchronization": 1},
    "wait_type": {"all": 0, "any": 1},
    "wait_mode": {"kernel": 0, "user": 1},
    "options": {"close_source": 1, "same_access": 2},
    "creation_flags": {"suspended": 0x1, "return_kthread": 0x80},
}

#: Arguments a scenario may leave out, with the value the runner then passes. Every other
#: non-optional argument must be given (out parameters are always allocated when left out).
DEFAULTS: Final[dict[str, int]] = {
    "wait_mode": 0,
    "alertable": 0,
    "unknown": 0,
    "stack_size": 0,
    "creation_flags": 0,
    "start_context": 0,
    "apc_context": 0,
    "apc_mode": 0,
    "resume": 0,
    "period_ms": 0,
    "options": 0,
    "parse_context": 0,
    "argument1": 0,
    "argument2": 0,
    "attributes": 0,
}

#: Object-attribute flags (OBJECT_ATTRIBUTES.Attributes).
OBJ_OPENIF: Final = 0x80
OBJ_CASE_INSENSITIVE: Final = 0x40


def parse_duration(text: str) -> int:
    """``100ms`` -> 1_000_000 ticks (100 ns units); the sign is ignored by the caller's choice.

    Returns a signed tick count; raises ``ValueError`` with a readable reason.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 100ms, 2s, 50us or 10ticks")
    sign, number, unit = match.groups()
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r} in {text!r}; use one of ns, us, ms, s, min, ticks")
    try:
        ticks = Decimal(number) * UNITS[unit]
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number of {unit}") from None
    if ticks != ticks.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of 100 ns ticks")
    value = int(ticks)
    return -value if sign == "-" else value


def parse_int_text(text: str) -> int | None:
    """A number written as text (``0x10``, ``-1``, ``1_000``), or None."""
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


#: The numbers a 32-bit guest word accepts: unsigned up to 0xFFFFFFFF, or negative down to
#: -0x80000000 (two's complement, so ``-1`` means 0xFFFFFFFF as guest code writes it).
WORD_RANGE: Final = (-(1 << 31), (1 << 32) - 1)
#: The numbers a LARGE_INTEGER accepts (signed 64-bit; unsigned spellings up to 2**64 - 1).
LARGE_RANGE: Final = (-(1 << 63), (1 << 64) - 1)


def in_range(number: int, bounds: tuple[int, int], what: str) -> int:
    """``number`` unchanged when it fits ``bounds``; else ValueError naming the range.

    A number too big for its field is never cut to fit: the scenario would run
    with a value its author did not write and could still PASS.
    """
    low, high = bounds
    if low <= number <= high:
        return number
    return _out_of_range(number, bounds, what)


def _out_of_range(number: int, bounds: tuple[int, int], what: str) -> int:
    low, high = bounds
    shown = (
        str(number)
        if abs(number) < 1 << 70
        else f"{hex(number)[:12]}... ({number.bit_length()} bits)"
    )
    raise ValueError(
        f"{what}: {shown} is out of range ({low} .. {high}, i.e. -0x{-low:X} .. 0x{high:X})"
    )


def word(number: int, what: str) -> int:
    """A 32-bit guest word for ``number`` (negative numbers in two's complement)."""
    return in_range(number, WORD_RANGE, what) & 0xFFFFFFFF
