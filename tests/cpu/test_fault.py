"""A guest fault stops the run with a report, and leaves the kernel consistent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from x360k.cpu.fault import disassemble
from x360k.cpu.runner import execute_guest

Guest = Callable[[str], Path]


@pytest.mark.parametrize(
    ("kind", "reason", "mnemonic"),
    [
        (0, "write of unmapped memory at 0x00001000 (4 bytes)", "stw"),
        (1, "illegal instruction", "not a valid instruction"),
        (2, "call to xboxkrnl ordinal 2047 (0x7ff), which x360k lacks", "sc"),
    ],
)
def test_fault_report(guest: Guest, kind: int, reason: str, mnemonic: str) -> None:
    run = execute_guest(guest("fault"), pokes={"fault_kind": kind})
    assert run.outcome == "fault" and run.result is None
    report = run.fault
    assert report is not None
    assert report.reason == reason
    assert report.tid == 0 and report.thread_id == run.kernel.threads[0].thread_id
    assert report.symbol is not None and report.symbol.startswith("_start+")
    assert mnemonic in report.instruction
    assert run.image.base <= report.pc < run.image.end
    assert report.registers["pc"] == report.pc and report.registers["r1"] != 0
    assert any("NtCreateEvent" in line for line in report.last_events)
    text = report.render_text()
    assert f"0x{report.pc:08x}" in text and "r31=" in text and "last events:" in text
    # The kernel is consistent: the call before the fault completed, its handle lives.
    k = run.kernel
    assert k.current is None
    assert [obj.TYPE for obj in run.objects_alive()] == ["Event"]
    assert run.trace is not None and run.trace.events[-1].kind == "marker"


def test_disassemble_names_the_instruction() -> None:
    assert disassemble(bytes.fromhex("44000002"), 0x82000000).startswith("sc")
    assert "not a valid" in disassemble(b"\0\0\0\0", 0)
    assert disassemble(b"", 0) == "<not readable>"


def test_fault_report_without_a_trace_lists_the_last_calls(guest: Guest) -> None:
    run = execute_guest(guest("fault"), keep_trace=False)
    assert run.fault is not None and run.trace is None
    assert any("NtCreateEvent" in line for line in run.fault.last_events)
