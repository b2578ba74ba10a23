"""Loading a XEX2 into a kernel's guest memory for ``x360k run FILE.xex``.

The image is mapped through the memory manager at its base address and its
imports are resolved the x360k way: each xboxkrnl thunk becomes
``li r0, N; sc; blr; nop`` (the runtime's import convention, docs/cpu.md),
each xboxkrnl variable record gets the address of the kernel variable when
x360k has it (the object types and exports/kernel_variables.py). A thunk
into any other library (xam.xex, xbdm.xex, ...) becomes a stop: calling it ends the run with
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
from x360k.exports.kernel_variables import KERNEL_VARIABLES
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.kernel import Kernel
from x360k.memory import PAGE_SIZE, GuestMemory
from x360k.xex.errors import XexError
from x360k.xex.headers import DEFAULT_STACK_SIZE, TLS_INFO, TlsInfo, tls_info
from x360k.xex.import_names import import_name, is_kernel
from x360k.xex.reader import XexFile, read_xex

NOP: Final = 0x60000000
#: r0 of a thunk x360k cannot serve (li r0, -2): the runtime reports the import by name.
UNRESOLVED_MARKER: Final = 0xFFFFFFFE
#: The title range: canary's 64 KiB-page image heap.
IMAGE_LOW: Final = 0x80000000
IMAGE_HIGH: Final = 0x90000000
#: Bounds on what a title's TLS info may ask of every thread.
MAX_TLS_SLOTS: Final = 2048
MAX_STATIC_TLS: Final = 1 << 20


@dataclass(slots=True)
class LoadedXex:
    image: GuestImage
    xex: XexFile
    stack_size: int | None
    tls: TlsInfo | None = None


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
    if base % PAGE_SIZE:
        # Images are laid out in whole pages; an unaligned base (a damaged header)
        # would put the image's first byte somewhere other than where its code expects.
        raise XexError(f"image base 0x{base:08x} is not on a 0x{PAGE_SIZE:x}-byte page", 0)
    if not base <= xex.entry < base + size:
        raise XexError(f"entry point 0x{xex.entry:08x} is outside the image", 0)
    tls = tls_info(xex.header)
    if tls is not None and tls.slot_count:
        inside = base <= tls.raw_data_address <= base + size - tls.raw_data_size
        if (
            tls.slot_count > MAX_TLS_SLOTS
            or tls.data_size > MAX_STATIC_TLS
            or tls.raw_data_size > tls.data_size
            or (tls.raw_data_size and not inside)
        ):
            raise XexError(
                f"TLS info ({tls.slot_count} slots, {tls.data_size} bytes from "
                f"0x{tls.raw_data_address:08x}) is out of bounds",
                xex.header.optional[TLS_INFO].value,
            )
    try:
        region = memory.map(base, size, "image")
    except ValueError as exc:
        raise XexError(f"cannot map the image at 0x{base:08x}: {exc}", 0) from None
    region.data[: len(xex.image)] = xex.image
    named = [(n, ordinal) for n, (ordinal, _t) in OBJECT_TYPE_EXPORTS.items()]
    named += [(v.name, v.ordinal) for v in KERNEL_VARIABLES]
    variables = {ordinal: data_exports[n] for n, ordinal in named if n in data_exports}
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
    image.tls = tls is not None and tls.slot_count > 0
    return LoadedXex(image, xex, xex.header.value(DEFAULT_STACK_SIZE), tls)


def give_main_stack(kernel: Kernel, stack_size: int) -> None:
    """Give the (not yet started) main thread a stack of the XEX's default stack size.

    Sizes are rounded as ``ExCreateThread`` rounds them (16 KiB at least, whole
    4 KiB pages); a size equal to the kernel's default changes nothing.
    """
    t = kernel.main_thread
    size = max(16 * 1024, (stack_size + 0xFFF) & ~0xFFF)
    if size == t.stack_size:
        return
    mem = kernel.memory
    mem.free_system(t.stack_base - t.stack_size, t.stack_size, 16)
    t.stack_size = size
    t.stack_base = mem.alloc_system(size, 16) + size
    mem.write_u32(t.kthread + 0x5C, t.stack_base)
    mem.write_u32(t.kthread + 0x60, t.stack_base - size)
    mem.write_u32(t.pcr + 0x70, t.stack_base)
    mem.write_u32(t.pcr + 0x74, t.stack_base - size)
    t.gpr[1] = t.stack_base - 0x100


def install_tls(kernel: Kernel, memory_image: bytes | bytearray, base: int, tls: TlsInfo) -> None:
    """Every thread's TLS as the XEX's TLS info says (canary's layout, docs/xex.md).

    ``slot_count`` slots for KeTls*, behind ``data_size`` bytes of static TLS
    (what code reaches through PCR+0) initialised from the image's raw TLS data.
    """
    from x360k.exports.tls import TlsState

    start = tls.raw_data_address - base
    template = bytes(memory_image[start : start + tls.raw_data_size])
    template += bytes(tls.data_size - len(template))
    kernel.ext["tls"] = TlsState(slots=tls.slot_count, extended=tls.data_size, template=template)
