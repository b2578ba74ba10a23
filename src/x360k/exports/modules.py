"""Loader exports: module handles, sections, procedure addresses, loading and unloading.

Every answer comes from the module table (:mod:`x360k.exports.module_table`)
and the headers in guest memory, so a title that walks its own XEX header
and one that asks the kernel see the same facts. The statuses are canary's
(xboxkrnl_modules.cc), which mix Win32 error codes (``XexGetModuleHandle``,
``XexLoadImage`` with no out pointer) with NTSTATUS values.

Loading a module that is not loaded yet reads a XEX2 through the title's
file system (``XexLoadImage``) or from guest memory
(``XexLoadImageFromMemory``) and maps it as ``x360k run`` maps a title: at
its base, imports resolved. Canary then runs a DLL's entry point with
DLL_PROCESS_ATTACH; x360k does not run guest code from inside a call, so a
DLL that needs its DllMain must be started by the title (docs/xex.md).
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Final

from x360k.exports import module_table as M
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.memory import GuestMemoryError
from x360k.status import (
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("modules")

#: Win32 codes canary returns from some loader calls.
ERROR_INVALID_PARAMETER: Final = 0x57
ERROR_NOT_FOUND: Final = 0x490
STATUS_INVALID_IMAGE_FORMAT: Final = 0xC000007B
STATUS_NOT_FOUND: Final = 0xC0000225
STATUS_DRIVER_ENTRYPOINT_NOT_FOUND: Final = 0xC0000263
RESOURCE_INFO: Final = 0x000002FF
SYSTEM_FLAGS: Final = 0x00030000
EXPORTS_BY_NAME: Final = 0x00E10402
#: Security info: where the export table's address is.
SECURITY_EXPORT_TABLE: Final = 0x160
#: XexLoadImageHeaders: the first read, and the bounds on a header's size.
HEADER_CHUNK: Final = 0x800
MAX_HEADER_SIZE: Final = 0x10000
#: Longest module name or path read from the guest.
NAME_LIMIT: Final = 260
#: Largest image XexLoadImageFromMemory reads (the console's title memory).
MAX_IMAGE_BYTES: Final = 512 << 20
#: FILE_READ_DATA | GENERIC_READ: how the loader opens a module's file.
GENERIC_READ: Final = 0x80000001
#: Kernel-export thunks handed out by XexGetProcedureAddress (li r0, N; sc; blr; nop).
THUNK_BASE: Final = 0x80FE0000
THUNK_SIZE: Final = 16
THUNK_PAGE: Final = 0x10000


def _name(k: KernelState, ptr: int) -> str:
    return k.memory.read_cstring(ptr, NAME_LIMIT).decode("latin-1")


@GROUP.export(
    "XexCheckExecutablePrivilege", 0x194, Param("privilege", K.U32), returns=Returns.VALUE
)
def xex_check_executable_privilege(k: KernelState, t: Thread, privilege: int) -> int:
    """Whether bit ``privilege`` of the title's system flags is set (1) or not (0)."""
    title = M.modules_of(k).executable
    if title is None or not title.header_address:
        return 0
    flags = M.header_field(k.memory, title.header_address, SYSTEM_FLAGS) or 0
    return 1 if flags & (1 << (privilege & 31)) else 0


@GROUP.export(
    "XexGetModuleHandle",
    0x195,
    Param("module_name", K.PTR, optional=True),
    Param("hmodule", K.OUT_U32),
)
def xex_get_module_handle(k: KernelState, t: Thread, name_ptr: int, out: int) -> int:
    """The HMODULE of a loaded module by name (the title for NULL or ""), not retained."""
    k.memory.require(out, 4)
    table = M.modules_of(k)
    name = _name(k, name_ptr) if name_ptr else ""
    module = table.executable if not name else table.find(name)
    if module is None:
        k.memory.write_u32(out, 0)
        return ERROR_NOT_FOUND
    k.memory.write_u32(out, module.hmodule)
    return STATUS_SUCCESS


