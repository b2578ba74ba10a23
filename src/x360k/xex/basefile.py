"""The basefile: the image's bytes after the headers, decrypted and decompressed.

The file format info header says how they are stored. Encryption is none or
AES-128-CBC with the session key (the whole basefile is one CBC stream; with
basic compression only the data blocks are, still as one stream).
Compression is

- none: the image itself;
- basic: a list of (data size, zero size) blocks: copy that much data, then
  leave that many zero bytes;
- normal (LZX): a chain of blocks, each ``[next block size][SHA-1 of the next
  block][chunks: u16 size + bytes ...][u16 0]``, the first block's size and
  hash in the header; the chunks, concatenated, are one LZX stream;
- delta (patches): not supported.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Final

from x360k.xex import crypto
from x360k.xex.errors import XexError
from x360k.xex.headers import FILE_FORMAT_INFO, XexHeader
from x360k.xex.lzx import LzxError, lzx_decompress

ENCRYPTION_NONE: Final = 0
ENCRYPTION_NORMAL: Final = 1
COMPRESSION_NONE: Final = 0
COMPRESSION_BASIC: Final = 1
COMPRESSION_NORMAL: Final = 2
COMPRESSION_DELTA: Final = 3
COMPRESSION_NAMES: Final = {0: "none", 1: "basic", 2: "lzx", 3: "delta"}
ENCRYPTION_NAMES: Final = {0: "none", 1: "aes"}
#: The largest image a file may declare: the console's 512 MiB of memory.
MAX_IMAGE: Final = 512 << 20


@dataclass(frozen=True, slots=True)
class FileFormat:
    encryption: int
    compression: int
    #: Basic compression: (data size, zero size) per block.
    blocks: list[tuple[int, int]] = field(default_factory=list)
    #: LZX: window size and the first block's size and SHA-1.
    window_size: int = 0
    first_block_size: int = 0
    first_block_hash: bytes = b""
    #: Where the file format info sits in the file (for error offsets).
    at: int = 0


def file_format(header: XexHeader) -> FileFormat:
    h = header.optional.get(FILE_FORMAT_INFO)
    if h is None:
        raise XexError("no file format info header", FIXED_HEADER_END)
    body, at = h.data, h.value
    if len(body) < 8:
        raise XexError("file format info is shorter than 8 bytes", at)
    _size, encryption, compression = struct.unpack_from(">IHH", body, 0)
    if encryption not in ENCRYPTION_NAMES:
        raise XexError(f"unknown encryption type {encryption}", at + 4)
    if compression == COMPRESSION_BASIC:
        blocks = [struct.unpack_from(">II", body, o) for o in range(8, len(body) - 7, 8)]
        return FileFormat(encryption, compression, blocks=blocks, at=at)
    if compression == COMPRESSION_NORMAL:
        if len(body) < 36:
            raise XexError("LZX file format info is shorter than 36 bytes", at)
        window, first = struct.unpack_from(">II", body, 8)
        return FileFormat(
            encryption,
            compression,
            window_size=window,
            first_block_size=first,
            first_block_hash=bytes(body[16:36]),
            at=at,
        )
    if compression == COMPRESSION_NONE:
        return FileFormat(encryption, compression, at=at)
    if compression == COMPRESSION_DELTA:
        raise XexError("delta-compressed (patch) XEX files are not supported", at + 6)
    raise XexError(f"unknown compression type {compression}", at + 6)


FIXED_HEADER_END: Final = 0x18


def read_basefile(
    data: bytes, header: XexHeader, fmt: FileFormat, key: bytes | None, image_size: int
) -> bytearray:
    """The image (``image_size`` bytes for LZX; as stored otherwise), decrypted with ``key``."""
    start = header.header_size
    raw = bytes(data[start:])
    if fmt.compression == COMPRESSION_NONE:
        if fmt.encryption == ENCRYPTION_NORMAL:
            assert key is not None
            raw = crypto.decrypt(key, raw[: len(raw) & ~15]) + raw[len(raw) & ~15 :]
        return bytearray(raw)
    if fmt.compression == COMPRESSION_BASIC:
        return _basic(raw, start, fmt, key)
    return _lzx(raw, start, fmt, key, image_size)


def _basic(raw: bytes, start: int, fmt: FileFormat, key: bytes | None) -> bytearray:
    total = sum(d + z for d, z in fmt.blocks)
    if total > MAX_IMAGE:
        raise XexError(f"basic compression blocks add up to {total} bytes", fmt.at)
    stored = sum(d for d, _ in fmt.blocks)
    if stored > len(raw):
        raise XexError(
            f"basic compression blocks hold {stored} bytes but the file has {len(raw)}",
            start + len(raw),
        )
    if fmt.encryption == ENCRYPTION_NORMAL:
        assert key is not None
        if any(d % 16 for d, _ in fmt.blocks):
            raise XexError("an encrypted basic block is not a multiple of 16 bytes", fmt.at)
        raw = crypto.decrypt(key, raw[:stored])
    out = bytearray(total)
    src = dst = 0
    for d, z in fmt.blocks:
        out[dst : dst + d] = raw[src : src + d]
        src += d
        dst += d + z
    return out


def _lzx(raw: bytes, start: int, fmt: FileFormat, key: bytes | None, size: int) -> bytearray:
    if fmt.encryption == ENCRYPTION_NORMAL:
        assert key is not None
        raw = crypto.decrypt(key, raw[: len(raw) & ~15])
    if size > MAX_IMAGE:
        raise XexError(f"image size {size} is too large", start)
    stream = bytearray()
    #: (stream offset, file offset) where each chunk starts, to name error offsets.
    chunks: list[tuple[int, int]] = []
    block_size, block_hash = fmt.first_block_size, fmt.first_block_hash
    p = 0
    index = 0
    while block_size:
        if p + block_size > len(raw) or block_size < 24:
            raise XexError(f"LZX block {index} of {block_size} bytes runs past the file", start + p)
        block = raw[p : p + block_size]
        if hashlib.sha1(block).digest() != block_hash:
            raise XexError(
                f"LZX block {index} does not match its SHA-1 (corrupt, or the wrong key)",
                start + p,
            )
        next_size = int.from_bytes(block[:4], "big")
        next_hash = block[4:24]
        q = 24
        while True:
            if q + 2 > block_size:
                raise XexError(f"LZX block {index} has no end-of-chunks marker", start + p + q)
            n = int.from_bytes(block[q : q + 2], "big")
            q += 2
            if n == 0:
                break
            if q + n > block_size:
                raise XexError(f"LZX chunk runs past the end of block {index}", start + p + q)
            chunks.append((len(stream), start + p + q))
            stream += block[q : q + n]
            q += n
        p += block_size
        block_size, block_hash = next_size, next_hash
        index += 1
    try:
        return lzx_decompress(bytes(stream), size, fmt.window_size)
    except LzxError as exc:
        starts = [s for s, _ in chunks]
        i = bisect.bisect_right(starts, exc.offset) - 1
        where = chunks[i][1] + exc.offset - chunks[i][0] if i >= 0 else start
        raise XexError(str(exc), where) from None
