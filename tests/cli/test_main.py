"""The x360k entry point itself: help, and quiet exits when the output pipe closes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from x360k.trace.event import TraceEvent
from x360k.trace.jsonl_writer import JsonlWriter

X360K = Path(sys.executable).with_name("x360k")


def test_help_lists_every_command() -> None:
    out = subprocess.run([X360K, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "diff", "trace", "exports", "status"):
        assert command in out


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    writer = JsonlWriter(path, None, lines_per_write=1024)
    for i in range(50_000):
        writer.record(TraceEvent(tid=0, idx=i, kind="marker", text="x" * 40))
    writer.close()
    shown = subprocess.Popen(
        [X360K, "trace", "show", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert shown.stdout is not None and shown.stderr is not None
    first = shown.stdout.readline()
    shown.stdout.close()
    assert first.startswith(b"[0] marker")
    assert shown.wait(timeout=60) != 0
    assert shown.stderr.read() == b""
