"""Call records: sinks that take a call as two positional records, and the adapter for the rest.

A sink of plain events (here :class:`MemoryRecorder`) must see exactly the
three events a call has always made, for status, value and void returns, for
a call that blocked and was finished by a wake, and for a return carrying
extra fields; a sink that takes call records natively must get the same
fields positionally, from the plans and from the generic path alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from x360k import call_path
from x360k.call_plans import _refuse
from x360k.kernel import Kernel
from x360k.trace.call_records import CallRecorder, EventsFromCalls, call_recorder_for
from x360k.trace.event import TraceEvent
from x360k.trace.recorder import MemoryRecorder, TeeRecorder


class NativeSink:
    """Takes call records as they come (tuples), and any other event as itself."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...] | TraceEvent] = []

    def record(self, event: TraceEvent) -> None:
        self.items.append(event)

    def record_call(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        ret_addr: int | None,
        raw_tid: int,
        ts: int,
        args: list[str],
    ) -> None:
        self.items.append(
            ("call", tid, idx, name, module, ordinal, call_id, ret_addr, raw_tid, ts, args)
        )

    def record_return(
        self,
        tid: int,
        idx: int,
        name: str,
        module: str,
        ordinal: int,
        call_id: int,
        raw_tid: int,
        ts: int,
        status: int | None,
        ret: int | None,
    ) -> None:
        self.items.append(
            ("return", tid, idx, name, module, ordinal, call_id, raw_tid, ts, status, ret)
        )

    def close(self) -> None:
        pass


def _replayed(items: list[tuple[Any, ...] | TraceEvent]) -> list[TraceEvent]:
    """A native sink's items as the adapter turns them into events."""
    memory = MemoryRecorder()
    adapter = EventsFromCalls(memory)
    for item in items:
        if isinstance(item, TraceEvent):
            adapter.record(item)
        elif item[0] == "call":
            adapter.record_call(*item[1:])
        else:
            adapter.record_return(*item[1:])
    return memory.events


def _call_events(k: Kernel, name: str, call_id: int, idx: int, args: list[str]) -> list[TraceEvent]:
    t = k.main_thread
    ex = k.exports.get(name)
    common: dict[str, Any] = {
        "tid": t.ordinal,
        "name": ex.name,
        "module": ex.module,
        "ordinal": ex.ordinal,
        "call_id": call_id,
        "raw_tid": t.thread_id,
    }
    return [
        TraceEvent(idx=idx, kind="import.call", ret_addr=t.ret_addr, ts=k.clock, **common),
        TraceEvent(idx=idx + 1, kind="kernel.call", args=args, ts=k.clock, **common),
    ]


def _return_event(k: Kernel, name: str, call_id: int, idx: int, **fields: Any) -> TraceEvent:
    t = k.main_thread
    ex = k.exports.get(name)
    return TraceEvent(
        tid=t.ordinal,
        idx=idx,
        kind="kernel.return",
        name=ex.name,
        module=ex.module,
        ordinal=ex.ordinal,
        call_id=call_id,
        raw_tid=t.thread_id,
        ts=k.clock,
        **fields,
    )


def _generic_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_path, "bind_plan", lambda *args: _refuse)


def test_the_call_path_takes_a_sink_as_it_is_or_behind_the_adapter() -> None:
    native = NativeSink()
    memory = MemoryRecorder()
    assert call_recorder_for(None) is None
    assert call_recorder_for(native) is native
    assert isinstance(native, CallRecorder)
    adapted = call_recorder_for(memory)
    assert isinstance(adapted, EventsFromCalls) and adapted.sink is memory
    assert isinstance(call_recorder_for(TeeRecorder(memory, native)), EventsFromCalls)


def test_the_kernel_keeps_its_call_recorder_in_step_with_its_recorder() -> None:
    k = Kernel()
    assert k.recorder is None and k.call_recorder is None
    memory = MemoryRecorder()
    k.recorder = memory
    assert k.recorder is memory
    assert isinstance(k.call_recorder, EventsFromCalls) and k.call_recorder.sink is memory
    out = k.memory.alloc(4)
    assert k.call("NtCreateEvent", out, 0, 1, 0) == 0
    kinds = [e.kind for e in memory.events]
    assert kinds[-4:] == ["import.call", "kernel.call", "handle.create", "kernel.return"]
    native = NativeSink()
    k.recorder = native
    assert k.call_recorder is native
    k.recorder = None
    assert k.call_recorder is None
    before = len(memory.events)
    assert k.call("NtClose", k.memory.read_u32(out)) == 0
    assert len(memory.events) == before and not native.items


