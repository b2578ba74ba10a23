"""Reading a XEX2 file whole: headers, security info, the decrypted basefile, its PE.

:func:`read_xex` is what every tool calls. It tries the retail key and then
the devkit key (canary's order) for encrypted files: a key is right when the
basefile it gives passes the checks (LZX block hashes, the PE headers).
Anything wrong is a single :class:`~x360k.xex.errors.XexError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from x360k.xex import crypto
from x360k.xex.basefile import (
    COMPRESSION_NONE,
    ENCRYPTION_NORMAL,
    FileFormat,
    file_format,
    read_basefile,
)
from x360k.xex.errors import XexError
from x360k.xex.headers import (
    ENTRY_POINT,
    IMAGE_BASE_ADDRESS,
    XexHeader,
    parse_header,
)
from x360k.xex.imports import ImportRecord, ImportTable, parse_imports, read_records
from x360k.xex.lzx import LzxError
from x360k.xex.pe import PeError, PeImage, parse_pe
from x360k.xex.security import SecurityInfo, parse_security


@dataclass(slots=True)
class XexFile:
    header: XexHeader
    security: SecurityInfo
    format: FileFormat
    #: The image as it lies in memory from ``base``.
    image: bytearray
    pe: PeImage
    imports: ImportTable
    records: list[ImportRecord] = field(default_factory=list)
    #: Which key decrypted it: "retail", "devkit" or None (not encrypted).
    key: str | None = None

    @property
    def base(self) -> int:
        value = self.header.value(IMAGE_BASE_ADDRESS)
        return self.security.load_address if value is None else value

    @property
    def entry(self) -> int:
        value = self.header.value(ENTRY_POINT)
        return self.pe.image_base + self.pe.entry_rva if value is None else value


def read_xex(data: bytes) -> XexFile:
    """Parse, decrypt and decompress ``data``; raises XexError naming the first problem."""
    try:
        return _read(bytes(data))
    except (IndexError, ValueError, KeyError, OverflowError, struct.error) as exc:
        if isinstance(exc, XexError):
            raise
        # A check this reader lacks; still one line, never a traceback.
        raise XexError(f"malformed XEX2 file ({exc})", 0) from None


def _read(data: bytes) -> XexFile:
    header = parse_header(data)
    security = parse_security(data, header.security_offset, header.header_size)
    fmt = file_format(header)
    imports = parse_imports(header)
    base = header.value(IMAGE_BASE_ADDRESS) or security.load_address
    if fmt.encryption != ENCRYPTION_NORMAL:
        image, pe = _image(data, header, fmt, None, security)
        key_name = None
    else:
        first: XexError | None = None
        for name, master in crypto.KEYS:
            session = crypto.session_key(master, security.file_key)
            try:
                image, pe = _image(data, header, fmt, session, security)
                key_name = name
                break
            except XexError as exc:
                first = first or exc
        else:
            assert first is not None
            raise XexError(
                f"neither the retail nor the devkit key gives an image: {first.what}", first.offset
            )
    records = read_records(imports, image, base)
    return XexFile(header, security, fmt, image, pe, imports, records, key_name)


def _image(
    data: bytes, header: XexHeader, fmt: FileFormat, key: bytes | None, security: SecurityInfo
) -> tuple[bytearray, PeImage]:
    try:
        image = read_basefile(data, header, fmt, key, security.image_size)
    except LzxError as exc:  # pragma: no cover - read_basefile translates these
        raise XexError(str(exc), header.header_size) from None
    try:
        pe = parse_pe(image)
    except PeError as exc:
        if fmt.compression == COMPRESSION_NONE and fmt.encryption != ENCRYPTION_NORMAL:
            raise XexError(f"basefile: {exc}", header.header_size + exc.offset) from None
        # Decompressed or decrypted bytes have no file offset of their own: name both.
        raise XexError(f"basefile (image byte {exc.offset}): {exc}", header.header_size) from None
    return image, pe