@GROUP.export(
    "XexGetModuleSection",
    0x196,
    Param("hmodule", K.PTR),
    Param("name", K.PTR),
    Param("data", K.OUT_U32),
    Param("size", K.OUT_U32),
)
def xex_get_module_section(
    k: KernelState, t: Thread, hmodule: int, name_ptr: int, data_out: int, size_out: int
) -> int:
    """A resource of the module's XEX header (its resource info) by its 8-byte name."""
    module = M.modules_of(k).by_hmodule(hmodule)
    if module is None:
        return STATUS_INVALID_HANDLE
    wanted = k.memory.read_cstring(name_ptr, NAME_LIMIT)
    if module.kernel or not module.header_address:
        return STATUS_UNSUCCESSFUL
    mem = k.memory
    info = M.header_field(mem, module.header_address, RESOURCE_INFO)
    if info is None:
        return STATUS_NOT_FOUND
    count = (mem.read_u32(info) - 4) // 16
    for i in range(max(0, min(count, 0x10000))):
        entry = info + 4 + 16 * i
        if mem.read_bytes(entry, 8).split(b"\0")[0] == wanted:
            address, size = mem.read_u32(entry + 8), mem.read_u32(entry + 12)
            mem.require(data_out, 4)
            mem.require(size_out, 4)
            mem.write_u32(data_out, address)
            mem.write_u32(size_out, size)
            return STATUS_SUCCESS
    return STATUS_NOT_FOUND


@GROUP.export(
    "XexGetProcedureAddress",
    0x197,
    Param("hmodule", K.PTR, optional=True),
    Param("ordinal", K.U32),
    Param("function", K.OUT_U32),
)
def xex_get_procedure_address(
    k: KernelState, t: Thread, hmodule: int, ordinal: int, out: int
) -> int:
    """An export's address by ordinal, or by name when ``ordinal`` is a string pointer.

    For xboxkrnl.exe a variable's address or, for a function x360k has, a
    kernel thunk calling it; for a title or loaded XEX its export table. A
    module that lacks the export gets STATUS_DRIVER_ENTRYPOINT_NOT_FOUND with 0.
    """
    table = M.modules_of(k)
    module = table.executable if not hmodule else table.by_hmodule(hmodule)
    if module is None:
        return STATUS_INVALID_HANDLE
    k.memory.require(out, 4)
    by_name = bool(ordinal & 0xFFFF0000)
    if by_name:
        address = _proc_by_name(k, module, k.memory.read_cstring(ordinal, NAME_LIMIT))
    else:
        address = _proc_by_ordinal(k, module, ordinal & 0xFFFF)
    k.memory.write_u32(out, address)
    return STATUS_SUCCESS if address else STATUS_DRIVER_ENTRYPOINT_NOT_FOUND


def _proc_by_ordinal(k: KernelState, module: M.LoadedModule, ordinal: int) -> int:
    if module.kernel:
        if module.name != "xboxkrnl.exe":
            return 0
        from x360k.exports.kernel_variables import variable_addresses

        variable = variable_addresses(k).get(ordinal)
        if variable is not None:
            return variable
        if k.exports.find(ordinal) is None:
            return 0
        return kernel_thunk(k, ordinal)
    mem = k.memory
    if not module.header_address:
        return 0
    security = module.header_address + mem.read_u32(module.header_address + 0x10)
    export_table = mem.read_u32(security + SECURITY_EXPORT_TABLE)
    if export_table:
        index = (ordinal - mem.read_u32(export_table + 0x28)) & 0xFFFF
        if index >= mem.read_u32(export_table + 0x24):
            return 0
        offset = mem.read_u32(export_table + 0x2C + 4 * index)
        return (offset + (mem.read_u32(export_table + 0x20) << 16)) & 0xFFFFFFFF
    directory = _pe_exports(k, module)
    if directory is None:
        return 0
    functions, count = _le(k, directory + 0x1C), _le(k, directory + 0x14)
    if ordinal >= count:
        return 0
    return (module.base + _le(k, directory + functions + 4 * ordinal)) & 0xFFFFFFFF


