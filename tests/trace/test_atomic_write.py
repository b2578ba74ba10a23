"""Files written through a temporary name: whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from x360k.trace.atomic_write import atomic_write


def test_a_new_file_gets_the_umask_mode_not_mkstemps_private_one(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "report.html"
        atomic_write(target, lambda tmp: tmp.write_text("x"))
        assert target.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        private = tmp_path / "private.html"
        atomic_write(private, lambda tmp: tmp.write_text("x"))
        assert private.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_an_existing_file_keeps_its_mode_and_survives_a_failed_write(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    target.write_text("before")
    target.chmod(0o640)
    atomic_write(target, lambda tmp: tmp.write_text("after"))
    assert target.read_text() == "after" and target.stat().st_mode & 0o777 == 0o640

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as raised:
        atomic_write(target, fail)
    assert raised.value.filename == str(target)
    assert target.read_text() == "after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
