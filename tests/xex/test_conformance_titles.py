"""guests/bin/*.xex and their expected traces are what guests/make_xex.py makes today."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from tests.xex.conftest import GUESTS
from x360k.trace.readers import open_trace
from x360k.xex.reader import read_xex


def _tool() -> object:
    spec = importlib.util.spec_from_file_location("make_xex", GUESTS.parent / "make_xex.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_titles_and_traces_are_up_to_date(tmp_path: Path) -> None:
    tool = _tool()
    work = tmp_path / "bin"
    shutil.copytree(GUESTS, work)
    files = tool.expected(work)  # type: ignore[attr-defined]
    assert len(files) == 3 * len(tool.TITLES)  # type: ignore[attr-defined]
    for path, data in files.items():
        committed = GUESTS / path.name
        assert committed.is_file(), f"{committed} missing: run make -C guests xex"
        assert committed.read_bytes() == data, f"{committed} is stale: run make -C guests xex"


def test_each_title_reads_and_its_traces_parse() -> None:
    for xex in sorted(GUESTS.glob("*.xex")):
        assert read_xex(xex.read_bytes()).pe.sections
        for profile in ("canary", "console"):
            trace = xex.with_suffix(f".{profile}.jsonl")
            reader = open_trace(trace)
            assert reader.header is not None
            assert reader.header.extra["profile"] == profile
            assert list(reader.events())
