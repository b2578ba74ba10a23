"""The fixture the file-system export tests share: a mounted title under each profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.vfs.iokit import IoKit

from x360k.quirks import PROFILES


@pytest.fixture(params=PROFILES)
def io(request: pytest.FixtureRequest, tmp_path: Path) -> IoKit:
    kit = IoKit(tmp_path, request.param)
    (kit.title / "Data").mkdir()
    (kit.title / "Data" / "Level1.BIN").write_bytes(bytes(range(200)))
    (kit.title / "readme.txt").write_bytes(b"hello world")
    return kit
