"""``x360k run FILE.xex``: a packed guest runs to the same trace as its ELF; stops by name."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.xex.conftest import GUESTS, VARIANTS, packed
from x360k.cpu.runner import GuestLoadError, execute_guest
from x360k.trace.text_form import format_event
from x360k.xex.reader import read_xex
from x360k.xex.writer import XexSpec, build_xex


def _trace(path: Path, title: Path, profile: str = "canary") -> tuple[str, list[str]]:
    run = execute_guest(path, title=title, profile=profile)  # type: ignore[arg-type]
    assert run.trace is not None
    return run.outcome, [format_event(e, with_tid=True) for e in run.trace.events]


@pytest.fixture
def title(tmp_path: Path) -> Path:
    shutil.copy(GUESTS / "data.txt", tmp_path / "data.txt")
    return tmp_path


@pytest.mark.parametrize(("compression", "encryption"), VARIANTS)
def test_each_variant_runs_to_the_elf_trace(
    title: Path, compression: str, encryption: str | None
) -> None:
    xex = title / "producer_consumer.xex"
    xex.write_bytes(packed("producer_consumer", compression, encryption))
    assert _trace(xex, title) == _trace(GUESTS / "producer_consumer.elf", title)


@pytest.mark.parametrize("guest", ["dup_signal", "wedge", "file_reader", "spin", "fault"])
@pytest.mark.parametrize("profile", ["canary", "console"])
def test_each_guest_runs_to_the_elf_trace(title: Path, guest: str, profile: str) -> None:
    xex = title / f"{guest}.xex"
    xex.write_bytes(packed(guest, "basic"))
    outcome, events = _trace(xex, title, profile)
    assert (outcome, events) == _trace(GUESTS / f"{guest}.elf", title, profile)
    assert events


def _with_xam_import(tmp: Path) -> Path:
    """dup_signal with its NtDuplicateObject import re-pointed at xam.xex ordinal 464."""
    xex = read_xex(packed("dup_signal"))
    image = bytearray(xex.image)
    records = list(xex.imports.libraries[0].records)
    duplicate = next(r.address for r in xex.records if r.kind == "thunk" and r.ordinal == 218)
    i = records.index(duplicate)
    moved = [records.pop(i - 1), records.pop(i - 1)]
    for address in moved:
        off = address - xex.base
        word = struct.unpack_from(">I", image, off)[0]
        struct.pack_into(">I", image, off, (word & 0xFF000000) | 464)
    spec = XexSpec(bytes(image), xex.base, xex.entry,
                   imports=[("xboxkrnl.exe", records), ("xam.xex", moved)])  # fmt: skip
    path = tmp / "xam.xex"
    path.write_bytes(build_xex(spec))
    return path


def test_a_xam_import_stops_the_run_by_name(title: Path) -> None:
    run = execute_guest(_with_xam_import(title), title=title)
    assert run.outcome == "fault"
    assert run.fault is not None
    assert run.fault.reason == "not implemented: xam.xex ordinal 464"
    assert run.trace is not None
    assert run.trace.events[-1].kind == "marker"
    calls = [e for e in run.trace.events if e.kind == "kernel.call"]
    assert len(calls) == 1  # NtCreateEvent, kept: the trace up to the stop


def test_a_bad_xex_is_a_load_error_with_one_line(title: Path) -> None:
    bad = title / "bad.xex"
    bad.write_bytes(packed("dup_signal")[:5000])
    with pytest.raises(GuestLoadError, match=r"bad\.xex: .*, at offset \d+$"):
        execute_guest(bad, title=title)