@pytest.mark.parametrize("generic", [False, True], ids=["plan", "generic"])
def test_status_value_and_void_returns_make_the_events_they_always_did(
    generic: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if generic:
        _generic_only(monkeypatch)
    memory = MemoryRecorder()
    k = Kernel(recorder=memory)
    t = k.main_thread
    out = k.memory.alloc(4)
    cases: list[tuple[str, tuple[int, ...], dict[str, int]]] = [
        ("NtCreateEvent", (out, 0, 1, 0), {"status": 0}),
        ("NtSetEvent", (0x1234, 0), {"status": 0xC0000008}),  # a failure: unsigned in the trace
        ("KeQueryPerformanceFrequency", (), {"ret": 50_000_000}),
        ("KeEnterCriticalRegion", (), {}),  # void: ``ret`` is r3 as it was left
    ]
    for name, args, fields in cases:
        call_id, idx = t.next_call_id, t.next_idx
        first = len(memory.events)
        r3 = k.call(name, *args)
        events = memory.events[first:]
        texts = [f"0x{a:08x}" for a in args]
        if not fields:
            fields = {"ret": r3}
        expected = [
            *_call_events(k, name, call_id, idx, texts),
            _return_event(k, name, call_id, events[-1].idx, **fields),
        ]
        # NtCreateEvent's handle.create comes between its call and its return.
        assert [e for e in events if e.kind != "handle.create"] == expected
        assert events[-1].idx == idx + 2 + (len(events) - 3)


@pytest.mark.parametrize("generic", [False, True], ids=["plan", "generic"])
def test_a_native_sink_gets_the_same_fields_positionally(
    generic: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if generic:
        _generic_only(monkeypatch)

    def session(k: Kernel) -> None:
        out = k.memory.alloc(4)
        interval = k.memory.alloc(8)
        k.memory.write_s64(interval, -10_000)
        k.call("NtCreateEvent", out, 0, 1, 0)
        k.call("NtSetEvent", k.memory.read_u32(out), 0)
        k.call("KeQueryPerformanceFrequency")
        k.call("KeEnterCriticalRegion")
        k.call("KeDelayExecutionThread", 1, 0, interval)  # blocks, finished by the wake
        k.call("NtClose", k.memory.read_u32(out))

    memory, native = MemoryRecorder(), NativeSink()
    session(Kernel(recorder=memory))
    session(Kernel(recorder=native))
    kinds = [item[0] for item in native.items if isinstance(item, tuple)]
    assert kinds == ["call", "return"] * 6
    events = [item for item in native.items if isinstance(item, TraceEvent)]
    assert {e.kind for e in events} == {"handle.create", "handle.destroy"}
    assert _replayed(native.items) == memory.events


def test_a_blocked_call_returns_when_its_wait_ends() -> None:
    memory = MemoryRecorder()
    k = Kernel(recorder=memory)
    t = k.main_thread
    interval = k.memory.alloc(8)
    k.memory.write_s64(interval, -10_000)  # 1 ms, relative
    call_id, idx = t.next_call_id, t.next_idx
    start = k.clock
    assert k.call("KeDelayExecutionThread", 1, 0, interval) == 0
    events = memory.events
    calls = [e for e in events if e.kind in ("import.call", "kernel.call")]
    assert [e.ts for e in calls] == [calls[0].ts] * 2 and calls[0].ts is not None
    assert calls[0].ts > start
    ret = events[-1]
    assert ret.kind == "kernel.return" and ret.ts is not None and ret.ts >= calls[0].ts + 10_000
    assert ret == _return_event(k, "KeDelayExecutionThread", call_id, ret.idx, status=0)
    assert ret.idx > idx + 1


def test_a_return_with_extra_fields_is_recorded_as_an_event_for_every_sink() -> None:
    def session(k: Kernel) -> int:
        buf = k.memory.alloc(32)
        fmt = k.memory.alloc(8)
        k.memory.write_bytes(fmt, b"hi %d\0")
        return k.call("sprintf", buf, fmt, 7)

    memory, native = MemoryRecorder(), NativeSink()
    assert session(Kernel(recorder=memory)) == session(Kernel(recorder=native)) == 4
    ret = memory.events[-1]
    assert ret.kind == "kernel.return" and ret.ret == 4 and ret.text == "hi 7"
    assert native.items[-1] == ret
    assert _replayed(native.items) == memory.events
