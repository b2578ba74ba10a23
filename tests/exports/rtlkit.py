"""Helpers the Rtl export tests share: guest strings in and out of a kernel's memory."""

from __future__ import annotations

import struct

from x360k.kernel import Kernel

UNMAPPED = 0x10000000  # no region covers it


def cstr(k: Kernel, data: bytes) -> int:
    ptr = k.memory.alloc(len(data) + 1, 1)
    k.memory.write_bytes(ptr, data + b"\0")
    return ptr


def wstr(k: Kernel, text: str) -> int:
    data = text.encode("utf-16-be")
    ptr = k.memory.alloc(len(data) + 2, 2)
    k.memory.write_bytes(ptr, data + b"\0\0")
    return ptr


def record(k: Kernel, length: int, maximum: int, buffer: int) -> int:
    ptr = k.memory.alloc(8, 4)
    k.memory.write_bytes(ptr, struct.pack(">HHI", length, maximum, buffer))
    return ptr


def fields(k: Kernel, ptr: int) -> tuple[int, int, int]:
    length, maximum, buffer = struct.unpack(">HHI", k.memory.read_bytes(ptr, 8))
    return length, maximum, buffer


def ansi(k: Kernel, data: bytes, room: int = 0) -> int:
    """An ANSI_STRING over a fresh buffer holding ``data`` (MaximumLength len + 1 + room)."""
    buf = k.memory.alloc(len(data) + 1 + room, 1)
    k.memory.write_bytes(buf, data)
    return record(k, len(data), len(data) + 1 + room, buf)


def unicode(k: Kernel, text: str, room: int = 0) -> int:
    data = text.encode("utf-16-be")
    buf = k.memory.alloc(len(data) + 2 + room, 2)
    k.memory.write_bytes(buf, data)
    return record(k, len(data), len(data) + 2 + room, buf)


def text_of(k: Kernel, ptr: int) -> bytes:
    length, _, buffer = fields(k, ptr)
    return k.memory.read_bytes(buffer, length)


def signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def double_bits(value: float) -> int:
    return int(struct.unpack(">Q", struct.pack(">d", value))[0])
