from __future__ import annotations

import struct

import pytest

from tests.cpu.conftest import GUESTS
from x360k.cpu.thunks import SC, ThunkError, decode_thunks, encode_thunk, return_stub
from x360k.exports.table import all_exports


def test_encode_decode_round_trip() -> None:
    data = encode_thunk(0xD) + encode_thunk(0x101)
    thunks = decode_thunks(0x82000100, data)
    assert [(t.address, t.ordinal) for t in thunks] == [(0x82000100, 0xD), (0x8200010C, 0x101)]


def test_wide_stub_is_found_after_its_prologue() -> None:
    prologue = struct.pack(">II", 0x9421FF90, 0x81610078)  # stwu r1,-0x70(r1); lwz r11,0x78(r1)
    thunks = decode_thunks(0x1000, prologue + encode_thunk(210))
    assert [(t.address, t.ordinal) for t in thunks] == [(0x1008, 210)]


def test_section_without_stubs_is_refused() -> None:
    with pytest.raises(ThunkError, match="no 'li r0, N; sc'"):
        decode_thunks(0, struct.pack(">II", 0x60000000, 0x4E800020))


def test_return_stub_marks_with_minus_one() -> None:
    li, sc, _ = struct.unpack(">III", return_stub())
    assert li == 0x3800FFFF and sc == SC


def test_header_imports_agree_with_the_registry() -> None:
    """Every X360K_IMPORT line in guests/xboxkrnl.h names a known export by its ordinal."""
    known = {ex.name: ex.ordinal for ex in all_exports()}
    text = (GUESTS / "xboxkrnl.h").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("X360K_IMPORT")]
    assert len(lines) > 20
    for line in lines:
        inner = line[line.index("(") + 1 : line.rindex(")")]
        ordinal, name = (part.strip() for part in inner.split(",")[:2])
        assert known.get(name) == int(ordinal), line
