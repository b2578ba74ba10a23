"""The same scenario and guest, run twice under different hash seeds: byte-identical traces.

Nothing in a trace may depend on Python's string hashing (set or dict order of
names), on the host's directory order or on the wall clock. Each run is its own
interpreter (``PYTHONHASHSEED`` only takes effect at start-up) that records a
scenario and two guest binaries, under both profiles, in every trace format
``x360k run --trace`` writes; the files must match byte for byte. The guests'
title folder is a copy whose files are created in a different order per run, so
the host's directory order differs too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUESTS = ("file_reader.elf", "producer_consumer.elf")
SCENARIO = ROOT / "examples" / "semaphore_producer_consumer.yaml"
FORMATS = ("jsonl", "arrows", "arrow", "parquet", "txt")

_DRIVER = """
import sys
from x360k.cli.main import cli
out, inputs = sys.argv[1], sys.argv[2:]
for fmt in {formats!r}:
    try:
        cli.main(["run", *inputs, "--profile", "both", "--trace", f"{{out}}/t.{{fmt}}"],
                 prog_name="x360k", standalone_mode=False)
    except SystemExit:
        pass
"""


def _title_copy(where: Path, reverse: bool) -> Path:
    """guests/bin copied file by file, in sorted or reverse order (a different readdir order)."""
    src = ROOT / "guests" / "bin"
    where.mkdir()
    for p in sorted(src.iterdir(), reverse=reverse):
        if p.is_file():
            shutil.copyfile(p, where / p.name)
    return where


def _record(tmp: Path, seed: str, reverse: bool) -> dict[str, bytes]:
    # The same path both times: a trace's header names its input file.
    shutil.rmtree(tmp / "title", ignore_errors=True)
    title = _title_copy(tmp / "title", reverse)
    out = tmp / f"out-{seed}"
    out.mkdir()
    inputs = [str(SCENARIO), *(str(title / g) for g in GUESTS)]
    env = dict(os.environ, PYTHONHASHSEED=seed)
    code = _DRIVER.format(formats=FORMATS)
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), *inputs],
        env=env,
        cwd=tmp,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.skipif(not (ROOT / "guests" / "bin" / GUESTS[0]).exists(), reason="guests not built")
def test_traces_are_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    first = _record(tmp_path, "1", reverse=False)
    second = _record(tmp_path, "4242", reverse=True)
    # Three inputs x two profiles x every format.
    assert len(first) == 3 * 2 * len(FORMATS), sorted(first)
    assert first.keys() == second.keys()
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"traces differ between hash seeds: {differ}"
    assert all(first[name] for name in first), "an empty trace proves nothing"
