"""The PE image inside a XEX2 basefile: the checks canary makes and its section table.

The basefile is the image laid out as in memory (a section's bytes at its
virtual address), starting with ordinary little-endian PE headers: ``MZ``,
``PE\\0\\0``, machine 0x01F2 (big-endian PowerPC) with the 32-bit flag, a
224-byte PE32 optional header and the Xbox subsystem (14). A basefile that
fails them was decrypted with the wrong key or is corrupt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

MACHINE_POWERPCBE: Final = 0x01F2
FILE_32BIT_MACHINE: Final = 0x0100
OPTIONAL_HEADER_SIZE: Final = 224
PE32_MAGIC: Final = 0x10B
SUBSYSTEM_XBOX: Final = 14
SCN_CODE: Final = 0x00000020
SCN_INITIALIZED: Final = 0x00000040
SCN_UNINITIALIZED: Final = 0x00000080
SCN_EXECUTE: Final = 0x20000000
SCN_READ: Final = 0x40000000
SCN_WRITE: Final = 0x80000000
SECTION_HEADER: Final = struct.Struct("<8sIIIIIIHHI")


class PeError(ValueError):
    """The basefile's PE headers are not an Xbox 360 image (``offset`` in the basefile)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class PeSection:
    name: str
    #: Relative to the image base.
    virtual_address: int
    virtual_size: int
    raw_address: int
    raw_size: int
    flags: int

    @property
    def access(self) -> str:
        f = self.flags
        return "".join(
            c if f & bit else "-"
            for c, bit in (("r", SCN_READ), ("w", SCN_WRITE), ("x", SCN_EXECUTE))
        )


@dataclass(slots=True)
class PeImage:
    image_base: int
    entry_rva: int
    size_of_image: int
    sections: list[PeSection] = field(default_factory=list)


def parse_pe(image: bytes | bytearray) -> PeImage:
    """Check the PE headers as canary's loader does and read the section table."""
    if len(image) < 0x40 or image[:2] != b"MZ":
        raise PeError("the basefile does not start with a PE 'MZ' header", 0)
    (lfanew,) = struct.unpack_from("<I", image, 0x3C)
    if lfanew + 24 + OPTIONAL_HEADER_SIZE > len(image):
        raise PeError("the PE header lies past the end of the image", 0x3C)
    if image[lfanew : lfanew + 4] != b"PE\0\0":
        raise PeError("no 'PE' signature where the MZ header points", lfanew)
    machine, nsections, _time, _sym, _nsym, opt_size, characteristics = struct.unpack_from(
        "<HHIIIHH", image, lfanew + 4
    )
    if machine != MACHINE_POWERPCBE or not characteristics & FILE_32BIT_MACHINE:
        raise PeError(f"PE machine 0x{machine:04x} is not 32-bit big-endian PowerPC", lfanew + 4)
    if opt_size != OPTIONAL_HEADER_SIZE:
        raise PeError(f"PE optional header is {opt_size} bytes, not 224", lfanew + 20)
    opt = lfanew + 24
    (magic,) = struct.unpack_from("<H", image, opt)
    if magic != PE32_MAGIC:
        raise PeError(f"PE optional header magic 0x{magic:x} is not PE32", opt)
    (entry,) = struct.unpack_from("<I", image, opt + 16)
    (image_base,) = struct.unpack_from("<I", image, opt + 28)
    (size_of_image,) = struct.unpack_from("<I", image, opt + 56)
    (subsystem,) = struct.unpack_from("<H", image, opt + 68)
    if subsystem != SUBSYSTEM_XBOX:
        raise PeError(f"PE subsystem {subsystem} is not Xbox (14)", opt + 68)
    pe = PeImage(image_base, entry, size_of_image)
    table = opt + OPTIONAL_HEADER_SIZE
    for i in range(nsections):
        at = table + SECTION_HEADER.size * i
        if at + SECTION_HEADER.size > len(image):
            raise PeError(f"PE section header {i} lies past the end of the image", at)
        name, vsize, vaddr, raw_size, raw_addr, _r, _l, _nr, _nl, flags = (
            SECTION_HEADER.unpack_from(image, at)
        )
        pe.sections.append(
            PeSection(
                name.split(b"\0")[0].decode("latin-1"), vaddr, vsize, raw_addr, raw_size, flags
            )
        )
    return pe
