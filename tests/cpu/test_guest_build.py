"""The committed guest binaries are what the sources build to (when the compiler is here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cpu.conftest import GUESTS

COMPILER = "powerpc-linux-gnu-gcc"


def _guest_names() -> list[str]:
    line = next(
        ln for ln in (GUESTS / "Makefile").read_text().splitlines() if ln.startswith("GUESTS")
    )
    return line.split(":=")[1].split()


def test_every_guest_has_a_committed_binary() -> None:
    for name in _guest_names():
        assert (GUESTS / name).with_suffix(".c").is_file()
        assert (GUESTS / "bin" / f"{name}.elf").is_file(), name


@pytest.mark.skipif(
    shutil.which(COMPILER) is None or shutil.which("make") is None,
    reason=f"{COMPILER} not installed (apt-get install gcc-powerpc-linux-gnu)",
)
def test_rebuild_matches_the_committed_binaries(tmp_path: Path) -> None:
    work = tmp_path / "guests"
    shutil.copytree(GUESTS, work, ignore=shutil.ignore_patterns("bin", "__pycache__"))
    names = _guest_names()
    # Only the ELFs: the XEX titles are packed by the project's venv, which the copy lacks.
    targets = [f"bin/{name}.elf" for name in names]
    subprocess.run(["make", "-s", "-C", str(work), *targets], check=True, capture_output=True)
    for name in names:
        built = (work / "bin" / f"{name}.elf").read_bytes()
        committed = (GUESTS / "bin" / f"{name}.elf").read_bytes()
        assert built == committed, f"guests/bin/{name}.elf is stale: run make -C guests"
