"""run_guest for ``x360k run``, and the seed's case from a guest binary vs. its scenario."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.cpu.runner import GuestLoadError, execute_guest, run_guest
from x360k.scenario.errors import ScenarioError
from x360k.scenario.loader import load_scenario
from x360k.scenario.runner import run_scenario
from x360k.trace.event import TraceEvent
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.recorder import MemoryRecorder

Guest = Callable[[str], Path]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _shape(events: list[TraceEvent]) -> dict[int, list[tuple[object, ...]]]:
    per: dict[int, list[tuple[object, ...]]] = {}
    for e in events:
        per.setdefault(e.tid, []).append((e.idx, e.kind, e.name, e.status, e.sid, e.ret))
    return per


@pytest.mark.parametrize(
    ("elf", "scenario"),
    [("dup_signal", "dup_signal_wakes_source.yaml"), ("wedge", "worker_never_signals.yaml")],
)
@pytest.mark.parametrize("profile", ["canary", "console"])
def test_guest_and_scenario_give_the_same_events(
    guest: Guest, elf: str, scenario: str, profile: str, tmp_path: Path
) -> None:
    scripted = MemoryRecorder()
    result = run_scenario(load_scenario(EXAMPLES / scenario), profile=profile, recorder=scripted)
    run = execute_guest(guest(elf), profile=profile)  # type: ignore[arg-type]
    assert run.outcome == result.outcome
    assert run.trace is not None
    assert _shape(run.trace.events) == _shape(scripted.events)
    # The diff tool agrees they are equal. Start routines differ in address only: the
    # scenario's is a registered fake, the guest's real code.
    paths = []
    for name, events in (("scenario", scripted.events), ("guest", run.trace.events)):
        path = tmp_path / f"{name}.jsonl"
        writer = JsonlWriter(path)
        for event in events:
            writer.record(event)
        writer.close()
        paths.append(str(path))
    out = CliRunner().invoke(cli, ["diff", *paths, "--ignore", "entry"])
    assert out.exit_code == 0, out.output


def test_run_guest_summary(guest: Guest) -> None:
    result = run_guest(guest("dup_signal"), profile="canary")
    assert result.outcome == result.expected_outcome == "finished" and result.ok
    assert result.name == "dup_signal" and "duplicate" in result.description
    assert [t.program for t in result.threads] == ["_start", "worker"]
    assert result.handles_created == result.handles_destroyed == 3
    assert result.objects_alive == 0


def test_run_guest_expected_fault_and_wedge(guest: Guest) -> None:
    fault = run_guest(guest("fault"))
    assert fault.outcome == "fault" and fault.ok and "guest fault" in fault.warnings[0]
    wedge = run_guest(guest("wedge"))
    assert wedge.outcome == "wedge" and wedge.ok and wedge.wedge is not None


def test_run_guest_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an elf at all")
    with pytest.raises(ScenarioError, match="neither a XEX2 nor an ELF") as raised:
        run_guest(bad)
    # One line naming the file once: "file:0: neither ...", not "file:0: file: neither ...".
    assert str(raised.value).count(str(bad)) == 1
    assert str(raised.value).startswith(
        f"{bad}:0: neither a XEX2 nor an ELF executable (it starts 6e 6f 74 20;"
    )
    empty = tmp_path / "empty.xex"
    empty.write_bytes(b"")
    with pytest.raises(ScenarioError, match=r"neither a XEX2 nor an ELF executable \(it is empty"):
        run_guest(empty)
    with pytest.raises(GuestLoadError, match="cannot read"):
        execute_guest(tmp_path / "missing.elf")


def test_cli_runs_a_guest(guest: Guest, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    out = CliRunner().invoke(cli, ["run", str(guest("dup_signal")), "--trace", str(trace)])
    assert out.exit_code == 0, out.output
    assert "finished" in out.output
    assert trace.is_file() and "NtDuplicateObject" in trace.read_text()
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    out = CliRunner().invoke(cli, ["run", str(bad)])
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_cli_runs_a_guest_under_both_profiles(guest: Guest, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    path = guest("dup_signal")
    out = CliRunner().invoke(cli, ["run", str(path), "--profile", "both", "--trace", str(trace)])
    assert out.exit_code == 0, out.output
    assert "· canary ·" in out.output and "· console ·" in out.output
    for profile in ("canary", "console"):
        assert (tmp_path / f"t.{path.stem}.{profile}.jsonl").is_file()
