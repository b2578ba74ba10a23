"""The loaded modules as the loader exports see them: one loader entry each, in guest memory.

An HMODULE is the guest address of a module's ``LDR_DATA_TABLE_ENTRY``
(0x64 bytes; the fields x360k fills are the ones canary fills):

* +0x18 dll_base (0 for a title, as canary leaves it), +0x1C image_base,
  +0x38 full_image_size, +0x3C entry_point, +0x40 load_count (u16),
* +0x48 checksum: canary keeps the module's kernel handle there (the
  executable module's start-up slot, quirk ``canary_startup_objects``);
  x360k writes it when that object exists and 0 otherwise,
* +0x58 xex_header_base: the module's XEX header in guest memory.

At start-up every kernel gets the kernel modules (``xboxkrnl.exe``,
``xam.xex``, ``xbdm.xex``: no header, never unloaded) and a title module,
``default.xex``, with a synthesised XEX header (entry point and image base 0,
no other keys) so a scenario that asks the loader exports gets consistent
answers. ``x360k run`` then describes the real title: a XEX's own header
(:mod:`x360k.xex.module_info`), or for an ELF a synthesised header with its
entry point, base and size (:func:`describe_title`). Everything sits at fixed
offsets of the kernel data region, so none of it moves a later allocation.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports import kernel_variables as V
from x360k.memory import GuestMemoryError
from x360k.objects.base import Module

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.memory import GuestMemory

EXT_KEY: Final = "modules"
LDR_SIZE: Final = 0x64
LDR_DLL_BASE: Final = 0x18
LDR_IMAGE_BASE: Final = 0x1C
LDR_FULL_IMAGE_SIZE: Final = 0x38
LDR_ENTRY_POINT: Final = 0x3C
LDR_LOAD_COUNT: Final = 0x40
LDR_CHECKSUM: Final = 0x48
LDR_XEX_HEADER: Final = 0x58
#: Loader entries and the synthesised title header, in the kernel data region.
LDR_AREA: Final = 0x1000
LDR_STRIDE: Final = 0x80
LDR_SLOTS: Final = 64
SYNTH_HEADER_OFFSET: Final = 0x3000
SYNTH_HEADER_SIZE: Final = 0x200
SYNTH_SECURITY_OFFSET: Final = 0x100
#: XEX keys the synthesised header carries.
KEY_ENTRY_POINT: Final = 0x00010100
KEY_IMAGE_BASE: Final = 0x00010201
KEY_SYSTEM_FLAGS: Final = 0x00030000
MODULE_FLAG_TITLE: Final = 0x1
#: At most this many optional headers are scanned (a header's own bound is its size).
MAX_OPTIONAL_HEADERS: Final = 0x1FFD
KERNEL_MODULES: Final = ("xboxkrnl.exe", "xam.xex", "xbdm.xex")
TITLE_DEVICE: Final = "\\Device\\Cdrom0\\"


@dataclass(slots=True)
class LoadedModule:
    """One module: its names, its loader entry and what its header says."""

    #: File name as a title names it ("default.xex", "xboxkrnl.exe").
    name: str
    #: Guest path ("\\Device\\Cdrom0\\default.xex", "xe:\\xboxkrnl.exe").
    path: str
    hmodule: int
    kernel: bool
    header_address: int = 0
    base: int = 0
    entry: int = 0
    image_size: int = 0

    def matches(self, wanted: str) -> bool:
        """Canary's rule: the path's file name, the base name or the whole path, any case."""
        w = wanted.casefold()
        file_name = self.path.rsplit("\\", 1)[-1].casefold()
        stem = file_name.rsplit(".", 1)[0]
        return w in (file_name, stem, self.path.casefold())


@dataclass(slots=True)
class ModuleTable:
    modules: list[LoadedModule] = field(default_factory=list)
    executable: LoadedModule | None = None
    #: Loader-entry slots handed out in the kernel data region.
    used_slots: int = 0

    def by_hmodule(self, hmodule: int) -> LoadedModule | None:
        for m in self.modules:
            if m.hmodule == hmodule:
                return m
        return None

    def find(self, name: str) -> LoadedModule | None:
        for m in self.modules:
            if m.matches(name):
                return m
        return None


def modules_of(k: KernelState) -> ModuleTable:
    table = k.ext.get(EXT_KEY)
    if not isinstance(table, ModuleTable):
        raise RuntimeError("the kernel has no module table (install() was not run)")
    return table


def install(k: KernelState, region_base: int) -> None:
    """Variables, kernel modules and the default title module, written at start-up."""
    V.install(k, region_base)
    table = ModuleTable()
    k.ext[EXT_KEY] = table
    k.ext["kernel_data_base"] = region_base
    for name in KERNEL_MODULES:
        table.modules.append(LoadedModule(name, "xe:\\" + name, _new_ldr(k, table), kernel=True))
    title = LoadedModule("default.xex", TITLE_DEVICE + "default.xex", _new_ldr(k, table), False)
    table.modules.append(title)
    table.executable = title
    header = region_base + SYNTH_HEADER_OFFSET
    write_synthetic_header(k.memory, header, 0, 0, 0)
    title.header_address = header
    write_ldr(k, title)
    k.memory.write_u32(k.data_exports["XexExecutableModuleHandle"], title.hmodule)
    V.set_loaded_image(k, title.path, title.name)


def _new_ldr(k: KernelState, table: ModuleTable) -> int:
    """A zeroed loader entry: a fixed slot while they last, then kernel memory."""
    if table.used_slots < LDR_SLOTS:
        address = int(k.ext["kernel_data_base"]) + LDR_AREA + LDR_STRIDE * table.used_slots
        table.used_slots += 1
    else:
        address = k.memory.alloc_system(LDR_SIZE, 16)
    k.memory.fill(address, LDR_SIZE)
    return address


def new_module(k: KernelState, name: str, path: str) -> LoadedModule:
    """A module with a fresh loader entry (its load count 0), added to the table."""
    table = modules_of(k)
    module = LoadedModule(name, path, _new_ldr(k, table), kernel=False)
    table.modules.append(module)
    return module


def write_ldr(k: KernelState, m: LoadedModule) -> None:
    """The loader-entry fields canary fills, from the module's record."""
    mem = k.memory
    mem.write_u32(m.hmodule + LDR_DLL_BASE, 0)
    mem.write_u32(m.hmodule + LDR_IMAGE_BASE, m.base)
    mem.write_u32(m.hmodule + LDR_FULL_IMAGE_SIZE, m.image_size)
    mem.write_u32(m.hmodule + LDR_ENTRY_POINT, m.entry)
    mem.write_u32(m.hmodule + LDR_CHECKSUM, _module_handle(k, m))
    mem.write_u32(m.hmodule + LDR_XEX_HEADER, m.header_address)


