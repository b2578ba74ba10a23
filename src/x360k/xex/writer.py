"""Writing XEX2 files: a laid-out image plus its imports, stored any way the reader reads.

:func:`build_xex` takes an image as it lies in memory (PE headers first) and
writes the header, optional headers, security info with page descriptors and
the basefile, uncompressed, basic- or LZX-compressed, plain or AES-encrypted
with the retail or devkit key. :func:`pack_elf` (``x360k xex pack``) turns an
x360k guest ELF into such an image; see docs/xex.md for the layout and the
loader rules it follows.

Not written: an RSA signature (only a console checks it, with a key nobody
else has), hash chains over pages and import libraries (zeros or plain SHA-1
of the bytes; canary checks neither).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from x360k.xex import crypto
from x360k.xex.basefile import (
    COMPRESSION_BASIC,
    COMPRESSION_NONE,
    COMPRESSION_NORMAL,
)
from x360k.xex.headers import (
    DEFAULT_STACK_SIZE,
    ENTRY_POINT,
    EXECUTION_INFO,
    FILE_FORMAT_INFO,
    IMAGE_BASE_ADDRESS,
    IMPORT_LIBRARIES,
    MAGIC,
    MODULE_TITLE,
    ORIGINAL_PE_NAME,
    SYSTEM_FLAGS,
    TLS_INFO,
)
from x360k.xex.lzx import BLOCK_VERBATIM
from x360k.xex.lzx_encoder import lzx_compress_frames
from x360k.xex.pe import (
    FILE_32BIT_MACHINE,
    MACHINE_POWERPCBE,
    OPTIONAL_HEADER_SIZE,
    PE32_MAGIC,
    SUBSYSTEM_XBOX,
)
from x360k.xex.security import (
    AES_KEY,
    ALLOWED_MEDIA,
    IMAGE_FLAGS,
    IMAGE_SIZE,
    IMPORT_TABLE_COUNT,
    INFO_SIZE,
    LOAD_ADDRESS,
    PAGE_DESCRIPTOR_COUNT,
    PAGE_DESCRIPTOR_SIZE,
    PAGE_DESCRIPTORS,
    REGION,
)

PAGE: Final = 0x10000
#: 'X36K': the title id x360k's conformance titles carry.
X360K_TITLE_ID: Final = 0x5833364B
#: The kernel version the import records name (2.0.17559.0, a late dashboard).
KERNEL_VERSION: Final = 2 << 28 | 17559 << 8
COMPRESSIONS: Final = {
    "none": COMPRESSION_NONE,
    "basic": COMPRESSION_BASIC,
    "lzx": COMPRESSION_NORMAL,
}
LZX_BLOCK: Final = 0x10000


@dataclass(slots=True)
class XexSpec:
    """What :func:`build_xex` writes."""

    image: bytes
    base: int
    entry: int
    #: (library name, import record addresses) per library.
    imports: Sequence[tuple[str, Sequence[int]]] = ()
    #: (section type, page count) runs covering the image; default: all data.
    pages: Sequence[tuple[int, int]] = ()
    compression: str = "none"
    #: None, "retail" or "devkit".
    encryption: str | None = None
    window_size: int = 0x8000
    lzx_block_types: Sequence[int] = (BLOCK_VERBATIM,)
    #: False: LZX matches stay inside their 32 KiB frame (lets repeated frames encode once).
    lzx_cross_frame: bool = True
    stack_size: int | None = None
    pe_name: str = "default.exe"
    title_id: int = X360K_TITLE_ID
    tls: tuple[int, int, int, int] | None = None
    session_key: bytes = bytes(range(16))
    extra_headers: dict[int, bytes | int] = field(default_factory=dict)


def build_xex(spec: XexSpec) -> bytes:
    """A complete XEX2 file for ``spec``."""
    image = bytes(spec.image)
    if len(image) % PAGE:
        image += bytes(PAGE - len(image) % PAGE)
    compression = COMPRESSIONS[spec.compression]
    encrypted = spec.encryption is not None
    master = dict(crypto.KEYS)[spec.encryption] if spec.encryption else None
    # The basefile and its format info.
    if compression == COMPRESSION_NONE:
        stored = image
        info = struct.pack(">IHH", 8, int(encrypted), COMPRESSION_NONE)
    elif compression == COMPRESSION_BASIC:
        blocks, stored = _basic_blocks(image)
        info = struct.pack(">IHH", 8 + 8 * len(blocks), int(encrypted), COMPRESSION_BASIC)
        info += b"".join(struct.pack(">II", d, z) for d, z in blocks)
    else:
        frames = lzx_compress_frames(
            image, spec.window_size, spec.lzx_block_types, cross_frame=spec.lzx_cross_frame
        )
        first_size, first_hash, stored = _lzx_blocks(frames)
        info = (
            struct.pack(
                ">IHHII", 36, int(encrypted), COMPRESSION_NORMAL, spec.window_size, first_size
            )
            + first_hash
        )
    if master is not None:
        if len(stored) % 16:
            stored += bytes(16 - len(stored) % 16)
        stored = crypto.encrypt(spec.session_key, stored)
    # Optional headers: key -> inline value (int) or data (bytes).
    headers: dict[int, bytes | int] = {
        FILE_FORMAT_INFO: info,
        ENTRY_POINT: spec.entry,
        IMAGE_BASE_ADDRESS: spec.base,
        SYSTEM_FLAGS: 0,
    }
    if spec.imports:
        headers[IMPORT_LIBRARIES] = _import_libraries(spec.imports)
    name = spec.pe_name.encode() + b"\0"
    name += bytes(-len(name) % 4)
    headers[ORIGINAL_PE_NAME] = struct.pack(">I", 4 + len(name)) + name
    if spec.stack_size is not None:
        headers[DEFAULT_STACK_SIZE] = spec.stack_size
    if spec.tls is not None:
        headers[TLS_INFO] = struct.pack(">IIII", *spec.tls)
    headers[EXECUTION_INFO] = struct.pack(">IIIIBBBBI", 0, 0, 0, spec.title_id, 0, 0, 1, 1, 0)
    headers.update(spec.extra_headers)
    pages = list(spec.pages) or [(2, len(image) // PAGE)]
    # Layout: fixed header, the key table, security info, then each header's data.
    table_end = 24 + 8 * len(headers)
    security_at = (table_end + 15) & ~15
    security_size = PAGE_DESCRIPTORS + PAGE_DESCRIPTOR_SIZE * len(pages)
    cursor = (security_at + security_size + 15) & ~15
    table = bytearray()
    blobs = bytearray()
    for key in sorted(headers):
        value = headers[key]
        if isinstance(value, int):
            table += struct.pack(">II", key, value)
            continue
        table += struct.pack(">II", key, cursor + len(blobs))
        blobs += value
        blobs += bytes(-len(blobs) % 8)
    header_size = (cursor + len(blobs) + 0xFFF) & ~0xFFF
    out = bytearray(header_size)
    struct.pack_into(
        ">4sIIIII", out, 0, MAGIC, MODULE_TITLE, header_size, 0, security_at, len(headers)
    )
    out[24:table_end] = table
    out[cursor : cursor + len(blobs)] = blobs
    sec = bytearray(security_size)
    struct.pack_into(">I", sec, 0, header_size)
    struct.pack_into(">I", sec, IMAGE_SIZE, len(image))
    struct.pack_into(">I", sec, INFO_SIZE, 0x174)
    struct.pack_into(">I", sec, IMAGE_FLAGS, 0)
    struct.pack_into(">I", sec, LOAD_ADDRESS, spec.base)
    struct.pack_into(">I", sec, IMPORT_TABLE_COUNT, len(spec.imports))
    file_key = crypto.encrypt(master, spec.session_key) if master is not None else bytes(16)
    sec[AES_KEY : AES_KEY + 16] = file_key
    struct.pack_into(">I", sec, REGION, 0xFFFFFFFF)
    struct.pack_into(">I", sec, ALLOWED_MEDIA, 0xFFFFFFFF)
    struct.pack_into(">I", sec, PAGE_DESCRIPTOR_COUNT, len(pages))
    page = 0
    for i, (kind, count) in enumerate(pages):
        at = PAGE_DESCRIPTORS + PAGE_DESCRIPTOR_SIZE * i
        struct.pack_into(">I", sec, at, count << 4 | kind)
        body = image[page * PAGE : (page + count) * PAGE]
        sec[at + 4 : at + PAGE_DESCRIPTOR_SIZE] = hashlib.sha1(body).digest()
        page += count
    out[security_at : security_at + security_size] = sec
    return bytes(out) + stored


def _basic_blocks(image: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """(data size, zero size) blocks: runs of 64+ zero bytes left out, data in 16-byte units."""
    blocks: list[tuple[int, int]] = []
    stored = bytearray()
    pos = 0
    n = len(image)
    while pos < n:
        zero = image.find(bytes(64), pos)
        if zero < 0:
            zero = n
        data_end = min(n, (zero - pos + 15) // 16 * 16 + pos)
        zero_end = data_end
        while zero_end < n and image[zero_end] == 0:
            zero_end += 1
        zero_end = data_end + (zero_end - data_end) // 16 * 16  # keep blocks 16-byte aligned
        blocks.append((data_end - pos, zero_end - data_end))
        stored += image[pos:data_end]
        pos = zero_end
    return blocks, bytes(stored)


def _lzx_blocks(frames: list[bytes]) -> tuple[int, bytes, bytes]:
    """The block chain around an LZX stream, one chunk per frame: first block size and hash."""
    groups: list[list[bytes]] = []
    for chunk in frames:
        if not groups or sum(len(c) + 2 for c in groups[-1]) + len(chunk) + 28 > LZX_BLOCK:
            groups.append([])
        groups[-1].append(chunk)
    if not groups:
        groups.append([])
    next_size, next_hash = 0, bytes(20)
    blocks: list[bytes] = []
    for group in reversed(groups):
        body = struct.pack(">I", next_size) + next_hash
        body += b"".join(struct.pack(">H", len(c)) + c for c in group) + b"\0\0"
        blocks.append(body)
        next_size, next_hash = len(body), hashlib.sha1(body).digest()
    return next_size, next_hash, b"".join(reversed(blocks))


def _import_libraries(libraries: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    strings = bytearray()
    for name, _ in libraries:
        strings += name.encode() + b"\0"
        strings += bytes(-len(strings) % 4)
    records = bytearray()
    for index, (_, addresses) in enumerate(libraries):
        size = 40 + 4 * len(addresses)
        records += struct.pack(
            ">I20sIIIHH", size, bytes(20), 0, KERNEL_VERSION, KERNEL_VERSION, index, len(addresses)
        )
        records += b"".join(struct.pack(">I", a) for a in addresses)
    body = struct.pack(">II", len(strings), len(libraries)) + strings + records
    return struct.pack(">I", 4 + len(body)) + body


def pe_headers(
    image_base: int,
    entry: int,
    size_of_image: int,
    sections: Sequence[tuple[str, int, int, int]],
) -> bytes:
    """Little-endian PE headers (MZ, PE, PE32 optional header, sections) at the image base.

    ``sections`` are (name, address, size, characteristics) with absolute addresses;
    the basefile is the memory layout, so each section's raw data lies at its RVA.
    """
    lfanew = 0x40
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, lfanew)
    coff = struct.pack(
        "<4sHHIIIHH",
        b"PE\0\0",
        MACHINE_POWERPCBE,
        len(sections),
        0,
        0,
        0,
        OPTIONAL_HEADER_SIZE,
        FILE_32BIT_MACHINE | 0x0002,
    )
    opt = bytearray(OPTIONAL_HEADER_SIZE)
    struct.pack_into("<H", opt, 0, PE32_MAGIC)
    struct.pack_into("<I", opt, 16, entry - image_base)
    struct.pack_into("<I", opt, 28, image_base)
    struct.pack_into("<II", opt, 32, PAGE, 0x200)  # section and file alignment
    struct.pack_into("<I", opt, 56, size_of_image)
    struct.pack_into("<I", opt, 60, PAGE)  # size of headers
    struct.pack_into("<H", opt, 68, SUBSYSTEM_XBOX)
    struct.pack_into("<I", opt, 92, 16)  # data directories (all empty)
    table = bytearray()
    for name, address, size, flags in sections:
        rva = address - image_base
        table += struct.pack(
            "<8sIIIIIIHHI", name.encode()[:8], size, rva, size, rva, 0, 0, 0, 0, flags
        )
    return bytes(dos) + coff + bytes(opt) + bytes(table)
