"""A reader for the static big-endian 32-bit PowerPC ELF executables x360k runs.

Only what the loader needs: loadable segments, the entry point, named
sections (the import thunks, the guest's metadata) and function symbols for
fault reports. Anything else about the file is checked and rejected with a
sentence saying what is wrong, never a traceback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

ELF_MAGIC: Final = b"\x7fELF"
ELFCLASS32: Final = 1
ELFDATA2MSB: Final = 2
ET_EXEC: Final = 2
EM_PPC: Final = 20
PT_LOAD: Final = 1
PT_DYNAMIC: Final = 2
PT_INTERP: Final = 3
SHT_SYMTAB: Final = 2
SHT_NOBITS: Final = 8
STT_FUNC: Final = 2
STT_OBJECT: Final = 1

_HEADER = struct.Struct(">16sHHIIIIIHHHHHH")
_PHDR = struct.Struct(">8I")
_SHDR = struct.Struct(">10I")
_SYM = struct.Struct(">IIIBBH")


class ElfError(ValueError):
    """The file is not a static big-endian 32-bit PowerPC executable x360k can load."""


@dataclass(frozen=True, slots=True)
class Segment:
    vaddr: int
    data: bytes
    memsz: int
    flags: int


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    addr: int
    data: bytes
    size: int


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    value: int
    size: int
    kind: int


@dataclass(slots=True)
class ElfImage:
    entry: int
    segments: list[Segment]
    sections: dict[str, Section] = field(default_factory=dict)
    symbols: list[Symbol] = field(default_factory=list)


def parse_elf(data: bytes) -> ElfImage:
    """Parse ``data`` as a static ELF32 big-endian PowerPC executable."""
    if len(data) < _HEADER.size or data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file")
    (ident, e_type, machine, _version, entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, shnum, shstrndx) = _HEADER.unpack_from(data, 0)  # fmt: skip
    if ident[4] != ELFCLASS32 or ident[5] != ELFDATA2MSB:
        raise ElfError("not a 32-bit big-endian ELF (build the guest with -m32, big-endian)")
    if machine != EM_PPC:
        raise ElfError(f"ELF machine {machine} is not 32-bit PowerPC (20)")
    if e_type != ET_EXEC:
        raise ElfError("not a static executable (ELF type must be EXEC; link with -static)")
    segments: list[Segment] = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + _PHDR.size > len(data):
            raise ElfError(f"program header {i} lies beyond the end of the file")
        p_type, p_off, vaddr, _paddr, filesz, memsz, flags, _align = _PHDR.unpack_from(data, off)
        if p_type in (PT_DYNAMIC, PT_INTERP):
            raise ElfError("dynamically linked executables are not supported; link with -static")
        if p_type != PT_LOAD or memsz == 0:
            continue
        if p_off + filesz > len(data) or filesz > memsz:
            raise ElfError(f"segment {i} at 0x{vaddr:08x} is truncated")
        if vaddr + memsz > 1 << 32:
            raise ElfError(f"segment {i} at 0x{vaddr:08x} runs past 4 GiB")
        segments.append(Segment(vaddr, bytes(data[p_off : p_off + filesz]), memsz, flags))
    if not segments:
        raise ElfError("no loadable segments")
    image = ElfImage(entry, segments)
    if shoff and shnum:
        _read_sections(data, image, shoff, shentsize, shnum, shstrndx)
    return image


def _read_sections(
    data: bytes, image: ElfImage, shoff: int, shentsize: int, shnum: int, shstrndx: int
) -> None:
    headers = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if off + _SHDR.size > len(data):
            raise ElfError(f"section header {i} lies beyond the end of the file")
        headers.append(_SHDR.unpack_from(data, off))
    if shstrndx >= len(headers):
        raise ElfError("section name table index out of range")
    names = _body(data, headers[shstrndx])
    for h in headers:
        name = _string(names, h[0])
        body = b"" if h[1] == SHT_NOBITS else _body(data, h)
        image.sections[name] = Section(name, h[3], body, h[5])
        if h[1] == SHT_SYMTAB and h[6] < len(headers):
            strings = _body(data, headers[h[6]])
            for off in range(0, len(body) - _SYM.size + 1, _SYM.size):
                st_name, value, size, info, _other, _shndx = _SYM.unpack_from(body, off)
                kind = info & 0xF
                if kind in (STT_FUNC, STT_OBJECT) and st_name:
                    image.symbols.append(Symbol(_string(strings, st_name), value, size, kind))
    image.symbols.sort(key=lambda s: s.value)


def _body(data: bytes, header: tuple[int, ...]) -> bytes:
    offset, size = header[4], header[5]
    if offset + size > len(data):
        raise ElfError("a section lies beyond the end of the file")
    return bytes(data[offset : offset + size])


def _string(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    return table[offset : end if end >= 0 else len(table)].decode("latin-1")
