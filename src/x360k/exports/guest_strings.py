"""Guest string access the Rtl exports share: bounded NUL scans and the STRING records.

An ANSI_STRING and a UNICODE_STRING are both ``u16 Length, u16 MaximumLength,
u32 Buffer`` (lengths in bytes; the Unicode buffer is UTF-16BE). A NUL scan
walks guest memory only: it stops at the terminator or faults
(:class:`~x360k.memory.GuestMemoryError`, so the call fails as the kernel's
would) at the first unmapped byte, and never copies more than it must.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from x360k.memory import GuestMemory

#: Bytes a STRING record occupies.
STRING_SIZE: Final = 8
#: Where a kernel-allocated string buffer's size is remembered (for the Free calls).
HEAP_KEY: Final = "rtl_heap"


def strlen(mem: GuestMemory, address: int) -> int:
    """Bytes before the first NUL at ``address`` (faults where memory ends first)."""
    n = 0
    while True:
        buf, off = mem.span(address + n, 1)
        end = buf.find(b"\0", off)
        if end >= 0:
            return n + end - off
        n += len(buf) - off


def wcslen(mem: GuestMemory, address: int) -> int:
    """UTF-16 units before the first 0x0000 unit at ``address``."""
    n = 0
    while True:
        buf, off = mem.span(address + 2 * n, 2)
        stop = len(buf) - ((len(buf) - off) & 1)
        for i in range(off, stop - 1, 2):
            if buf[i] == 0 and buf[i + 1] == 0:
                return n + (i - off) // 2
        n += (stop - off) // 2


def read_string(mem: GuestMemory, address: int) -> tuple[int, int, int]:
    """(Length, MaximumLength, Buffer) of the STRING record at ``address``."""
    buf, off = mem.span(address, STRING_SIZE)
    return (
        buf[off] << 8 | buf[off + 1],
        buf[off + 2] << 8 | buf[off + 3],
        int.from_bytes(buf[off + 4 : off + 8], "big"),
    )


def write_string(mem: GuestMemory, address: int, length: int, maximum: int, buffer: int) -> None:
    buf, off = mem.span(address, STRING_SIZE)
    buf[off : off + STRING_SIZE] = (
        (length & 0xFFFF).to_bytes(2, "big")
        + (maximum & 0xFFFF).to_bytes(2, "big")
        + (buffer & 0xFFFFFFFF).to_bytes(4, "big")
    )


def string_bytes(mem: GuestMemory, address: int) -> bytes:
    """The Length bytes a STRING record names (empty for no buffer)."""
    length, _, buffer = read_string(mem, address)
    return mem.read_bytes(buffer, length) if length and buffer else b""


def units(data: bytes) -> list[int]:
    """UTF-16BE bytes as code units (an odd trailing byte is dropped, as NT does)."""
    return [data[i] << 8 | data[i + 1] for i in range(0, len(data) - 1, 2)]


def pack_units(values: list[int]) -> bytes:
    return b"".join((v & 0xFFFF).to_bytes(2, "big") for v in values)