def _proc_by_name(k: KernelState, module: M.LoadedModule, name: bytes) -> int:
    if module.kernel or not module.header_address:
        return 0
    directory = _pe_exports(k, module)
    if directory is None:
        return 0
    functions = directory + _le(k, directory + 0x1C)
    names = directory + _le(k, directory + 0x20)
    ordinals = directory + _le(k, directory + 0x24)
    for i in range(min(_le(k, directory + 0x18), 0x10000)):
        text = k.memory.read_cstring(directory + _le(k, names + 4 * i), NAME_LIMIT)
        if text == name:
            index = int.from_bytes(k.memory.read_bytes(ordinals + 2 * i, 2), "little")
            return (module.base + _le(k, functions + 4 * index)) & 0xFFFFFFFF
    return 0


def _pe_exports(k: KernelState, module: M.LoadedModule) -> int | None:
    """The PE export directory the XEX header points at (little-endian, as canary reads it)."""
    where = M.header_field(k.memory, module.header_address, EXPORTS_BY_NAME)
    if where is None:
        return None
    return (module.base + k.memory.read_u32(where)) & 0xFFFFFFFF


def _le(k: KernelState, address: int) -> int:
    return int.from_bytes(k.memory.read_bytes(address & 0xFFFFFFFF, 4), "little")


def kernel_thunk(k: KernelState, ordinal: int) -> int:
    """A callable address for a kernel export: ``li r0, N; sc; blr; nop`` in a kernel page.

    The page is mapped on first use, so kernels that never ask lay memory out
    exactly as before.
    """
    from x360k.cpu.thunks import BLR, LI_R0, SC

    mem = k.memory
    if not mem.is_mapped(THUNK_BASE):
        mem.map(THUNK_BASE, THUNK_PAGE, "kernel export thunks")
    address = THUNK_BASE + THUNK_SIZE * ordinal
    mem.write_bytes(address, struct.pack(">IIII", LI_R0 | ordinal, SC, BLR, 0x60000000))
    return address


# -- loading ---------------------------------------------------------------------------------------


def _load_count_add(k: KernelState, module: M.LoadedModule, delta: int) -> int:
    at = module.hmodule + M.LDR_LOAD_COUNT
    count = (k.memory.read_u16(at) + delta) & 0xFFFF
    k.memory.write_u16(at, count)
    return count


def _map_module(k: KernelState, data: bytes, name: str, path: str) -> M.LoadedModule | None:
    """Map a XEX2 image as a module; None when it cannot be (not a XEX2, overlapping...)."""
    from x360k.xex.errors import XexError
    from x360k.xex.guest_loader import load_xex_image

    exports = {ex.ordinal: ex.name for ex in k.exports}
    try:
        loaded = load_xex_image(k.memory, data, name, exports, k.data_exports)
    except XexError:
        return None
    xex = loaded.xex
    size = xex.header.header_size
    header = k.memory.alloc_system(size, 16)
    k.memory.write_bytes(header, data[:size])
    module = M.new_module(k, name, path)
    module.header_address = header
    module.base, module.entry, module.image_size = xex.base, xex.entry, xex.security.image_size
    M.write_ldr(k, module)
    return module


def _read_title_file(k: KernelState, path: str, limit: int | None = None) -> bytes | int:
    """A file's bytes through the guest's namespace, or the status its open fails with."""
    from x360k.vfs.device import FILE_NON_DIRECTORY_FILE, FILE_OPEN
    from x360k.vfs.guest_path import Refused
    from x360k.vfs.mount import namespace_of

    try:
        where = namespace_of(k).resolve(path)
    except Refused:
        return STATUS_NO_SUCH_FILE
    outcome = where.device.open(where.names, FILE_OPEN, FILE_NON_DIRECTORY_FILE, GENERIC_READ)
    if outcome.node is None:
        return outcome.status
    try:
        size = os.fstat(outcome.node.fd).st_size
        return os.pread(outcome.node.fd, size if limit is None else min(size, limit), 0)
    except OSError:
        return STATUS_NO_SUCH_FILE
    finally:
        outcome.node.close()


