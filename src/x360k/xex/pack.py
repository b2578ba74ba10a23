"""``x360k xex pack``: an x360k guest ELF as a XEX2 conformance title.

The ELF is linked at 0x82000000 with no relocations, so its bytes stay where
they are; the image starts one 64 KiB page lower, at 0x81FF0000, to hold the
PE headers canary's loader looks for at the image base. After the ELF's
bytes (and its bss) comes an import area: for each ``li r0, N; sc`` stub of
the guest's ``.xboxkrnl`` section, a *variable* record (the word N) and a
16-byte *thunk* (the word 0x01000000 | N, then traps), both named in the
xboxkrnl import library. The ELF's stub is rewritten to branch to its thunk,
since a loader rewrites 16 bytes at each thunk and the ELF's stubs are 12
bytes apart. The words of ``.xboxkrnl_var`` (variable imports, each
holding its ordinal) become variable records where they stand. A stub that
opens a frame for arguments 9.. (NtCreateFile, NtQueryDirectoryFile) instead
branches to a small trampoline that calls the thunk and pops the frame.

The guest's ``.x360k`` metadata (name, description, expected outcome) goes
into a read-only PE section of that name, so ``x360k run GUEST.xex`` reports
the same as for the ELF.
"""

from __future__ import annotations

import struct
from typing import Final

from x360k.cpu.elf import ElfError, parse_elf
from x360k.cpu.thunks import (
    BLR,
    THUNK_SECTION,
    VARIABLE_SECTION,
    decode_thunks,
    decode_variables,
)
from x360k.kernel import DEFAULT_STACK
from x360k.xex.errors import XexError
from x360k.xex.pe import (
    SCN_CODE,
    SCN_EXECUTE,
    SCN_INITIALIZED,
    SCN_READ,
    SCN_UNINITIALIZED,
    SCN_WRITE,
)
from x360k.xex.security import SECTION_CODE, SECTION_DATA, SECTION_READONLY
from x360k.xex.writer import PAGE, XexSpec, build_xex, pe_headers

KERNEL_LIBRARY: Final = "xboxkrnl.exe"
TRAP: Final = 0x7FE00008
THUNK_RECORD: Final = 0x01000000
_CODE: Final = SCN_CODE | SCN_EXECUTE | SCN_READ
_RODATA: Final = SCN_INITIALIZED | SCN_READ
_DATA: Final = SCN_INITIALIZED | SCN_READ | SCN_WRITE
_BSS: Final = SCN_UNINITIALIZED | SCN_READ | SCN_WRITE
#: ELF sections -> PE section flags (others are not copied to the section table).
_SECTION_FLAGS: Final = {
    ".text": _CODE,
    THUNK_SECTION: _CODE,
    ".rodata": _RODATA,
    ".data": _DATA,
    VARIABLE_SECTION: _DATA,
    ".bss": _BSS,
}


def _branch(source: int, target: int, link: bool = False) -> int:
    delta = target - source
    if not -(1 << 25) <= delta < 1 << 25:
        raise XexError(f"branch from 0x{source:08x} to 0x{target:08x} is out of range", 0)
    return 0x48000000 | (delta & 0x03FFFFFC) | int(link)


