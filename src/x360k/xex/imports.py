"""Import libraries: which kernel (and system library) exports a title needs.

The import libraries header holds a string table (library names, each padded
to 4 bytes) and one record per library: its size, a SHA-1 of the next
library's record, id, version, minimum version, name index, and ``count``
addresses of import records in the image. Each record is a word: the top
byte is 0 for a *variable* (the loader writes the export's address there) or
1 for a *thunk* (16 bytes of code the loader rewrites to reach the export),
the low 16 bits the ordinal. A function import is a variable record followed
by its thunk record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from x360k.xex.errors import XexError
from x360k.xex.headers import IMPORT_LIBRARIES, XexHeader

RECORD_VARIABLE: Final = 0
RECORD_THUNK: Final = 1
LIBRARY_HEADER: Final = struct.Struct(">I20sIIIHH")
THUNK_SIZE: Final = 16


@dataclass(frozen=True, slots=True)
class ImportLibrary:
    name: str
    id: int
    version: int
    version_min: int
    #: Guest addresses of the import records, in file order.
    records: tuple[int, ...]
    digest: bytes
    #: File offset of the library's record (for errors).
    at: int


@dataclass(frozen=True, slots=True)
class ImportRecord:
    library: str
    ordinal: int
    #: ``variable`` or ``thunk``.
    kind: str
    address: int


@dataclass(slots=True)
class ImportTable:
    libraries: list[ImportLibrary] = field(default_factory=list)


def parse_imports(header: XexHeader) -> ImportTable:
    h = header.optional.get(IMPORT_LIBRARIES)
    table = ImportTable()
    if h is None:
        return table
    body, base = h.data, h.value
    if len(body) < 12:
        raise XexError("import libraries header is shorter than 12 bytes", base)
    _size, strings_size, count = struct.unpack_from(">III", body, 0)
    if 12 + strings_size > len(body):
        raise XexError("import library names run past their header", base + 4)
    names: list[str] = []
    i = 12
    end = 12 + strings_size
    while i < end and len(names) < count:
        stop = body.find(b"\0", i, end)
        if stop < 0:
            stop = end
        names.append(body[i:stop].decode("latin-1"))
        i = (stop + 1 + 3) & ~3
    offset = end
    while offset + LIBRARY_HEADER.size <= len(body):
        size, digest, lib_id, version, version_min, name_index, n = LIBRARY_HEADER.unpack_from(
            body, offset
        )
        if size == 0:
            break
        if size < LIBRARY_HEADER.size + 4 * n or offset + size > len(body):
            raise XexError(f"import library record of {size} bytes is inconsistent", base + offset)
        if name_index & 0xFF >= len(names):
            raise XexError(f"import library name index {name_index} is out of range", base + offset)
        records = struct.unpack_from(f">{n}I", body, offset + LIBRARY_HEADER.size)
        table.libraries.append(
            ImportLibrary(
                names[name_index & 0xFF],
                lib_id,
                version,
                version_min,
                records,
                digest,
                base + offset,
            )
        )
        offset += size
    return table


def read_records(table: ImportTable, image: bytes | bytearray, base: int) -> list[ImportRecord]:
    """Every import record's kind and ordinal, read from the loaded image at ``base``."""
    out: list[ImportRecord] = []
    for lib in table.libraries:
        for address in lib.records:
            off = address - base
            if off < 0 or off + 4 > len(image):
                raise XexError(
                    f"{lib.name} import record at 0x{address:08x} is outside the image", lib.at
                )
            word = int.from_bytes(image[off : off + 4], "big")
            kind = word >> 24
            if kind not in (RECORD_VARIABLE, RECORD_THUNK):
                raise XexError(
                    f"{lib.name} import record at 0x{address:08x} has type {kind}, not 0 or 1",
                    lib.at,
                )
            if kind == RECORD_THUNK and off + THUNK_SIZE > len(image):
                raise XexError(f"{lib.name} thunk at 0x{address:08x} runs past the image", lib.at)
            out.append(
                ImportRecord(
                    lib.name,
                    word & 0xFFFF,
                    "thunk" if kind == RECORD_THUNK else "variable",
                    address,
                )
            )
    return out
