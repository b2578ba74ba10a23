"""The parsed form of a scenario file: what the loader produces and the runner executes.

Every value the YAML spells in readable form (durations, status names,
object names, handle names) is already decoded here into what the runner
needs to build guest memory, so a scenario that loads can only fail at run
time for reasons the file cannot show statically (a name bound by another
thread that has not run yet). Every step and expectation keeps its line.

Expected values that differ between the two profiles are stored per profile:
a dict whose key ``"*"`` applies to every profile, or ``"canary"`` /
``"console"`` to one; :func:`for_profile` picks.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import msgspec

T = TypeVar("T")

#: Key of a per-profile dict that applies to every profile.
ANY_PROFILE = "*"


def for_profile(values: dict[str, T], profile: str) -> T | None:
    """The value for ``profile`` from a per-profile dict (None when it sets none)."""
    if profile in values:
        return values[profile]
    return values.get(ANY_PROFILE)


# -- argument specifications: how the runner builds one argument --------------------------------


class Lit(msgspec.Struct, frozen=True, tag="lit"):
    """A plain 32-bit value (numbers, constants, pseudo-handles, null pointers)."""

    value: int


class Ref(msgspec.Struct, frozen=True, tag="ref"):
    """The value bound to a name by an earlier ``out``."""

    name: str
    line: int


class OutSlot(msgspec.Struct, frozen=True, tag="out"):
    """A zeroed u32 in guest memory the kernel writes; ``bind`` names the value after the call."""

    bind: str | None


class Attrs(msgspec.Struct, frozen=True, tag="attrs"):
    """An OBJECT_ATTRIBUTES with an ANSI object name (None: no name)."""

    name: str | None
    root: Lit | Ref
    attributes: int


class Ansi(msgspec.Struct, frozen=True, tag="ansi"):
    """An ANSI_STRING holding ``text``."""

    text: str


class LargeInt(msgspec.Struct, frozen=True, tag="large"):
    """A LARGE_INTEGER in guest memory (negative: relative 100 ns units; positive: absolute)."""

    value: int


class HandleArray(msgspec.Struct, frozen=True, tag="handles"):
    """An array of u32 values (handles or object pointers) in guest memory."""

    items: list[Lit | Ref | SelfKThread]


class Buffer(msgspec.Struct, frozen=True, tag="buffer"):
    """Zeroed guest memory of ``size`` bytes, starting with ``data``."""

    size: int
    data: bytes = b""


class Routine(msgspec.Struct, frozen=True, tag="routine"):
    """The code address of another thread program of the scenario."""

    thread: str


class DataExport(msgspec.Struct, frozen=True, tag="data"):
    """The address of a kernel data export (ExEventObjectType...)."""

    name: str


class SelfKThread(msgspec.Struct, frozen=True, tag="kthread"):
    """The calling thread's KTHREAD pointer."""


ArgSpec = (
    Lit | Ref | OutSlot | Attrs | Ansi | LargeInt | HandleArray | Buffer | Routine | DataExport
) | SelfKThread


# -- steps ----------------------------------------------------------------------------------------


class Expected(msgspec.Struct, frozen=True):
    """Acceptable values (any of them), or the binding names whose values are acceptable."""

    values: list[int]
    refs: list[str] = msgspec.field(default_factory=list)


class CallStep(msgspec.Struct, frozen=True, tag="call"):
    """One export call: arguments in the export's parameter order."""

    export: str
    line: int
    args: list[ArgSpec]
    #: out parameter name -> binding name (only bound ones).
    binds: dict[str, str]
    returns: str
    #: profile -> acceptable r3 values.
    expect: dict[str, Expected] = msgspec.field(default_factory=dict)
    expect_line: int = 0
    #: profile -> {binding or out parameter name -> acceptable values}.
    expect_out: dict[str, dict[str, Expected]] = msgspec.field(default_factory=dict)
    expect_out_line: int = 0


class RepeatStep(msgspec.Struct, frozen=True, tag="repeat"):
    """``steps`` run ``count`` times in a row."""

    count: int
    line: int
    steps: list[CallStep | RepeatStep]


Step = CallStep | RepeatStep


class ThreadProgram(msgspec.Struct, frozen=True):
    """A named list of steps: the main thread's, or a start routine other steps name."""

    name: str
    line: int
    steps: list[Step]


# -- run expectations -----------------------------------------------------------------------------


class EventPattern(msgspec.Struct, frozen=True):
    """Fields an event must have (``kind`` always); int fields may name a binding."""

    text: str
    kind: str
    fields: dict[str, str | int]


class TraceExpect(msgspec.Struct, frozen=True):
    """A run of consecutive events that must (or must not) appear in one thread's stream."""

    line: int
    #: a thread program name (any thread running it) or a thread ordinal.
    thread: str | int
    fragment: list[EventPattern]
    absent: bool = False


Outcome = Literal["finished", "wedge", "limit"]


class RunExpect(msgspec.Struct, frozen=True):
    outcome: dict[str, Outcome] = msgspec.field(default_factory=dict)
    outcome_line: int = 0
    objects_alive: dict[str, int] = msgspec.field(default_factory=dict)
    objects_alive_line: int = 0
    trace: dict[str, list[TraceExpect]] = msgspec.field(default_factory=dict)


class Scenario(msgspec.Struct, frozen=True):
    """A loaded scenario file."""

    file: str
    name: str
    description: str
    profiles: list[str]
    quirks: dict[str, bool]
    threads: list[ThreadProgram]
    expect: RunExpect
    max_calls: int | None = None
    max_time: int | None = None
    wait_events: bool = False
    warnings: list[str] = msgspec.field(default_factory=list)

    @property
    def main(self) -> ThreadProgram:
        return self.threads[0]
