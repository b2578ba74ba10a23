"""Loading a XEX2 into a kernel's guest memory for ``x360k run FILE.xex``.

The image is mapped through the memory manager at its base address and its
imports are resolved the x360k way: each xboxkrnl thunk becomes
``li r0, N; sc; blr; nop`` (the runtime's import convention, docs/cpu.md),
each xboxkrnl variable record gets the address of the kernel variable when
x360k has it (the object types). A thunk into any other library (xam.xex,
xbdm.xex, ...) becomes a stop: calling it ends the run with
``not implemented: NAME (ordinal N)``, as does an xboxkrnl ordinal x360k
lacks. The result is the same :class:`~x360k.cpu.loader.GuestImage` an ELF
gives, so the runtime and the runner need nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from x360k.cpu.loader import GuestImage
from x360k.cpu.thunks import BLR, LI_R0, SC
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.memory import GuestMemory
from x360k.xex.errors import XexError
from x360k.xex.headers import DEFAULT_STACK_SIZE
from x360k.xex.import_names import import_name, is_kernel
from x360k.xex.reader import XexFile, read_xex

NOP: Final = 0x60000000
#: r0 of a thunk x360k cannot serve (li r0, -2): the runtime reports the import by name.
UNRESOLVED_MARKER: Final = 0xFFFFFFFE
#: The title range: canary's 64 KiB-page image heap.
IMAGE_LOW: Final = 0x80000000
IMAGE_HIGH: Final = 0x90000000


@dataclass(slots=True)
class LoadedXex:
    image: GuestImage
    xex: XexFile
    stack_size: int | None


def load_xex_image(
    memory: GuestMemory,
    data: bytes,
    name: str,
    exports: dict[int, str],
    data_exports: dict[str, int],
) -> LoadedXex:
    """Map and resolve a XEX2; ``exports`` are x360k's (ordinal -> name)."""
    xex = read_xex(data)
    base = xex.base
    size = (len(xex.image) + 0xFFFF) & ~0xFFFF
    if base < IMAGE_LOW or base + size > IMAGE_HIGH:
        raise XexError(
            f"image at 0x{base:08x}-0x{base + size:08x} is outside the title range "
            f"0x{IMAGE_LOW:08x}-0x{IMAGE_HIGH:08x}",
            0,
        )
    if not base <= xex.entry < base + size:
        raise XexError(f"entry point 0x{xex.entry:08x} is outside the image", 0)
    try:
        region = memory.map(base, size, "image")
    except ValueError as exc:
        raise XexError(f"cannot map the image at 0x{base:08x}: {exc}", 0) from None
    region.data[: len(xex.image)] = xex.image
    variables = {
        ordinal: data_exports[n]
        for n, (ordinal, _t) in OBJECT_TYPE_EXPORTS.items()
        if n in data_exports
    }
    thunks: dict[int, int] = {}
    unresolved: dict[int, str] = {}
    for record in xex.records:
        off = record.address - base
        kernel = is_kernel(record.library)
        if record.kind == "variable":
            if kernel and record.ordinal in variables:
                struct.pack_into(">I", region.data, off, variables[record.ordinal])
            continue
        if kernel and record.ordinal in exports:
            words = (LI_R0 | record.ordinal, SC, BLR, NOP)
            thunks[record.address] = record.ordinal
        else:
            words = (LI_R0 | (UNRESOLVED_MARKER & 0xFFFF), SC, BLR, NOP)
            unresolved[record.address] = import_name(record.library, record.ordinal)
        struct.pack_into(">IIII", region.data, off, *words)
    meta: dict[str, str] = {}
    for section in xex.pe.sections:
        if section.name == ".x360k":
            start = section.virtual_address
            for item in bytes(xex.image[start : start + section.virtual_size]).split(b"\0"):
                key, sep, value = item.decode("utf-8", "replace").partition("=")
                if sep:
                    meta[key.strip()] = value
    image = GuestImage(name, xex.entry, base, base + size, thunks, [], meta, unresolved)
    return LoadedXex(image, xex, xex.header.value(DEFAULT_STACK_SIZE))
