"""Guest programs on the CPU runtime: outcomes, traces, preemption, determinism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from x360k.cpu.runner import execute_guest
from x360k.cpu.runtime import BUDGET_TICKS, CpuRuntime
from x360k.kernel import Kernel
from x360k.trace.recorder import MemoryRecorder

Guest = Callable[[str], Path]


def _calls(run: object, tid: int) -> list[str]:
    trace = run.trace  # type: ignore[attr-defined]
    return [e.name for e in trace.thread(tid) if e.kind == "kernel.call"]


def test_dup_signal_finishes_and_wakes_the_source_waiter(guest: Guest) -> None:
    run = execute_guest(guest("dup_signal"))
    assert run.outcome == "finished"
    assert [(t.ordinal, t.exit_code) for t in run.kernel.threads] == [(0, 0), (1, 0)]
    assert _calls(run, 0) == [
        "NtCreateEvent",
        "NtDuplicateObject",
        "ExCreateThread",
        "NtWaitForSingleObjectEx",
        "NtWaitForSingleObjectEx",
        "NtClose",
        "NtClose",
        "NtClose",
    ]
    assert _calls(run, 1) == ["NtSetEvent"]
    waits = [
        e.status
        for e in run.trace.thread(0)  # type: ignore[union-attr]
        if e.kind == "kernel.return" and e.name == "NtWaitForSingleObjectEx"
    ]
    assert waits == [0, 0]
    assert run.objects_alive() == []


def test_import_call_carries_the_callers_address(guest: Guest) -> None:
    run = execute_guest(guest("dup_signal"))
    calls = [e for e in run.trace.events if e.kind == "import.call"]  # type: ignore[union-attr]
    for event in calls:
        assert event.ret_addr is not None
        where = run.image.symbolize(event.ret_addr)
        assert where is not None and where.split("+")[0] in {"_start", "worker"}
    # import.call comes right before the kernel's own events of the same call
    events = run.trace.thread(0)  # type: ignore[union-attr]
    assert [e.kind for e in events[:2]] == ["import.call", "kernel.call"]


def test_wedge_guest_wedges_with_a_report(guest: Guest) -> None:
    run = execute_guest(guest("wedge"))
    assert run.outcome == "wedge"
    assert run.result is not None and run.result.wedge is not None
    text = run.result.wedge.render_text()
    assert "thread 0" in text and "Event" in text
    assert run.kernel.threads[0].state.value == "blocked"
    assert run.kernel.threads[1].exit_code == 0


def test_producer_consumer_moves_every_item_in_order(guest: Guest) -> None:
    run = execute_guest(guest("producer_consumer"))
    assert run.outcome == "finished"
    assert [t.exit_code for t in run.kernel.threads] == [0, 0, 0]
    names = set(_calls(run, 1)) | set(_calls(run, 2))
    assert {"RtlEnterCriticalSection", "RtlLeaveCriticalSection", "NtReleaseSemaphore"} <= names
    assert _calls(run, 1).count("NtReleaseSemaphore") == 20


def test_file_reader_hashes_the_title_file(guest: Guest, tmp_path: Path) -> None:
    data = bytes(range(256)) * 3 + b"tail"
    (tmp_path / "data.txt").write_bytes(data)
    run = execute_guest(guest("file_reader"), title=tmp_path)
    expected = 2166136261
    for b in data:
        expected = ((expected ^ b) * 16777619) & 0xFFFFFFFF
    assert run.outcome == "finished"
    assert run.kernel.threads[0].exit_code == expected
    assert _calls(run, 0).count("NtReadFile") == len(data) // 64 + 1


def test_compute_guest_result_matches_the_host(guest: Guest) -> None:
    rounds = 3000
    run = execute_guest(guest("compute"), pokes={"rounds": rounds})
    x, total, table = 2463534242, 0, [0] * 256
    for i in range(rounds):
        for _ in range(16):
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            table[x & 255] = (table[x & 255] + (x >> 8)) & 0xFFFFFFFF
        total = (total + table[i & 255]) & 0xFFFFFFFF
    assert run.outcome == "finished" and run.kernel.calls == 0
    assert run.kernel.threads[0].exit_code == total


def test_stress_guest_makes_its_calls(guest: Guest) -> None:
    run = execute_guest(guest("stress"), pokes={"calls": 5000}, keep_trace=False)
    assert run.outcome == "finished"
    assert run.kernel.calls == 5000
    assert run.kernel.threads[0].exit_code == 0


def test_spinning_threads_take_turns_by_budget(guest: Guest) -> None:
    run = execute_guest(guest("spin"), pokes={"work": 150000})
    assert run.outcome == "finished"
    spins = run.kernel.threads[1].exit_code
    assert spins is not None and spins > 0
    assert run.runtime.preemptions > 2
    # Each budget that ran out moved the virtual clock on.
    assert run.kernel.clock >= run.runtime.preemptions * BUDGET_TICKS


def _trace_bytes(path: Path, **options: object) -> bytes:
    recorder = MemoryRecorder()
    execute_guest(path, recorder=recorder, keep_trace=False, **options)  # type: ignore[arg-type]
    return msgspec.json.encode(recorder.events)


@pytest.mark.parametrize(("name", "pokes"), [("producer_consumer", {}), ("spin", {"work": 150000})])
def test_two_runs_give_byte_identical_traces(
    guest: Guest, name: str, pokes: dict[str, int]
) -> None:
    first = _trace_bytes(guest(name), pokes=pokes)
    assert first == _trace_bytes(guest(name), pokes=pokes)
    assert len(first) > 100


def test_kernel_and_cpu_share_one_store() -> None:
    k = Kernel()
    runtime = CpuRuntime(k)
    address = k.memory.alloc(16, 16)  # a region mapped after the runtime started
    k.memory.write_u32(address, 0x12345678)
    assert bytes(runtime.engine.uc.mem_read(address, 4)) == bytes.fromhex("12345678")
    runtime.engine.uc.mem_write(address + 4, bytes.fromhex("cafef00d"))
    assert k.memory.read_u32(address + 4) == 0xCAFEF00D
