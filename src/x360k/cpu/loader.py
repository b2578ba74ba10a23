"""Place a guest ELF in the kernel's guest memory and describe what was loaded.

Segments go to their link addresses, which must lie in the Xbox 360 title
range (``guests/guest.ld`` links at 0x82000000); the bytes land in one
GuestMemory region that the CPU shares. The ``.xboxkrnl`` section is read as
the import thunk table, and the optional ``.x360k`` section carries the
guest's name, description and expected outcome as ``key=value`` strings.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from x360k.cpu.elf import ElfError, Symbol, parse_elf
from x360k.cpu.thunks import (
    THUNK_SECTION,
    VARIABLE_SECTION,
    ThunkError,
    decode_thunks,
    decode_variables,
)
from x360k.memory import GuestMemory

#: The title range an image must be linked into.
IMAGE_LOW: Final = 0x82000000
IMAGE_HIGH: Final = 0x90000000
META_SECTION: Final = ".x360k"


@dataclass(slots=True)
class GuestImage:
    """A loaded executable: where it is, its imports and how to name its addresses."""

    name: str
    entry: int
    base: int
    end: int
    #: Thunk address -> export ordinal.
    thunks: dict[int, int]
    symbols: list[Symbol] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    #: Thunk address -> the import it stands for, for imports x360k cannot serve (XEX).
    unresolved: dict[int, str] = field(default_factory=dict)
    #: The image declares TLS (XEX): every thread gets its block when it starts.
    tls: bool = False

    def symbolize(self, address: int) -> str | None:
        """``function+0xoff`` for an address inside a known symbol."""
        starts = [s.value for s in self.symbols]
        i = bisect.bisect_right(starts, address) - 1
        while i >= 0:
            sym = self.symbols[i]
            if sym.value <= address < sym.value + max(sym.size, 1):
                off = address - sym.value
                return sym.name if off == 0 else f"{sym.name}+0x{off:x}"
            if sym.size:
                break
            i -= 1
        thunk = self.thunks.get(address & ~3)
        return None if thunk is None else f"xboxkrnl thunk {thunk}"


def load_image(
    memory: GuestMemory, data: bytes, name: str, variables: Mapping[int, int] | None = None
) -> GuestImage:
    """Map and fill the image's segments; raises ElfError naming what is wrong.

    ``variables`` (ordinal -> guest address) resolves the variable imports.
    """
    elf = parse_elf(data)
    low = min(s.vaddr for s in elf.segments)
    high = max(s.vaddr + s.memsz for s in elf.segments)
    if low < IMAGE_LOW or high > IMAGE_HIGH:
        raise ElfError(
            f"segments span 0x{low:08x}-0x{high:08x}, outside the title range "
            f"0x{IMAGE_LOW:08x}-0x{IMAGE_HIGH:08x} (link with guests/guest.ld)"
        )
    if not low <= elf.entry < high:
        raise ElfError(f"entry point 0x{elf.entry:08x} is outside the loaded segments")
    try:
        region = memory.map(low, high - low, "image")
    except ValueError as exc:
        raise ElfError(f"cannot map the image: {exc}") from None
    for seg in elf.segments:
        off = seg.vaddr - region.base
        region.data[off : off + len(seg.data)] = seg.data
    thunks: dict[int, int] = {}
    section = elf.sections.get(THUNK_SECTION)
    if section is not None and section.size:
        try:
            thunks = {t.address: t.ordinal for t in decode_thunks(section.addr, section.data)}
        except ThunkError as exc:
            raise ElfError(str(exc)) from None
    var_section = elf.sections.get(VARIABLE_SECTION)
    if var_section is not None and var_section.size:
        try:
            imports = decode_variables(var_section.addr, var_section.data)
        except ThunkError as exc:
            raise ElfError(str(exc)) from None
        for imp in imports:
            address = (variables or {}).get(imp.ordinal)
            if address is not None:
                off = imp.address - region.base
                region.data[off : off + 4] = address.to_bytes(4, "big")
    meta: dict[str, str] = {}
    meta_section = elf.sections.get(META_SECTION)
    if meta_section is not None:
        for item in meta_section.data.split(b"\0"):
            key, sep, value = item.decode("utf-8", "replace").partition("=")
            if sep:
                meta[key.strip()] = value
    return GuestImage(name, elf.entry, region.base, region.base + len(region.data), thunks,
                      elf.symbols, meta)  # fmt: skip
