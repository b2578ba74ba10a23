"""Loader exports: module handles, header fields, sections, procedures, loading, PE directories."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tests.xex.conftest import packed

from x360k.exports import module_table as M
from x360k.exports.modules import (
    ERROR_INVALID_PARAMETER,
    ERROR_NOT_FOUND,
    STATUS_DRIVER_ENTRYPOINT_NOT_FOUND,
    STATUS_INVALID_IMAGE_FORMAT,
    STATUS_NOT_FOUND,
    THUNK_BASE,
)
from x360k.kernel import Kernel
from x360k.quirks import PROFILES
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)
from x360k.vfs.mount import mount

from .rtlkit import UNMAPPED, ansi, cstr


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def handle_of(k: Kernel, name: str | None) -> tuple[int, int]:
    out = k.memory.alloc(4)
    status = k.call("XexGetModuleHandle", cstr(k, name.encode()) if name is not None else 0, out)
    return status, k.memory.read_u32(out)


def test_module_handles_by_name(k: Kernel) -> None:
    status, title = handle_of(k, None)
    assert status == STATUS_SUCCESS and title
    assert handle_of(k, "") == (STATUS_SUCCESS, title)
    for spelling in ("default.xex", "DEFAULT", "\\Device\\Cdrom0\\default.xex"):
        assert handle_of(k, spelling) == (STATUS_SUCCESS, title), spelling
    status, kernel = handle_of(k, "XBOXKRNL.EXE")
    assert status == STATUS_SUCCESS and kernel not in (0, title)
    assert handle_of(k, "nosuch.xex") == (ERROR_NOT_FOUND, 0)
    assert k.call("XexGetModuleHandle", 0, UNMAPPED) == STATUS_ACCESS_VIOLATION
    assert k.call("XexGetModuleHandle", UNMAPPED, k.memory.alloc(4)) == STATUS_ACCESS_VIOLATION


def test_the_title_loader_entry(k: Kernel) -> None:
    _, title = handle_of(k, None)
    mem = k.memory
    header = mem.read_u32(title + M.LDR_XEX_HEADER)
    assert mem.read_bytes(header, 4) == b"XEX2"
    # Canary keeps the executable module's start-up handle in the checksum field.
    expected = 0xF8000004 if k.profile == "canary" else 0
    assert mem.read_u32(title + M.LDR_CHECKSUM) == expected


def test_header_fields_and_privileges(k: Kernel) -> None:
    mem = k.memory
    header = mem.alloc(0x200, 8)
    mem.write_bytes(header, struct.pack(">4sIIIII", b"XEX2", 1, 0x200, 0, 0x100, 3))
    mem.write_bytes(header + 0x18, struct.pack(">II", M.KEY_SYSTEM_FLAGS, 0x40))  # bit 6
    mem.write_bytes(header + 0x20, struct.pack(">II", M.KEY_IMAGE_BASE, 0x82000000))
    mem.write_bytes(header + 0x28, struct.pack(">II", 0x000002FF, 0x180))  # resources at +0x180
    mem.write_bytes(header + 0x180, struct.pack(">I8sII", 4 + 16, b"strings\0", 0x82010000, 99))
    M.describe_title(k, "game.xex", 0x82000000, 0x82000100, 0x10000, header)
    field = k.call("RtlImageXexHeaderField", header, M.KEY_SYSTEM_FLAGS)
    assert field == 0x40  # key ending 0x00: the value itself
    assert k.call("RtlImageXexHeaderField", header, M.KEY_IMAGE_BASE) == header + 0x24  # &value
    assert k.call("RtlImageXexHeaderField", header, 0x2FF) == header + 0x180  # data offset
    assert k.call("RtlImageXexHeaderField", header, 0x00040006) == 0  # absent
    assert k.call("RtlImageXexHeaderField", 0, M.KEY_SYSTEM_FLAGS) == 0
    assert k.call("RtlImageXexHeaderField", UNMAPPED, M.KEY_SYSTEM_FLAGS) == 0
    assert k.call("XexCheckExecutablePrivilege", 6) == 1
    assert k.call("XexCheckExecutablePrivilege", 5) == 0
    assert mem.read_cstring(k.data_exports["ExLoadedCommandLine"]) == b'"game.xex"'
    # Sections come from the resource info.
    _, title = handle_of(k, None)
    data, size = mem.alloc(4), mem.alloc(4)
    assert k.call("XexGetModuleSection", title, cstr(k, b"strings"), data, size) == 0
    assert (mem.read_u32(data), mem.read_u32(size)) == (0x82010000, 99)
    assert k.call("XexGetModuleSection", title, cstr(k, b"other"), data, size) == STATUS_NOT_FOUND
    _, kernel = handle_of(k, "xboxkrnl.exe")
    status = k.call("XexGetModuleSection", kernel, cstr(k, b"strings"), data, size)
    assert status == STATUS_UNSUCCESSFUL
    bad = k.call("XexGetModuleSection", 0x1234, cstr(k, b"strings"), data, size)
    assert bad == STATUS_INVALID_HANDLE


def test_a_default_title_has_no_privileges_or_sections(k: Kernel) -> None:
    assert k.call("XexCheckExecutablePrivilege", 6) == 0
    _, title = handle_of(k, None)
    data, size = k.memory.alloc(4), k.memory.alloc(4)
    assert k.call("XexGetModuleSection", title, cstr(k, b"x"), data, size) == STATUS_NOT_FOUND


def test_kernel_procedure_addresses(k: Kernel) -> None:
    _, kernel = handle_of(k, "xboxkrnl.exe")
    mem, out = k.memory, k.memory.alloc(4)
    assert k.call("XexGetProcedureAddress", kernel, 0xCF, out) == STATUS_SUCCESS  # NtClose
    thunk = mem.read_u32(out)
    assert thunk == THUNK_BASE + 16 * 0xCF
    assert struct.unpack(">II", mem.read_bytes(thunk, 8)) == (0x38000000 | 0xCF, 0x44000002)
    assert k.call("XexGetProcedureAddress", kernel, 0x158, out) == STATUS_SUCCESS
    assert mem.read_u32(out) == k.data_exports["XboxKrnlVersion"]
    missing = k.call("XexGetProcedureAddress", kernel, 0x7FF, out)
    assert (missing, mem.read_u32(out)) == (STATUS_DRIVER_ENTRYPOINT_NOT_FOUND, 0)
    by_name = k.call("XexGetProcedureAddress", kernel, cstr(k, b"NtClose"), out)
    assert by_name == STATUS_DRIVER_ENTRYPOINT_NOT_FOUND
    assert k.call("XexGetProcedureAddress", 0x1234, 1, out) == STATUS_INVALID_HANDLE
    assert k.call("XexGetProcedureAddress", kernel, 0xCF, UNMAPPED) == STATUS_ACCESS_VIOLATION


def test_a_title_export_table(k: Kernel) -> None:
    mem = k.memory
    header = mem.alloc(0x400, 8)
    mem.write_bytes(header, struct.pack(">4sIIIII", b"XEX2", 8, 0x400, 0, 0x40, 0))
    table = mem.alloc(0x40, 4)
    # base ordinal 5, two exports, image base 0x8200 << 16
    mem.write_bytes(table + 0x20, struct.pack(">IIIII", 0x8200, 2, 5, 0x1000, 0x2000))
    mem.write_u32(header + 0x40 + 0x160, table)
    M.describe_title(k, "dll.xex", 0x82000000, 0, 0x10000, header)
    out = mem.alloc(4)
    assert k.call("XexGetProcedureAddress", 0, 6, out) == STATUS_SUCCESS  # hmodule 0: the title
    assert mem.read_u32(out) == 0x82002000
    assert k.call("XexGetProcedureAddress", 0, 7, out) == STATUS_DRIVER_ENTRYPOINT_NOT_FOUND
    assert k.call("XexGetProcedureAddress", 0, 4, out) == STATUS_DRIVER_ENTRYPOINT_NOT_FOUND


def test_loading_counts_and_unloading(k: Kernel) -> None:
    mem, out = k.memory, k.memory.alloc(4)
    _, title = handle_of(k, None)
    assert k.call("XexLoadImage", cstr(k, b"default.xex"), 0, 0, out) == STATUS_SUCCESS
    assert mem.read_u32(out) == title
    assert mem.read_u16(title + M.LDR_LOAD_COUNT) == 1
    assert k.call("XexUnloadImage", title) == STATUS_SUCCESS
    assert mem.read_u16(title + M.LDR_LOAD_COUNT) == 0
    _, kernel = handle_of(k, "xboxkrnl.exe")
    assert k.call("XexLoadExecutable", cstr(k, b"xboxkrnl.exe"), 0, 0, out) == STATUS_SUCCESS
    assert mem.read_u32(out) == kernel
    assert mem.read_u16(kernel + M.LDR_LOAD_COUNT) == 1  # counted, as canary counts it
    assert k.call("XexUnloadImage", kernel) == STATUS_SUCCESS  # kernel modules stay
    assert mem.read_u16(kernel + M.LDR_LOAD_COUNT) == 1
    assert handle_of(k, "xboxkrnl.exe") == (STATUS_SUCCESS, kernel)
    assert k.call("XexUnloadImage", 0x1234) == STATUS_INVALID_HANDLE
    assert k.call("XexLoadImage", cstr(k, b"a.xex"), 0, 0, 0) == ERROR_INVALID_PARAMETER
    missing = k.call("XexLoadImage", cstr(k, b"game:\\nosuch.xex"), 0, 0, out)
    assert (missing, mem.read_u32(out)) == (STATUS_NO_SUCH_FILE, 0)


def test_loading_a_xex_from_the_title_folder(k: Kernel, tmp_path: Path) -> None:
    (tmp_path / "lib.xex").write_bytes(packed("dup_signal"))
    (tmp_path / "junk.xex").write_bytes(b"not a xex at all" * 100)
    mount(k, tmp_path)
    mem, out = k.memory, k.memory.alloc(4)
    assert k.call("XexLoadImage", cstr(k, b"game:\\lib.xex"), 0, 0, out) == STATUS_SUCCESS
    hmodule = mem.read_u32(out)
    assert mem.read_u32(hmodule + M.LDR_IMAGE_BASE) == 0x81FF0000
    assert mem.read_u32(hmodule + M.LDR_FULL_IMAGE_SIZE) == 0x20000
    assert mem.read_bytes(0x81FF0000, 2) == b"MZ"  # the image is mapped
    assert mem.read_bytes(mem.read_u32(hmodule + M.LDR_XEX_HEADER), 4) == b"XEX2"
    assert handle_of(k, "lib.xex") == (STATUS_SUCCESS, hmodule)
    assert k.call("XexLoadImage", cstr(k, b"game:\\lib.xex"), 0, 0, out) == STATUS_SUCCESS
    assert mem.read_u16(hmodule + M.LDR_LOAD_COUNT) == 2
    assert k.call("XexUnloadImage", hmodule) == STATUS_SUCCESS
    assert handle_of(k, "lib.xex") == (STATUS_SUCCESS, hmodule)
    assert k.call("XexUnloadImage", hmodule) == STATUS_SUCCESS
    assert handle_of(k, "lib.xex") == (ERROR_NOT_FOUND, 0)
    assert k.call("XexUnloadImage", hmodule) == STATUS_INVALID_HANDLE
    junk = k.call("XexLoadImage", cstr(k, b"game:\\junk.xex"), 0, 0, out)
    assert (junk, mem.read_u32(out)) == (STATUS_NO_SUCH_FILE, 0)


def test_loading_from_memory_and_name_collisions(k: Kernel) -> None:
    data = packed("dup_signal")
    mem, out = k.memory, k.memory.alloc(4)
    buffer = mem.alloc(len(data), 16)
    mem.write_bytes(buffer, data)
    name = cstr(k, b"mem.xex")
    status = k.call("XexLoadImageFromMemory", buffer, len(data), name, 0, 0, out)
    assert status == STATUS_SUCCESS
    assert handle_of(k, "mem.xex") == (STATUS_SUCCESS, mem.read_u32(out))
    again = k.call("XexLoadImageFromMemory", buffer, len(data), name, 0, 0, out)
    assert (again, mem.read_u32(out)) == (STATUS_OBJECT_NAME_COLLISION, 0)
    bad = k.call("XexLoadImageFromMemory", UNMAPPED, 0x1000, cstr(k, b"x.xex"), 0, 0, out)
    assert bad == STATUS_ACCESS_VIOLATION


def test_load_image_headers(k: Kernel, tmp_path: Path) -> None:
    data = packed("dup_signal")
    (tmp_path / "t.xex").write_bytes(data)
    (tmp_path / "data.txt").write_bytes(b"hello" * 1000)
    mount(k, tmp_path)
    mem = k.memory
    buf = mem.alloc(0x2000, 8)
    path = ansi(k, b"game:\\t.xex")
    assert k.call("XexLoadImageHeaders", path, buf, 0x7FF) == STATUS_BUFFER_TOO_SMALL
    assert k.call("XexLoadImageHeaders", path, buf, 0x800) == STATUS_BUFFER_TOO_SMALL  # 0x1000
    assert k.call("XexLoadImageHeaders", path, buf, 0x2000) == STATUS_SUCCESS
    assert mem.read_bytes(buf, 0x1000) == data[:0x1000]
    text = ansi(k, b"game:\\data.txt")
    assert k.call("XexLoadImageHeaders", text, buf, 0x2000) == STATUS_INVALID_IMAGE_FORMAT
    missing = ansi(k, b"game:\\none.xex")
    assert k.call("XexLoadImageHeaders", missing, buf, 0x2000) == STATUS_NO_SUCH_FILE
    assert k.call("XexLoadImageHeaders", path, UNMAPPED, 0x2000) == STATUS_ACCESS_VIOLATION


def pe_image(k: Kernel) -> int:
    """A PE image in guest memory: one section (RVA 0x2000, file offset 0x600), imports at
    RVA 0x2010 (0x28 bytes)."""
    mem = k.memory
    base = mem.alloc(0x3000, 0x1000)
    mem.write_bytes(base, b"MZ")
    mem.write_bytes(base + 0x3C, struct.pack("<I", 0x80))
    nt = base + 0x80
    mem.write_bytes(nt, b"PE\0\0")
    mem.write_bytes(nt + 6, struct.pack("<H", 1))  # NumberOfSections
    mem.write_bytes(nt + 0x14, struct.pack("<H", 0xE0))  # SizeOfOptionalHeader
    optional = nt + 0x18
    mem.write_bytes(optional, struct.pack("<H", 0x10B))
    mem.write_bytes(optional + 0x3C, struct.pack("<I", 0x400))  # SizeOfHeaders
    mem.write_bytes(optional + 0x5C, struct.pack("<I", 16))  # NumberOfRvaAndSizes
    mem.write_bytes(optional + 0x60 + 8, struct.pack("<II", 0x2010, 0x28))  # imports
    mem.write_bytes(optional + 0x60 + 16, struct.pack("<II", 0x100, 0x8))  # in the headers
    section = optional + 0xE0
    mem.write_bytes(section + 0xC, struct.pack("<III", 0x2000, 0x1000, 0x600))
    return base


def test_image_directory_entries(k: Kernel) -> None:
    base, size = pe_image(k), k.memory.alloc(4)
    assert k.call("RtlImageDirectoryEntryToData", base, 1, 1, size) == base + 0x2010
    assert k.memory.read_u32(size) == 0x28
    file_offset = 0x10 if k.profile == "canary" else 0x610
    assert k.call("RtlImageDirectoryEntryToData", base, 0, 1, size) == base + file_offset
    assert k.call("RtlImageDirectoryEntryToData", base | 1, 1, 1, size) == base + file_offset
    assert k.call("RtlImageDirectoryEntryToData", base, 0, 2, size) == base + 0x100  # headers
    assert k.call("RtlImageDirectoryEntryToData", base, 1, 0, size) == 0  # no exports
    assert k.call("RtlImageDirectoryEntryToData", base, 1, 16, size) == 0  # past the table
    assert k.call("RtlImageDirectoryEntryToData", base, 1, 1, UNMAPPED) == 0
    assert k.call("RtlImageDirectoryEntryToData", UNMAPPED, 1, 1, size) == 0


def test_the_raw_offset_quirk_alone() -> None:
    k = Kernel("console", quirks={"image_directory_ignores_raw_offset": True})
    base, size = pe_image(k), k.memory.alloc(4)
    assert k.call("RtlImageDirectoryEntryToData", base, 0, 1, size) == base + 0x10