def _load(k: KernelState, name_ptr: int, out: int, data_ptr: int | None, size: int) -> int:
    if not out:
        return ERROR_INVALID_PARAMETER
    mem = k.memory
    mem.require(out, 4)
    name = _name(k, name_ptr)
    existing = M.modules_of(k).find(name)
    if existing is not None:
        if data_ptr is not None:
            mem.write_u32(out, 0)
            return STATUS_OBJECT_NAME_COLLISION
        _load_count_add(k, existing, 1)  # kernel modules too (canary), never unloaded
        mem.write_u32(out, existing.hmodule)
        return STATUS_SUCCESS
    if data_ptr is None:
        data = _read_title_file(k, name)
        if isinstance(data, int):
            mem.write_u32(out, 0)
            return STATUS_NO_SUCH_FILE
    else:
        data = mem.read_bytes(data_ptr, min(size, MAX_IMAGE_BYTES))
    file_name = name.rsplit("\\", 1)[-1].rsplit(":", 1)[-1] or name
    module = _map_module(k, data, file_name, name)
    if module is None:
        mem.write_u32(out, 0)
        return STATUS_NO_SUCH_FILE
    _load_count_add(k, module, 1)
    mem.write_u32(out, module.hmodule)
    return STATUS_SUCCESS


_LOAD_PARAMS: Final = (
    Param("module_name", K.PTR),
    Param("module_flags", K.U32),
    Param("min_version", K.U32),
    Param("hmodule", K.OUT_U32),
)


@GROUP.export("XexLoadImage", 0x199, *_LOAD_PARAMS)
def xex_load_image(k: KernelState, t: Thread, name: int, flags: int, version: int, out: int) -> int:
    """Load (or, when loaded, count one more load of) a module by path; its HMODULE out."""
    return _load(k, name, out, None, 0)


@GROUP.export("XexLoadExecutable", 0x198, *_LOAD_PARAMS)
def xex_load_executable(
    k: KernelState, t: Thread, name: int, flags: int, version: int, out: int
) -> int:
    """Canary: XexLoadImage under another name (it does not replace the running title)."""
    return _load(k, name, out, None, 0)


@GROUP.export(
    "XexLoadImageFromMemory",
    0x19A,
    Param("buffer", K.BUFFER),
    Param("size", K.U32),
    Param("module_name", K.PTR),
    Param("module_flags", K.U32),
    Param("min_version", K.U32),
    Param("hmodule", K.OUT_U32),
)
def xex_load_image_from_memory(
    k: KernelState, t: Thread, buffer: int, size: int, name: int, flags: int, version: int, out: int
) -> int:
    """Load a XEX2 held in guest memory under ``module_name``; a loaded name collides."""
    return _load(k, name, out, buffer, size)


@GROUP.export("XexUnloadImage", 0x1A1, Param("hmodule", K.PTR))
def xex_unload_image(k: KernelState, t: Thread, hmodule: int) -> int:
    """One load fewer; at zero the module leaves the table. Kernel modules never unload."""
    table = M.modules_of(k)
    module = table.by_hmodule(hmodule)
    if module is None:
        return STATUS_INVALID_HANDLE
    if not module.kernel and _load_count_add(k, module, -1) == 0:
        table.modules.remove(module)
    return STATUS_SUCCESS


