"""A recording killed mid-write: what is on disk reads back as a prefix, or fails in one line.

``x360k run --trace FILE`` runs in a subprocess and is killed with SIGKILL while
it writes, for every writer (JSONL, Arrow stream, Parquet). Whatever was left is
then read with every reader (strict and lenient) and every ``x360k trace``
command. A reader either gives events that are exactly the start of what a
complete run records, or refuses with a TraceFormatError; a command either
succeeds or prints one line saying what is wrong, never a traceback. The same
checks run on complete files cut at fixed offsets (the states a kill can leave,
made deterministic: a Parquet file is written in one go at the end of the run,
so a kill lands in it only by luck).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import TraceEvent
from x360k.trace.readers import open_trace

FORMATS = ("jsonl", "arrows", "parquet")

SCENARIO = """\
name: a long loop that records many events
threads:
  main:
    - call: NtCreateEvent
      event_type: notification
      initial_state: false
      out: ev
      expect: STATUS_SUCCESS
    - repeat: {repeat}
      steps:
        - {{call: NtSetEvent, handle: ev}}
        - {{call: NtClearEvent, handle: ev}}
"""


def _scenario(tmp: Path, repeat: int) -> Path:
    path = tmp / f"loop{repeat}.yaml"
    path.write_text(SCENARIO.format(repeat=repeat))
    return path


def _command(scenario: Path, trace: Path) -> list[str]:
    code = "import sys; from x360k.cli.main import main; sys.argv[0] = 'x360k'; main()"
    return [sys.executable, "-c", code, "run", str(scenario), "--trace", str(trace)]


@pytest.fixture(scope="module")
def complete(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A complete short recording in each format (in-process: the CLI's own writers)."""
    tmp = tmp_path_factory.mktemp("complete")
    scenario = _scenario(tmp, 300)
    out: dict[str, Path] = {}
    for fmt in FORMATS:
        trace = tmp / f"full.{fmt}"
        result = CliRunner().invoke(cli, ["run", str(scenario), "--trace", str(trace)])
        assert result.exit_code == 0, result.output
        out[fmt] = trace
    return out


@pytest.fixture(scope="module")
def reference(complete: dict[str, Path]) -> list[TraceEvent]:
    return list(open_trace(complete["jsonl"]).events())


def _same_event(a: TraceEvent, b: TraceEvent) -> bool:
    # Columnar formats give absent fields back as None the same way; compare the encoded rows.
    import msgspec

    return bool(msgspec.json.encode(a) == msgspec.json.encode(b))


def _loop_part(reference: list[TraceEvent]) -> list[TraceEvent]:
    """The reference up to its last loop event (a longer run goes on differently after it)."""
    last = max(i for i, e in enumerate(reference) if e.name == "NtClearEvent")
    return reference[: last + 1]


def _check_readers(path: Path, reference: list[TraceEvent]) -> None:
    for lenient in (False, True):
        try:
            got = list(open_trace(path, lenient=lenient).events())
        except TraceFormatError as err:
            assert "\n" not in str(err).strip(), f"multi-line error: {err}"
            continue
        n = min(len(got), len(reference))
        bad = [i for i in range(n) if not _same_event(got[i], reference[i])]
        assert not bad, f"{path.name}: event {bad[0]} differs from the complete run's"


def _check_commands(path: Path, tmp: Path) -> None:
    runner = CliRunner()
    commands = [
        ["trace", "show", str(path)],
        ["trace", "stats", str(path)],
        ["trace", "stats", "--lenient", str(path)],
        ["trace", "convert", str(path), str(tmp / f"{path.stem}-conv.parquet")],
        ["trace", "export", str(path), "--perfetto", str(tmp / f"{path.stem}.json")],
        ["trace", "sql", "select count(*) from events", str(path)],
    ]
    for args in commands:
        result = runner.invoke(cli, args)
        text = result.output
        assert "Traceback" not in text, f"{args}: {text}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{args} raised {result.exception!r}")
        if result.exit_code != 0:
            errors = [line for line in text.splitlines() if line.startswith(("x360k", "Error"))]
            assert errors, f"{args}: exit {result.exit_code} without a clear line: {text[-300:]}"


def _kill_when(proc: subprocess.Popen[bytes], trace: Path, min_bytes: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if trace.stat().st_size >= min_bytes:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sigkill_mid_write(fmt: str, tmp_path: Path, reference: list[TraceEvent]) -> None:
    trace = tmp_path / f"killed.{fmt}"
    # Streams: a long run, killed once a good part is on disk. Parquet is written at the
    # end: a short run, killed as soon as the file appears.
    # Arrow batches are 16,384 rows (about 1.6 MB here): wait for a few to be complete.
    repeat, min_bytes = {"jsonl": (200_000, 256 << 10), "arrows": (200_000, 5 << 20)}.get(
        fmt, (3_000, 1)
    )
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.Popen(
        _command(_scenario(tmp_path, repeat), trace),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _kill_when(proc, trace, min_bytes, limit=120)
    if not trace.exists():
        pytest.skip("the run was killed before it created the trace")  # pragma: no cover
    _check_readers(trace, _loop_part(reference))
    _check_commands(trace, tmp_path)
    if fmt != "parquet":
        got = list(open_trace(trace, lenient=True).events())
        assert len(got) > 100, "a killed stream lost what it had written"


@pytest.mark.parametrize("fmt", FORMATS)
def test_cut_files(
    fmt: str, tmp_path: Path, complete: dict[str, Path], reference: list[TraceEvent]
) -> None:
    data = complete[fmt].read_bytes()
    for cut in sorted({0, 1, 7, 64, len(data) // 3, len(data) // 2, len(data) - 9, len(data) - 1}):
        path = tmp_path / f"cut{cut}.{fmt}"
        path.write_bytes(data[:cut])
        _check_readers(path, reference)
        _check_commands(path, tmp_path)
    # Whole, the file reads back as the complete run.
    assert len(list(open_trace(complete[fmt]).events())) == len(reference)
