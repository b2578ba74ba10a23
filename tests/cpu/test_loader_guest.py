"""The loader guest: loader exports and kernel variables from PowerPC code, ELF and XEX."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from x360k.cpu.elf import ElfError, parse_elf
from x360k.cpu.loader import load_image
from x360k.cpu.runner import execute_guest
from x360k.cpu.thunks import VARIABLE_SECTION
from x360k.exports import module_table as M
from x360k.memory import GuestMemory
from x360k.quirks import PROFILES, Profile
from x360k.xex.pack import pack_elf
from x360k.xex.reader import read_xex

from .conftest import GUESTS

LOADER = GUESTS / "bin" / "loader.elf"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_check_passes_in_the_elf(profile: Profile) -> None:
    run = execute_guest(LOADER, profile=profile)
    assert run.outcome == "finished"
    assert run.kernel.threads[0].exit_code == 0  # no check's bit set
    k = run.kernel
    # The variable imports now hold the variables' addresses.
    elf = parse_elf(LOADER.read_bytes())
    section = elf.sections[VARIABLE_SECTION]
    words = [k.memory.read_u32(section.addr + 4 * i) for i in range(section.size // 4)]
    assert k.data_exports["XboxKrnlVersion"] in words
    assert k.data_exports["XexExecutableModuleHandle"] in words
    title = M.modules_of(k).executable
    assert title is not None and title.name == "loader.elf"
    assert (title.base, title.entry) == (run.image.base, run.image.entry)
    assert k.memory.read_cstring(k.data_exports["ExLoadedCommandLine"]) == b'"loader.xex"'
    image_name = k.memory.read_cstring(k.data_exports["ExLoadedImageName"])
    assert image_name == b"\\Device\\Cdrom0\\loader.elf"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_check_passes_in_the_xex(profile: Profile, tmp_path: Path) -> None:
    data = pack_elf(LOADER.read_bytes(), name="loader.exe")
    xex = read_xex(data)
    variables = [r for r in xex.records if r.kind == "variable" and r.ordinal == 0x158]
    assert variables  # XboxKrnlVersion became a variable record where its word stands
    path = tmp_path / "loader.xex"
    path.write_bytes(data)
    run = execute_guest(path, profile=profile, title=tmp_path)
    assert run.outcome == "finished"
    assert run.kernel.threads[0].exit_code == 0
    title = M.modules_of(run.kernel).executable
    assert title is not None
    # The loader entry points at the title's own header, copied into guest memory.
    header = run.kernel.memory.read_u32(title.hmodule + M.LDR_XEX_HEADER)
    assert run.kernel.memory.read_bytes(header, 0x18) == data[:0x18]


def _with_variable_words(words: list[int]) -> bytes:
    """The loader ELF with its variable words replaced (found by the segment's bytes)."""
    data = bytearray(LOADER.read_bytes())
    elf = parse_elf(bytes(data))
    section = elf.sections[VARIABLE_SECTION]
    seg = next(s for s in elf.segments if s.vaddr <= section.addr < s.vaddr + len(s.data))
    offset = bytes(data).index(seg.data) + section.addr - seg.vaddr
    for i, word in enumerate(words):
        struct.pack_into(">I", data, offset + 4 * i, word)
    return bytes(data)


def test_unknown_and_bad_variable_words() -> None:
    section = parse_elf(LOADER.read_bytes()).sections[VARIABLE_SECTION]
    count = section.size // 4
    memory = GuestMemory()
    load_image(memory, _with_variable_words([0x7FF] * count), "x.elf", {0x158: 0x80040400})
    assert memory.read_u32(section.addr) == 0x7FF  # an ordinal with no variable: left alone
    with pytest.raises(ElfError, match="not an ordinal"):
        load_image(GuestMemory(), _with_variable_words([0x80000000] * count), "x.elf", {})
