from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.cpu.conftest import GUESTS
from x360k.cpu.elf import ElfError, parse_elf


def test_parses_a_guest_fixture() -> None:
    image = parse_elf((GUESTS / "bin" / "dup_signal.elf").read_bytes())
    assert image.segments and image.segments[0].vaddr == 0x82000000
    names = {s.name for s in image.symbols}
    assert {"_start", "NtCreateEvent", "NtDuplicateObject"} <= names
    start = next(s for s in image.symbols if s.name == "_start")
    assert image.entry == start.value
    assert ".xboxkrnl" in image.sections and ".x360k" in image.sections


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"MZ" + d[2:], "not an ELF"),
        (lambda d: d[:4] + b"\x02" + d[5:], "32-bit big-endian"),
        (lambda d: d[:18] + struct.pack(">H", 3) + d[20:], "not 32-bit PowerPC"),
        (lambda d: d[:16] + struct.pack(">H", 3) + d[18:], "not a static executable"),
        (lambda d: d[:60], "beyond the end"),
    ],
)
def test_rejects_what_it_cannot_load(mutate: object, message: str) -> None:
    data = (GUESTS / "bin" / "compute.elf").read_bytes()
    with pytest.raises(ElfError, match=message):
        parse_elf(mutate(data))  # type: ignore[operator]


def test_fixture_paths_exist() -> None:
    assert Path(GUESTS / "xboxkrnl.h").is_file() and Path(GUESTS / "guest.ld").is_file()
