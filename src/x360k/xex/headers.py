"""The XEX2 header and its optional headers, read with every offset checked.

A XEX2 file starts with a fixed header (magic ``XEX2``, module flags, where
the basefile starts, where the security info is, how many optional headers
follow), then that many ``(key, value)`` pairs. The low byte of a key says
where its data is: 0x00 and 0x01 mean the value *is* the data (one word),
0xFF means the value is an offset to data whose first word is its size, and
any other N means N words at that offset. Everything is big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from x360k.xex.errors import XexError

MAGIC: Final = b"XEX2"
FIXED_HEADER: Final = struct.Struct(">4sIIIII")

# Optional header keys (the low byte is the size rule above).
RESOURCE_INFO: Final = 0x000002FF
FILE_FORMAT_INFO: Final = 0x000003FF
BASE_REFERENCE: Final = 0x00000405
DELTA_PATCH_DESCRIPTOR: Final = 0x000005FF
BOUNDING_PATH: Final = 0x000080FF
DEVICE_ID: Final = 0x00008105
ORIGINAL_BASE_ADDRESS: Final = 0x00010001
ENTRY_POINT: Final = 0x00010100
IMAGE_BASE_ADDRESS: Final = 0x00010201
IMPORT_LIBRARIES: Final = 0x000103FF
CHECKSUM_TIMESTAMP: Final = 0x00018002
ENABLED_FOR_CALLCAP: Final = 0x00018102
ENABLED_FOR_FASTCAP: Final = 0x00018200
ORIGINAL_PE_NAME: Final = 0x000183FF
STATIC_LIBRARIES: Final = 0x000200FF
TLS_INFO: Final = 0x00020104
DEFAULT_STACK_SIZE: Final = 0x00020200
DEFAULT_FILESYSTEM_CACHE_SIZE: Final = 0x00020301
DEFAULT_HEAP_SIZE: Final = 0x00020401
PAGE_HEAP_SIZE_AND_FLAGS: Final = 0x00028002
SYSTEM_FLAGS: Final = 0x00030000
EXECUTION_INFO: Final = 0x00040006
TITLE_WORKSPACE_SIZE: Final = 0x00040201
GAME_RATINGS: Final = 0x00040310
LAN_KEY: Final = 0x00040404
XBOX360_LOGO: Final = 0x000405FF
MULTIDISC_MEDIA_IDS: Final = 0x000406FF
ALTERNATE_TITLE_IDS: Final = 0x000407FF
ADDITIONAL_TITLE_MEMORY: Final = 0x00040801
EXPORTS_BY_NAME: Final = 0x00E10402

KEY_NAMES: Final = {
    RESOURCE_INFO: "resource info",
    FILE_FORMAT_INFO: "file format info",
    BASE_REFERENCE: "base reference",
    DELTA_PATCH_DESCRIPTOR: "delta patch descriptor",
    BOUNDING_PATH: "bounding path",
    DEVICE_ID: "device id",
    ORIGINAL_BASE_ADDRESS: "original base address",
    ENTRY_POINT: "entry point",
    IMAGE_BASE_ADDRESS: "image base address",
    IMPORT_LIBRARIES: "import libraries",
    CHECKSUM_TIMESTAMP: "checksum and timestamp",
    ENABLED_FOR_CALLCAP: "enabled for callcap",
    ENABLED_FOR_FASTCAP: "enabled for fastcap",
    ORIGINAL_PE_NAME: "original PE name",
    STATIC_LIBRARIES: "static libraries",
    TLS_INFO: "TLS info",
    DEFAULT_STACK_SIZE: "default stack size",
    DEFAULT_FILESYSTEM_CACHE_SIZE: "default file system cache size",
    DEFAULT_HEAP_SIZE: "default heap size",
    PAGE_HEAP_SIZE_AND_FLAGS: "page heap size and flags",
    SYSTEM_FLAGS: "system flags",
    EXECUTION_INFO: "execution info",
    TITLE_WORKSPACE_SIZE: "title workspace size",
    GAME_RATINGS: "game ratings",
    LAN_KEY: "LAN key",
    XBOX360_LOGO: "Xbox 360 logo",
    MULTIDISC_MEDIA_IDS: "multidisc media ids",
    ALTERNATE_TITLE_IDS: "alternate title ids",
    ADDITIONAL_TITLE_MEMORY: "additional title memory",
    EXPORTS_BY_NAME: "exports by name",
}

#: Module flags.
MODULE_TITLE: Final = 0x01
MODULE_DLL: Final = 0x08
MODULE_PATCH: Final = 0x10 | 0x20 | 0x40


def u32(data: bytes, offset: int, what: str) -> int:
    """The big-endian word at ``offset``, or a XexError saying ``what`` is cut off."""
    if offset < 0 or offset + 4 > len(data):
        raise XexError(f"file ends inside the {what}", min(max(offset, 0), len(data)))
    value: int = int.from_bytes(data[offset : offset + 4], "big")
    return value


def span(data: bytes, offset: int, size: int, what: str) -> bytes:
    """``size`` bytes at ``offset``, or a XexError saying ``what`` runs past the end."""
    if offset < 0 or size < 0 or offset + size > len(data):
        raise XexError(f"the {what} runs past the end of the file", min(max(offset, 0), len(data)))
    return bytes(data[offset : offset + size])


@dataclass(frozen=True, slots=True)
class OptionalHeader:
    key: int
    #: The value word: the data itself (keys ending 0x00/0x01) or the data's offset.
    value: int
    #: Where the pair sits in the file.
    at: int
    #: The header's data (the value word as 4 bytes for inline keys).
    data: bytes

    @property
    def name(self) -> str:
        return KEY_NAMES.get(self.key, f"key 0x{self.key:08x}")

    @property
    def inline(self) -> bool:
        return self.key & 0xFF in (0x00, 0x01)


@dataclass(slots=True)
class XexHeader:
    module_flags: int
    #: Where the basefile starts (all headers lie before it).
    header_size: int
    security_offset: int
    optional: dict[int, OptionalHeader] = field(default_factory=dict)

    def value(self, key: int) -> int | None:
        h = self.optional.get(key)
        return None if h is None else h.value

    def data(self, key: int) -> bytes | None:
        h = self.optional.get(key)
        return None if h is None else h.data


def parse_header(data: bytes) -> XexHeader:
    """The fixed header and every optional header's data, bounds-checked."""
    if len(data) < FIXED_HEADER.size:
        raise XexError("file is too short for a XEX2 header", len(data))
    magic, flags, header_size, _reserved, security, count = FIXED_HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        if magic[:3] == b"XEX":
            raise XexError(f"{magic!r} files are not supported (only XEX2)", 0)
        raise XexError("not a XEX2 file (no 'XEX2' magic)", 0)
    if header_size > len(data):
        raise XexError(f"header size 0x{header_size:x} is past the end of the file", 8)
    if count > (header_size - FIXED_HEADER.size) // 8:
        raise XexError(f"{count} optional headers do not fit in the header", 0x14)
    header = XexHeader(flags, header_size, security)
    limit = data[:header_size]
    for i in range(count):
        at = FIXED_HEADER.size + 8 * i
        key, value = struct.unpack_from(">II", limit, at)
        low = key & 0xFF
        what = KEY_NAMES.get(key, f"optional header 0x{key:08x}")
        if low in (0x00, 0x01):
            body = value.to_bytes(4, "big")
        elif low == 0xFF:
            size = u32(limit, value, what)
            if size < 4:
                raise XexError(f"{what} has size {size}", value)
            body = span(limit, value, size, what)
        else:
            body = span(limit, value, low * 4, what)
        if key in header.optional:
            raise XexError(f"{what} appears twice", at)
        header.optional[key] = OptionalHeader(key, value, at, body)
    return header