def pack_elf(
    elf_data: bytes,
    *,
    compression: str = "none",
    encryption: str | None = None,
    name: str = "default.exe",
    stack_size: int | None = DEFAULT_STACK,
) -> bytes:
    """The XEX2 for a guest ELF (see the module docstring for the layout)."""
    try:
        elf = parse_elf(elf_data)
    except ElfError as exc:
        raise XexError(f"not an x360k guest ELF: {exc}", 0) from None
    low = min(s.vaddr for s in elf.segments)
    high = max(s.vaddr + s.memsz for s in elf.segments)
    if low % PAGE:
        raise XexError(f"ELF image starts at 0x{low:08x}, not on a 64 KiB page", 0)
    base = low - PAGE
    section = elf.sections.get(THUNK_SECTION)
    thunks = decode_thunks(section.addr, section.data) if section is not None else []
    imports_at = (high + 15) & ~15
    records_at = imports_at
    slots_at = (records_at + 4 * len(thunks) + 15) & ~15
    tramps_at = slots_at + 16 * len(thunks)
    meta = elf.sections.get(".x360k")
    # Wide stubs (a frame for arguments 9..) get a trampoline each; plain ones branch directly.
    code: dict[int, int] = {}  # address -> word to write
    tramp_words: list[int] = []
    records: list[int] = []
    for i, thunk in enumerate(thunks):
        record, slot = records_at + 4 * i, slots_at + 16 * i
        records += [record, slot]
        after = _word_at(elf, thunk.address + 8)
        if after == BLR:
            code[thunk.address] = _branch(thunk.address, slot)
        else:
            tramp = tramps_at + 4 * len(tramp_words)
            code[thunk.address] = _branch(thunk.address, tramp)
            tramp_words += [
                0x7D8802A6,  # mflr r12
                0x91810074,  # stw r12, 0x74(r1): the caller's LR save word
                _branch(tramp + 8, slot, link=True),
                0x81810074,  # lwz r12, 0x74(r1)
                0x7D8803A6,  # mtlr r12
                after,  # the stub's own frame pop (addi r1, r1, N)
                BLR,
            ]
    variables = elf.sections.get(VARIABLE_SECTION)
    if variables is not None and variables.size:
        # Each word already holds its ordinal: it is a variable record where it stands.
        records += [v.address for v in decode_variables(variables.addr, variables.data)]
    meta_at = tramps_at + 4 * len(tramp_words)
    meta_bytes = meta.data if meta is not None else b""
    end = meta_at + len(meta_bytes)
    size = (end - base + PAGE - 1) // PAGE * PAGE
    image = bytearray(size)
    for seg in elf.segments:
        off = seg.vaddr - base
        image[off : off + len(seg.data)] = seg.data
    for address, word in code.items():
        struct.pack_into(">I", image, address - base, word)
    for i, thunk in enumerate(thunks):
        struct.pack_into(">I", image, records_at + 4 * i - base, thunk.ordinal)
        struct.pack_into(
            ">IIII", image, slots_at + 16 * i - base, THUNK_RECORD | thunk.ordinal, TRAP, TRAP, TRAP
        )
    for i, word in enumerate(tramp_words):
        struct.pack_into(">I", image, tramps_at + 4 * i - base, word)
    image[meta_at - base : end - base] = meta_bytes
    sections = [
        (n, s.addr, s.size, _SECTION_FLAGS[n])
        for n, s in sorted(elf.sections.items(), key=lambda kv: kv[1].addr)
        if n in _SECTION_FLAGS and s.size
    ]
    sections.append((".idata", imports_at, meta_at - imports_at, _CODE | SCN_INITIALIZED))
    if meta_bytes:
        sections.append((".x360k", meta_at, len(meta_bytes), _RODATA))
    headers = pe_headers(base, elf.entry, size, sections)
    image[: len(headers)] = headers
    # Pages: headers read-only; a page holding any code is code (canary executes only
    # code pages and maps them read-only: see docs/xex.md); the rest data.
    kinds = [SECTION_READONLY] + [SECTION_DATA] * (size // PAGE - 1)
    for _n, addr, length, flags in sections:
        if flags & SCN_EXECUTE:
            for p in range((addr - base) // PAGE, (addr + max(length, 1) - 1 - base) // PAGE + 1):
                kinds[p] = SECTION_CODE
    pages: list[tuple[int, int]] = []
    for kind in kinds:
        if pages and pages[-1][0] == kind:
            pages[-1] = (kind, pages[-1][1] + 1)
        else:
            pages.append((kind, 1))
    spec = XexSpec(
        image=bytes(image),
        base=base,
        entry=elf.entry,
        imports=[(KERNEL_LIBRARY, records)] if records else [],
        pages=pages,
        compression=compression,
        encryption=encryption,
        stack_size=stack_size,
        pe_name=name,
    )
    return build_xex(spec)


def _word_at(elf: object, address: int) -> int:
    from x360k.cpu.elf import ElfImage

    assert isinstance(elf, ElfImage)
    for seg in elf.segments:
        if seg.vaddr <= address < seg.vaddr + len(seg.data) - 3:
            value: int = struct.unpack_from(">I", seg.data, address - seg.vaddr)[0]
            return value
    return 0
