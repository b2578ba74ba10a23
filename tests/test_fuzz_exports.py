"""A hostile title calls every registered export with garbage: only documented stops escape.

Each example is a short sequence of calls, each to any export x360k registers,
with arguments drawn by parameter kind: live handles, pseudo-handles and stale
ones; null, unmapped, misaligned and edge-of-mapping pointers; structures
holding hostile paths, extreme timeouts and lengths. After every call the object
table must agree with itself (``check_invariants``). The only exceptions that
may leave ``Kernel.call`` are the documented stop reports: a
:class:`~x360k.cpu.fault.GuestFault` (x360k stopped the run, naming the call)
and a :class:`~x360k.kernel.WedgeError` (the caller blocked for ever). Every
trace event must still encode. Bounded to a few seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from x360k import vfs
from x360k.cpu.fault import GuestFault
from x360k.exports.registry import P, Param
from x360k.kernel import Kernel, WedgeError
from x360k.objects.thread import ThreadState
from x360k.quirks import PROFILES, Profile
from x360k.trace.recorder import MemoryRecorder

EXPORTS = sorted(e.name for e in Kernel("canary").exports)
U32_EDGES = [0, 1, 2, 3, 4, 8, 0x10, 0x40, 0x48, 0x100, 0x7FFF, 0xFFFF, 0x10000]
U32_EDGES += [0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xDEADF00D]
S64_EDGES = [0, -1, 1, -(1 << 63), (1 << 63) - 1, -10_000, -(1 << 62), 1 << 62, 0x7FFFFFFF]
HANDLE_EDGES = [0, 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xF8000000, 0xF8000004, 0xF8000001]
HANDLE_EDGES += [0xF80FFFFC, 0x01000004, 0x12345678, 0xFFFFFFFC]
BAD_POINTERS = [0, 1, 4, 0x10, 0xFFFFFFF0, 0xFFFFFFFC, 0x7FFFFFFF, 0xDEADF00D]
PATHS = [
    b"hdd:\\a.txt",
    b"hdd:\\sub",
    b"game:\\data.bin",
    b"hdd:\\..\\..\\etc\\passwd",
    b"hdd:\\sub\\..\\..\\x",
    b"\\??\\hdd:\\new.txt",
    b"hdd:/../x",
    b"hdd:\\" + b"a" * 300,
    b"hdd:\\" + b"d\\" * 600,
    b"*a*a*a*a*a*a*a*a*a*a*a*a*a*ab",
    b"",
    b"\xff\xfe",
    b"cache:\\x",
    b"\\Device\\Harddisk0\\Partition1\\a.txt",
]

#: One argument, symbolically: resolved against the example's own kernel when it is called.
Arg = tuple[str, Any]


def _arg(kind: P) -> st.SearchStrategy[Arg]:
    raw = st.one_of(st.sampled_from(U32_EDGES), st.integers(0, 0xFFFFFFFF))
    bad_ptr = st.sampled_from(BAD_POINTERS)
    scratch = st.tuples(st.just("scratch"), st.integers(0, 0x3FF8))
    if kind in (P.U32, P.S32, P.BOOL, P.CONTEXT):
        return st.tuples(st.just("raw"), raw)
    if kind is P.HANDLE:
        return st.one_of(
            st.tuples(st.just("handle"), st.integers(0, 31)),
            st.tuples(st.just("raw"), st.sampled_from(HANDLE_EDGES)),
        )
    if kind in (P.ATTRS, P.ANSI_STRING):
        return st.one_of(
            st.tuples(st.just("path"), st.tuples(st.sampled_from(PATHS), st.integers(0, 31))),
            st.tuples(st.just("raw"), bad_ptr),
            scratch,
        )
    if kind in (P.TIMEOUT, P.LARGE_INTEGER):
        return st.one_of(
            st.tuples(st.just("s64"), st.sampled_from(S64_EDGES)),
            st.tuples(st.just("raw"), bad_ptr),
        )
    if kind is P.HANDLE_ARRAY:
        return st.one_of(st.tuples(st.just("handles"), st.integers(0, 31)), scratch)
    if kind is P.ROUTINE:
        return st.tuples(st.just("raw"), st.sampled_from([0, 1, 0x1000, 0x82000000, 0xFFFFFFFF]))
    body = st.tuples(st.just("body"), st.integers(0, 31))  # a guest object body x360k handed out
    return st.one_of(st.tuples(st.just("raw"), bad_ptr), scratch, body)  # every other pointer


@st.composite
def _call(draw: st.DrawFn) -> tuple[str, list[Arg]]:
    name = draw(st.sampled_from(EXPORTS))
    params: tuple[Param, ...] = KERNEL_EXPORTS[name]
    return name, [draw(_arg(p.kind)) for p in params]


KERNEL_EXPORTS: dict[str, tuple[Param, ...]] = {e.name: e.params for e in Kernel("canary").exports}


class World:
    """A kernel with mounted folders, some objects and a scratch area to point into."""

    def __init__(self, profile: Profile, root: Path) -> None:
        for d in ("title", "hdd", "hdd/sub"):
            (root / d).mkdir(exist_ok=True)
        (root / "title" / "data.bin").write_bytes(b"title data")
        (root / "hdd" / "a.txt").write_bytes(b"hdd data")
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, recorder=self.rec)
        vfs.mount(self.k, root / "title", hdd=root / "hdd")
        m = self.k.memory
        self.scratch = m.alloc(0x4000, 8)
        m.write_bytes(self.scratch, bytes(range(256)) * 64)
        out = m.alloc(4, 4)
        self.handles: list[int] = []
        for export, args in (
            ("NtCreateEvent", (out, 0, 0, 0)),
            ("NtCreateSemaphore", (out, 0, 1, 4)),
            ("NtCreateMutant", (out, 0, 0)),
            ("NtCreateTimer", (out, 0, 0)),
            ("NtCreateIoCompletion", (out, 0, 0, 0)),
        ):
            assert self.k.call(export, *args) == 0
            self.handles.append(m.read_u32(out))
        for path, options in ((b"hdd:\\a.txt", 0x20), (b"hdd:\\sub", 0x21)):
            iosb = m.alloc(8, 4)
            attrs = m.new_object_attributes(path)
            assert (
                self.k.call("NtCreateFile", out, 0xC0000000, attrs, iosb, 0, 0, 0, 1, options) == 0
            )
            self.handles.append(m.read_u32(out))
        self.handles.append(self.k.main_thread.handles[0])

    def value(self, arg: Arg) -> int:
        tag, v = arg
        m = self.k.memory
        if tag == "raw":
            return int(v)
        if tag == "scratch":
            return self.scratch + int(v)
        if tag == "handle":
            live = [h for h, _ in self.k.table.live_handles()] + self.handles
            return live[v % len(live)]
        if tag == "path":
            text, root = v
            root_handle = self.handles[root % len(self.handles)] if root >= 24 else 0
            return m.new_object_attributes(text, root=root_handle)
        if tag == "s64":
            ptr = m.alloc(8, 8)
            m.write_s64(ptr, v)
            return ptr
        if tag == "body":
            bodies = sorted(self.k.bodies)
            return bodies[v % len(bodies)] if bodies else 0
        if tag == "handles":
            ptr = m.alloc(4 * 4, 4)
            for i in range(4):
                m.write_u32(ptr + 4 * i, self.handles[(v + i) % len(self.handles)])
            return ptr
        raise AssertionError(tag)


def _play(profile: Profile, calls: list[tuple[str, list[Arg]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = World(profile, Path(tmp))
        k = w.k
        for name, args in calls:
            values = [w.value(a) for a in args]
            try:
                result = k.call(name, *values)
            except (GuestFault, WedgeError):
                k.table.check_invariants()
                break
            assert 0 <= result <= 0xFFFFFFFF
            k.table.check_invariants()
            assert 0 <= k.clock < 1 << 63
            if k.main_thread.state in (ThreadState.TERMINATED, ThreadState.SUSPENDED):
                break  # nothing calls from a thread that has ended
        msgspec.json.encode(w.rec.events)  # every field still encodes (int64 range)
        for e in w.rec.events:
            assert e.ts is None or 0 <= e.ts < 1 << 63


@pytest.mark.parametrize("profile", PROFILES)
@settings(
    max_examples=int(os.environ.get("X360K_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(calls=st.lists(_call(), min_size=1, max_size=10))
def test_every_export_survives_garbage(
    profile: Profile, calls: list[tuple[str, list[Arg]]]
) -> None:
    _play(profile, calls)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", EXPORTS)
def test_each_export_once_with_edges(profile: Profile, name: str) -> None:
    """Every export at least once, whatever hypothesis picks: all-edge arguments."""
    params = KERNEL_EXPORTS[name]
    for choice in range(3):
        args: list[Arg] = []
        for p in params:
            if p.kind is P.HANDLE:
                args.append(("handle", choice) if choice else ("raw", 0xFFFFFFFE))
            elif p.kind in (P.ATTRS, P.ANSI_STRING):
                args.append(("path", (PATHS[choice * 3], 0)))
            elif p.kind in (P.TIMEOUT, P.LARGE_INTEGER):
                args.append(("s64", S64_EDGES[3 + choice]))
            elif p.kind in (P.U32, P.S32, P.BOOL, P.CONTEXT, P.ROUTINE):
                args.append(("raw", [0, 0xFFFFFFFF, 0x7FFFFFFF][choice]))
            else:
                args.append(("scratch", 0) if choice != 1 else ("raw", 0xFFFFFFF0))
        _play(profile, [(name, args)])


@pytest.mark.parametrize("profile", PROFILES)
def test_a_wide_call_after_the_stack_pointer_was_set_to_nothing(profile: Profile) -> None:
    """Found by the fuzzer: arguments 9.. go to the stack, and r1 may lead nowhere."""
    k = Kernel(profile)
    k.call("KeSetCurrentStackPointers", 0, k.main_thread.kthread, 0, 0, 0)
    assert k.main_thread.gpr[1] == 0
    status = k.call("NtCreateFile", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert status == 0xC0000005  # STATUS_ACCESS_VIOLATION: the arguments could not be read
    k.table.check_invariants()
