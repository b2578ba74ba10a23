"""A small kit for scheduler tests: a traced kernel, guest scratch memory, scripted threads.

Scripted thread programs are generators yielding ``(export, args)`` and
receiving r3; the kit gives them pointers to write handles into, LARGE_INTEGER
timeouts, and a log (``World.log``) that programs append observations to.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import msgspec

from x360k.kernel import Kernel, RunResult
from x360k.objects.thread import Thread
from x360k.quirks import Profile
from x360k.trace.recorder import MemoryRecorder

Prog = Generator[tuple[str | int, tuple[int, ...]], int, int | None]


class World:
    """One kernel under a profile, with helpers to build objects and run threads."""

    def __init__(self, profile: Profile, *, wait_events: bool = False, **quirks: bool) -> None:
        self.profile = profile
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, quirks=quirks, recorder=self.rec, wait_events=wait_events)
        self.m = self.k.memory
        self.log: list[Any] = []

    # -- guest memory ---------------------------------------------------------------------

    def out(self) -> int:
        ptr = self.m.alloc(8, 8)
        self.m.write_u32(ptr, 0xCCCCCCCC)
        self.m.write_u32(ptr + 4, 0xCCCCCCCC)
        return ptr

    def li(self, value: int) -> int:
        """A LARGE_INTEGER holding ``value`` (negative = relative 100 ns units)."""
        ptr = self.m.alloc(8, 8)
        self.m.write_s64(ptr, value)
        return ptr

    def u32(self, ptr: int) -> int:
        return self.m.read_u32(ptr)

    # -- objects, made on the main thread -------------------------------------------------

    def _make(self, export: str, *args: int) -> int:
        ptr = self.out()
        status = self.k.call(export, ptr, 0, *args)
        assert status == 0, f"{export} -> {status:#x}"
        return self.u32(ptr)

    def event(self, *, manual: bool = False, state: bool = False) -> int:
        return self._make("NtCreateEvent", 0 if manual else 1, int(state))

    def semaphore(self, initial: int, maximum: int) -> int:
        return self._make("NtCreateSemaphore", initial, maximum)

    def mutant(self, *, owned: bool = False) -> int:
        return self._make("NtCreateMutant", int(owned))

    def timer(self, *, manual: bool = False) -> int:
        return self._make("NtCreateTimer", 0 if manual else 1)

    def handles(self, *values: int) -> int:
        ptr = self.m.alloc(4 * max(len(values), 1), 4)
        for i, v in enumerate(values):
            self.m.write_u32(ptr + 4 * i, v)
        return ptr

    # -- threads --------------------------------------------------------------------------

    def routine(self, fn: Callable[..., Prog]) -> int:
        """Register ``fn(*args)`` (a generator function) as a guest routine; returns its address."""
        return self.k.register_routine(lambda _t, args: fn(*args))

    def main(self, prog: Prog) -> Thread:
        return self.k.start_main(prog)

    def spawn(self, prog: Prog, *, suspended: bool = False) -> Thread:
        return self.k.spawn(prog, suspended=suspended)

    def run(self, max_calls: int = 10_000, **kw: Any) -> RunResult:
        return self.k.run(max_calls=max_calls, **kw)

    def trace_bytes(self) -> bytes:
        return msgspec.msgpack.encode(self.rec.events)


def wait1(handle: int, *, alertable: bool = False, timeout: int = 0) -> tuple[str, tuple[int, ...]]:
    """The call of NtWaitForSingleObjectEx(handle, UserMode, alertable, timeout ptr)."""
    return ("NtWaitForSingleObjectEx", (handle, 1, int(alertable), timeout))