@GROUP.export(
    "XexLoadImageHeaders",
    0x19B,
    Param("path", K.ANSI_STRING),
    Param("header", K.BUFFER),
    Param("buffer_size", K.U32),
)
def xex_load_image_headers(k: KernelState, t: Thread, path_ptr: int, header: int, size: int) -> int:
    """A XEX2 file's headers (whole 2 KiB chunks, at most 64 KiB) into the caller's buffer."""
    if size < HEADER_CHUNK:
        return STATUS_BUFFER_TOO_SMALL
    mem = k.memory
    path = mem.read_ansi_string(path_ptr).decode("latin-1")
    data = _read_title_file(k, path, MAX_HEADER_SIZE)
    if isinstance(data, int):
        return data
    mem.require(header, HEADER_CHUNK)
    mem.write_bytes(header, data[:HEADER_CHUNK])
    if data[:4] != b"XEX2":
        return STATUS_INVALID_IMAGE_FORMAT
    header_size = mem.read_u32(header + 8)
    if header_size < HEADER_CHUNK or header_size > MAX_HEADER_SIZE or header_size & 0x7FF:
        return STATUS_INVALID_IMAGE_FORMAT
    if header_size > size:
        return STATUS_BUFFER_TOO_SMALL
    if header_size > HEADER_CHUNK:
        rest = data[HEADER_CHUNK:header_size]
        mem.require(header, header_size)
        mem.write_bytes(header + HEADER_CHUNK, rest)
    return STATUS_SUCCESS


# -- image headers ---------------------------------------------------------------------------


@GROUP.export(
    "RtlImageXexHeaderField",
    0x12B,
    Param("xex_header", K.PTR, optional=True),
    Param("key", K.U32),
    returns=Returns.VALUE,
)
def rtl_image_xex_header_field(k: KernelState, t: Thread, header: int, key: int) -> int:
    """An optional header's value, or the address of its data; 0 when absent or unreadable."""
    if not header:
        return 0
    return M.header_field(k.memory, header, key) or 0


@GROUP.export(
    "RtlImageDirectoryEntryToData",
    0x1A8,
    Param("base", K.PTR),
    Param("mapped_as_image", K.BOOL),
    Param("directory_entry", K.U32),
    Param("size", K.OUT_U32),
    returns=Returns.VALUE,
)
def rtl_image_directory_entry_to_data(
    k: KernelState, t: Thread, base: int, mapped: int, entry: int, size_out: int
) -> int:
    """Where a PE data directory's data is, in a mapped image or a file's bytes; 0 if none.

    For a file image (``mapped_as_image`` false, or an odd base) the address is
    inside the section holding the directory; the console adds that section's
    file offset, canary does not (quirk ``image_directory_ignores_raw_offset``).
    An unreadable image answers 0.
    """
    try:
        return _directory_entry(k, base, mapped, entry & 0xFFFF, size_out)
    except GuestMemoryError:
        return 0


def _directory_entry(k: KernelState, base: int, mapped_arg: int, entry: int, size_out: int) -> int:
    from x360k.exports.rtl_exceptions import nt_header

    mapped = bool(mapped_arg & 0xFF)
    if base & 1:
        base &= 0xFFFFFFFE
        mapped = False
    nt = nt_header(k, base)
    if not nt:
        return 0
    mem = k.memory
    optional = nt + 0x18

    def u16(at: int) -> int:
        return int.from_bytes(mem.read_bytes(at, 2), "little")

    if u16(optional) != 0x10B or entry >= _le(k, optional + 0x5C):
        return 0
    address, size = (
        int(v) for v in struct.unpack("<II", mem.read_bytes(optional + 0x60 + 8 * entry, 8))
    )
    if not address:
        return 0
    mem.require(size_out, 4)
    mem.write_u32(size_out, size)
    if mapped or address < _le(k, optional + 0x3C):
        return (base + address) & 0xFFFFFFFF
    sections = optional + u16(nt + 0x14)
    for i in range(u16(nt + 6)):
        section = sections + 40 * i
        virtual, raw_size, raw_at = (
            int(v) for v in struct.unpack("<III", mem.read_bytes(section + 0xC, 12))
        )
        if virtual <= address < virtual + raw_size:
            offset = 0 if k.quirks.image_directory_ignores_raw_offset else raw_at
            return (base + address - virtual + offset) & 0xFFFFFFFF
    return 0
