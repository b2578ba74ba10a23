"""Every committed guest gives the same trace as the reference runtime recorded, byte for byte.

``golden_traces.json`` holds, per case, a digest of the whole trace (msgspec
JSON of every event) plus the run's outcome, call count, clock, preemptions,
exit codes and fault. It was recorded with the runtime that stopped unicorn at
every ``sc`` and made each call from the kernel's run loop; the runtime that
serves calls inside its interrupt hook must not change any of it, and that
reference path (``serve_in_hook=False``) must still give the same. Cases cover
both profiles, wait events, call and time limits, faults, preemption and
untraced runs. Regenerate (only for an intended change of behaviour) with
``.venv/bin/python -m tests.cpu.test_trace_stability --update``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import xxhash

from x360k.cpu.runner import execute_guest
from x360k.trace.recorder import MemoryRecorder

BIN = Path(__file__).resolve().parents[2] / "guests" / "bin"
GOLDEN = Path(__file__).with_name("golden_traces.json")


@dataclass(frozen=True, slots=True)
class Case:
    guest: str
    profile: str = "canary"
    pokes: dict[str, int] = field(default_factory=dict)
    max_calls: int | None = 1_000_000
    max_time: int | None = None
    wait_events: bool = False
    traced: bool = True

    @property
    def id(self) -> str:
        parts = [self.guest, self.profile]
        parts += [f"{k}={v}" for k, v in sorted(self.pokes.items())]
        if self.max_calls != 1_000_000:
            parts.append(f"max_calls={self.max_calls}")
        if self.max_time is not None:
            parts.append(f"max_time={self.max_time}")
        if self.wait_events:
            parts.append("wait_events")
        if not self.traced:
            parts.append("untraced")
        return ",".join(parts)


CASES = [
    *(
        Case(guest, profile)
        for guest in ("dup_signal", "wedge", "producer_consumer")
        for profile in ("canary", "console")
    ),
    Case("producer_consumer", wait_events=True),
    Case("producer_consumer", max_calls=37),
    Case("producer_consumer", "console", max_calls=101),
    Case("producer_consumer", traced=False),
    Case("file_reader"),
    Case("file_reader", "console", wait_events=True),
    Case("stress", pokes={"calls": 3000}),
    Case("stress", "console", pokes={"calls": 200}),
    Case("stress", pokes={"calls": 3000}, max_calls=1000),
    Case("stress", pokes={"calls": 500}, max_calls=64),
    Case("stress", pokes={"calls": 3000}, traced=False),
    Case("compute", pokes={"rounds": 300}),
    Case("spin", pokes={"work": 150000}),
    Case("spin", "console", pokes={"work": 150000}),
    Case("spin", pokes={"work": 150000}, max_calls=3),
    Case("spin", pokes={"work": 150000}, max_time=150_000),
    *(Case("fault", pokes={"fault_kind": kind}) for kind in (0, 1, 2)),
    Case("rtl_strings"),
    Case("rtl_strings", "console"),
    Case("fault", "console", pokes={"fault_kind": 2}, traced=False),
    Case("crypto"),
    Case("crypto", "console"),
    Case("loader"),
    Case("loader", "console"),
    *(Case("kernel_objects", profile) for profile in ("canary", "console")),
    *(Case("callbacks", profile) for profile in ("canary", "console")),
    Case("memory"),
    Case("memory", "console"),
    Case("memory", pokes={"write_readonly": 1}),
]


def summarise(case: Case, *, serve_in_hook: bool = True) -> dict[str, Any]:
    """What must not change: the trace's bytes (as a digest) and how the run ended."""
    recorder = MemoryRecorder() if case.traced else None
    run = execute_guest(
        BIN / f"{case.guest}.elf",
        profile=case.profile,  # type: ignore[arg-type]
        recorder=recorder,
        keep_trace=False,
        max_calls=case.max_calls,
        max_time=case.max_time,
        pokes=case.pokes,
        wait_events=case.wait_events,
        serve_in_hook=serve_in_hook,
    )
    k = run.kernel
    summary: dict[str, Any] = {
        "outcome": run.outcome,
        "calls": k.calls,
        "clock": k.clock,
        "preemptions": run.runtime.preemptions,
        "threads": [[t.state.value, t.exit_code, t.next_idx] for t in k.threads],
    }
    if recorder is not None:
        data = msgspec.json.encode(recorder.events)
        summary["events"] = len(recorder.events)
        summary["trace_xxh64"] = xxhash.xxh64_hexdigest(data)
    if run.fault is not None:
        fault = msgspec.to_builtins(run.fault)
        summary["fault_xxh64"] = xxhash.xxh64_hexdigest(msgspec.json.encode(fault))
        summary["fault"] = run.fault.headline()
    return summary


def _golden() -> dict[str, Any]:
    return msgspec.json.decode(GOLDEN.read_bytes())  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_guest_trace_is_unchanged(case: Case) -> None:
    golden = _golden()
    assert case.id in golden, f"no golden record for {case.id}"
    assert summarise(case) == golden[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_calls_served_in_the_hook_change_nothing(case: Case) -> None:
    """The reference path (unicorn stopped at every ``sc``) still gives the recorded runs."""
    assert summarise(case, serve_in_hook=False) == _golden()[case.id]


def test_every_committed_guest_is_covered() -> None:
    assert {p.stem for p in BIN.glob("*.elf")} == {c.guest for c in CASES}


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.cpu.test_trace_stability --update")
    records = {case.id: summarise(case) for case in CASES}
    lines = [msgspec.json.encode(k) + b": " + msgspec.json.encode(v) for k, v in records.items()]
    GOLDEN.write_bytes(b"{\n" + b",\n".join(lines) + b"\n}\n")
    print(f"wrote {len(records)} cases to {GOLDEN}")
