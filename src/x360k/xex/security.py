"""The XEX2 security info: where the image loads, its size, its pages, its file key.

It sits at the header's security offset: the image size, an RSA signature
(not checked: only the console's boot loader has the public key that
matters), the load address, the encrypted AES file key and one page
descriptor per run of pages (a page count and a section type, code, data or
read-only data, with a SHA-1 of those pages).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

from x360k.xex.errors import XexError
from x360k.xex.headers import span, u32

#: Security info fields, by offset from its start.
IMAGE_SIZE: Final = 0x004
INFO_SIZE: Final = 0x108
IMAGE_FLAGS: Final = 0x10C
LOAD_ADDRESS: Final = 0x110
IMPORT_TABLE_COUNT: Final = 0x128
AES_KEY: Final = 0x150
EXPORT_TABLE: Final = 0x160
REGION: Final = 0x178
ALLOWED_MEDIA: Final = 0x17C
PAGE_DESCRIPTOR_COUNT: Final = 0x180
PAGE_DESCRIPTORS: Final = 0x184
PAGE_DESCRIPTOR_SIZE: Final = 24

SECTION_CODE: Final = 1
SECTION_DATA: Final = 2
SECTION_READONLY: Final = 3
SECTION_NAMES: Final = {SECTION_CODE: "code", SECTION_DATA: "data", SECTION_READONLY: "readonly"}
#: Image flag: the image's pages are 4 KiB (otherwise 64 KiB).
FLAG_PAGE_SIZE_4KB: Final = 0x10000000


@dataclass(frozen=True, slots=True)
class PageRun:
    """``count`` pages of one section type."""

    info: int
    count: int
    digest: bytes

    @property
    def kind(self) -> str:
        return SECTION_NAMES.get(self.info, f"type {self.info}")


@dataclass(slots=True)
class SecurityInfo:
    header_size: int
    image_size: int
    image_flags: int
    load_address: int
    file_key: bytes
    export_table: int
    region: int
    allowed_media: int
    import_table_count: int
    pages: list[PageRun] = field(default_factory=list)

    @property
    def page_size(self) -> int:
        """Bytes per page: 4 KiB with the image flag set, else 64 KiB.

        (canary takes the page size of the heap the image lands in instead,
        64 KiB for 0x80000000-0x8FFFFFFF, which agrees for titles at 0x82000000.)
        """
        return 0x1000 if self.image_flags & FLAG_PAGE_SIZE_4KB else 0x10000


def parse_security(data: bytes, offset: int, header_size: int) -> SecurityInfo:
    """The security info at ``offset``; it must lie inside the header."""
    limit = data[:header_size]
    base = span(limit, offset, PAGE_DESCRIPTORS, "security info")
    count = u32(limit, offset + PAGE_DESCRIPTOR_COUNT, "security info")
    table = offset + PAGE_DESCRIPTORS
    if count > (header_size - table) // PAGE_DESCRIPTOR_SIZE:
        raise XexError(f"{count} page descriptors do not fit in the header", table - 4)

    def word(at: int) -> int:
        value: int = struct.unpack_from(">I", base, at)[0]
        return value

    info = SecurityInfo(
        header_size=word(0),
        image_size=word(IMAGE_SIZE),
        image_flags=word(IMAGE_FLAGS),
        load_address=word(LOAD_ADDRESS),
        file_key=base[AES_KEY : AES_KEY + 16],
        export_table=word(EXPORT_TABLE),
        region=word(REGION),
        allowed_media=word(ALLOWED_MEDIA),
        import_table_count=word(IMPORT_TABLE_COUNT),
    )
    for i in range(count):
        at = table + PAGE_DESCRIPTOR_SIZE * i
        value = u32(limit, at, "page descriptors")
        digest = limit[at + 4 : at + PAGE_DESCRIPTOR_SIZE]
        info.pages.append(PageRun(value & 0xF, value >> 4, bytes(digest)))
    return info