def _module_handle(k: KernelState, m: LoadedModule) -> int:
    """The handle of the start-up Module object naming ``m`` (canary only), else 0."""
    for handle, obj in k.table.live_handles():
        if isinstance(obj, Module) and obj.module_name == "default.xex" and not m.kernel:
            return handle
    return 0


def write_synthetic_header(mem: GuestMemory, at: int, base: int, entry: int, size: int) -> None:
    """A minimal XEX2 header: title flags, entry point, image base, image size.

    Enough for every reader of a header in guest memory (RtlImageXexHeaderField,
    XexCheckExecutablePrivilege, a title walking its own header): the magic,
    the fixed fields, two optional headers and a security info whose image
    size is the image's.
    """
    mem.fill(at, SYNTH_HEADER_SIZE)
    fixed = struct.pack(
        ">4sIIIII", b"XEX2", MODULE_FLAG_TITLE, SYNTH_HEADER_SIZE, 0, SYNTH_SECURITY_OFFSET, 2
    )
    mem.write_bytes(at, fixed)
    mem.write_bytes(at + 0x18, struct.pack(">IIII", KEY_ENTRY_POINT, entry, KEY_IMAGE_BASE, base))
    mem.write_u32(at + SYNTH_SECURITY_OFFSET, 0x184)
    mem.write_u32(at + SYNTH_SECURITY_OFFSET + 4, size)


def describe_title(
    k: KernelState, name: str, base: int, entry: int, size: int, header: int | None = None
) -> LoadedModule:
    """The running title, once ``x360k run`` has mapped it: name, image, header.

    ``header`` is the guest address of the title's own XEX header; without
    one (an ELF) the synthesised header is rewritten with the image's facts.
    The variables that name the title (ExLoadedImageName, ExLoadedCommandLine)
    follow.
    """
    table = modules_of(k)
    title = table.executable
    assert title is not None
    title.name = name
    title.path = TITLE_DEVICE + name
    title.base, title.entry, title.image_size = base, entry, size
    if header is None:
        header = int(k.ext["kernel_data_base"]) + SYNTH_HEADER_OFFSET
        write_synthetic_header(k.memory, header, base, entry, size)
    title.header_address = header
    write_ldr(k, title)
    V.set_loaded_image(k, title.path, title.name)
    return title


def header_field(mem: GuestMemory, header: int, key: int) -> int | None:
    """What RtlImageXexHeaderField answers for ``key`` in the header at ``header``.

    Keys ending 0x00 give the value word itself, 0x01 the address of the value
    word, any other the header's address plus the word (an offset). None when
    the header lacks the key; an unreadable header lacks every key.
    """
    try:
        count = mem.read_u32(header + 0x14)
        for i in range(min(count, MAX_OPTIONAL_HEADERS)):
            at = header + 0x18 + 8 * i
            if mem.read_u32(at) != key:
                continue
            low = key & 0xFF
            if low == 0x00:
                return mem.read_u32(at + 4)
            if low == 0x01:
                return (at + 4) & 0xFFFFFFFF
            return (header + mem.read_u32(at + 4)) & 0xFFFFFFFF
    except GuestMemoryError:
        return None
    return None