# -- typed views of the optional headers the tools show --------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    media_id: int
    version: int
    base_version: int
    title_id: int
    platform: int
    executable_table: int
    disc_number: int
    disc_count: int
    savegame_id: int


@dataclass(frozen=True, slots=True)
class TlsInfo:
    slot_count: int
    raw_data_address: int
    data_size: int
    raw_data_size: int


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    address: int
    size: int


def execution_info(header: XexHeader) -> ExecutionInfo | None:
    h = header.optional.get(EXECUTION_INFO)
    if h is None:
        return None
    if len(h.data) < 24:
        raise XexError("execution info is shorter than 24 bytes", h.value)
    return ExecutionInfo(*struct.unpack_from(">IIIIBBBBI", h.data, 0))


def tls_info(header: XexHeader) -> TlsInfo | None:
    h = header.optional.get(TLS_INFO)
    if h is None:
        return None
    return TlsInfo(*struct.unpack_from(">IIII", h.data, 0))


def resources(header: XexHeader) -> list[Resource]:
    h = header.optional.get(RESOURCE_INFO)
    if h is None:
        return []
    out = []
    for off in range(4, len(h.data) - 15, 16):
        name = h.data[off : off + 8].split(b"\0")[0].decode("latin-1")
        address, size = struct.unpack_from(">II", h.data, off + 8)
        out.append(Resource(name, address, size))
    return out


def original_pe_name(header: XexHeader) -> str | None:
    body = header.data(ORIGINAL_PE_NAME)
    if body is None:
        return None
    return body[4:].split(b"\0")[0].decode("latin-1")


def version_text(value: int) -> str:
    """A packed version word as ``major.minor.build.qfe``."""
    return f"{value >> 28}.{(value >> 24) & 0xF}.{(value >> 8) & 0xFFFF}.{value & 0xFF}"
