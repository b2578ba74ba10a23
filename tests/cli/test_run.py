"""``x360k run`` through its real entry point: exit codes, one-line errors, traces, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace.readers import open_trace

EXAMPLES = Path(__file__).parents[2] / "examples"
DUP = str(EXAMPLES / "duplicate_object.yaml")
WEDGE = str(EXAMPLES / "worker_never_signals.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["run", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def test_all_examples_pass_with_exit_0() -> None:
    code, out, err = invoke(*sorted(str(p) for p in EXAMPLES.glob("*.yaml")))
    assert code == 0, out + err
    assert "FAIL" not in out
    assert "passed" in out.splitlines()[-1]


def test_expected_wedge_is_reported_and_passes() -> None:
    code, out, _ = invoke(WEDGE, "--profile", "console")
    assert code == 0
    assert "WEDGE" in out and "wedge (as expected)" in out


def test_failed_expectation_exits_1_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "fails.yaml"
    bad.write_text(
        "threads:\n  main:\n    - call: NtClose\n      handle: 0x1234\n"
        "      expect: STATUS_SUCCESS\n"
    )
    code, out, _ = invoke(str(bad), "--profile", "console")
    assert code == 1
    assert f"{bad}:5: NtClose returned STATUS_INVALID_HANDLE" in out


def test_unexpected_wedge_exits_1(tmp_path: Path) -> None:
    text = Path(WEDGE).read_text().replace("outcome: wedge", "outcome: finished")
    path = tmp_path / "wedges.yaml"
    path.write_text(text)
    code, out, _ = invoke(str(path), "--profile", "canary")
    assert code == 1
    assert "unexpected wedge" in out and f"{path}:" in out


def test_broken_scenario_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("threads:\n  main:\n    - call: NtCreateEvnt\n")
    code, out, err = invoke(str(bad), DUP)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(
        f"{bad}:3: unknown xboxkrnl export 'NtCreateEvnt'; did you mean NtCreateEvent"
    )
    assert "PASS" in out  # the good scenario still ran


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, _, err = invoke(str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--quirk", "double_close_succeed=on"], "did you mean double_close_succeeds"),
        (["--quirk", "double_close_succeeds=maybe"], "on or off"),
        (["--trace", "x.csv"], "unknown trace format"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], words: str) -> None:
    code, _, err = invoke(DUP, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and words in err


def test_a_broken_guest_binary_is_one_line_and_exit_2(tmp_path: Path) -> None:
    guest = tmp_path / "guest.elf"
    guest.write_bytes(b"\x7fELF")
    code, _, err = invoke(str(guest))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"{guest}:0: ") and err.count(str(guest)) == 1


def test_quirk_switch_changes_the_outcome() -> None:
    named = str(EXAMPLES / "named_collision.yaml")
    code, _, _ = invoke(named, "--profile", "canary")
    assert code == 0
    code, out, _ = invoke(
        named, "--profile", "canary", "--quirk", "named_create_ignores_openif=off"
    )
    assert code == 1 and "STATUS_OBJECT_NAME_COLLISION" in out


@pytest.mark.parametrize("suffix", [".jsonl", ".txt", ".parquet", ".arrows"])
def test_same_scenario_twice_writes_identical_traces(tmp_path: Path, suffix: str) -> None:
    paths = [tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"]
    for path in paths:
        code, out, err = invoke(DUP, "--profile", "canary", "--trace", str(path))
        assert code == 0, out + err
        assert f"trace written to {path}" in out
    assert paths[0].read_bytes() == paths[1].read_bytes()
    events = list(open_trace(paths[0]).events())
    kinds = [e.kind for e in events if e.tid == 0]
    assert kinds.count("handle.create") == 2 and kinds.count("handle.destroy") == 2


def test_several_runs_get_one_trace_file_each(tmp_path: Path) -> None:
    base = tmp_path / "t.jsonl"
    code, _, _ = invoke(DUP, WEDGE, "--trace", str(base))
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "t.duplicate_object.canary.jsonl",
        "t.duplicate_object.console.jsonl",
        "t.worker_never_signals.canary.jsonl",
        "t.worker_never_signals.console.jsonl",
    ]


def test_json_output(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("threads:\n  main:\n    - call: NtSetEvent\n")
    code, out, _ = invoke(DUP, WEDGE, str(bad), "--json", "--profile", "console")
    assert code == 2
    report = json.loads(out)
    assert report["exit_code"] == 2
    assert [r["name"] for r in report["results"]] == [
        "NtDuplicateObject makes a fresh slot",
        "a worker that never signals wedges the waiter",
    ]
    assert report["results"][1]["wedge"]["blocked"][0]["tid"] == 0
    assert report["errors"] == [
        {
            "file": str(bad),
            "line": 3,
            "error": f"{bad}:3: NtSetEvent: missing argument 'handle' (a bound name, "
            "current_thread, current_process or a number)",
        }
    ]


def test_verbose_and_show_trace() -> None:
    code, out, _ = invoke(DUP, "--profile", "console", "-v", "--show-trace")
    assert code == 0
    assert "The seed's NtDuplicateObject case" in out
    assert "thread 0 main" in out
    assert "kernel.return NtDuplicateObject status=STATUS_SUCCESS" in out


def test_help_documents_every_option() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    for option in ("--profile", "--quirk", "--trace", "--json", "--max-calls", "--show-trace"):
        assert option in result.stdout


def test_progress_line_appears_only_after_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from x360k.cli import run as run_module

    quiet = run_module._Progress("x", enabled=True)
    quiet.tick(10, 100)
    assert quiet.progress is None  # well under a second: nothing shown
    monkeypatch.setattr(run_module, "PROGRESS_AFTER", 0.0)
    shown = run_module._Progress("x", enabled=True)
    shown.tick(5000, 10_000_000)
    assert shown.progress is not None
    shown.stop()
    assert shown.progress is None
    off = run_module._Progress("x", enabled=False)
    off.tick(5000, 1)
    assert off.progress is None


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".txt"])
def test_a_failed_trace_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """Formats written in one go go through a temporary file: a failure leaves the old one."""
    import x360k.cli.run as run_module

    scenario = Path(__file__).parents[2] / "examples" / "duplicate_object.yaml"
    out = tmp_path / f"out{suffix}"
    ok = CliRunner().invoke(cli, ["run", str(scenario), "--profile", "canary", "--trace", str(out)])
    assert ok.exit_code == 0, ok.output
    before = out.read_bytes()

    def broken(path: Path, *_: object) -> None:
        path.write_bytes(b"half a trace")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(run_module, "_write_gathered_as", broken)
    CliRunner().invoke(cli, ["run", str(scenario), "--profile", "canary", "--trace", str(out)])
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_verbose_prints_what_a_guest_sent_to_dbgprint() -> None:
    guest = str(Path(__file__).resolve().parents[2] / "guests" / "bin" / "rtl_strings.elf")
    code, out, _ = invoke(guest, "--profile", "console", "-v")
    assert code == 0
    assert "thread 0 DbgPrint: rtl_strings: Hello, Xbox, 22 checks, quirks 000" in out
    code, out, _ = invoke(guest, "--profile", "console")
    assert "DbgPrint" not in out
    code, out, _ = invoke(guest, "--profile", "console", "--json")
    (result,) = json.loads(out)["results"]
    assert result["debug_output"] == [[0, "rtl_strings: Hello, Xbox, 22 checks, quirks 000"]]


def test_the_kernels_own_threads_are_named_and_not_counted_as_left_alive() -> None:
    guest = str(Path(__file__).resolve().parents[2] / "guests" / "bin" / "callbacks.elf")
    code, out, _ = invoke(guest, "--profile", "console", "--json")
    assert code == 0
    (result,) = json.loads(out)["results"]
    programs = {t["thread_id"]: t["program"] for t in result["threads"]}
    assert programs[0x100] == "kernel dpc worker"
    assert programs[0x101] == "kernel vsync worker"
    assert programs[0x102] == "kernel audio worker"
    assert result["objects_alive"] == 0 and result["objects_alive_types"] == {}


def test_a_trace_never_writes_over_a_file_being_run(tmp_path: Path) -> None:
    """Both a scenario and a guest ELF survive a --trace naming them (the ELF was lost)."""
    scenario = tmp_path / "s.jsonl"  # a scenario under a trace suffix
    scenario.write_bytes((EXAMPLES / "timer_loop.yaml").read_bytes())
    guest = tmp_path / "g.jsonl"
    guest.write_bytes((Path(__file__).parents[2] / "guests" / "bin" / "compute.elf").read_bytes())
    runner = CliRunner()
    for path, extra in ((scenario, ["--profile", "canary"]), (guest, [])):
        before = path.read_bytes()
        res = runner.invoke(cli, ["run", str(path), *extra, "--trace", str(path)])
        assert res.exit_code == 2, res.output
        assert "is a file being run; a trace never writes over it" in res.stderr
        assert path.read_bytes() == before
    other = tmp_path / "other.jsonl"
    res = runner.invoke(cli, ["run", str(scenario), "--profile", "canary", "--trace", str(other)])
    assert res.exit_code == 0, res.output
    assert open_trace(other).header is not None
