"""Helpers the crypto export tests share: guest buffers in and out of a kernel."""

from __future__ import annotations

from x360k.kernel import Kernel


def put(k: Kernel, data: bytes, room: int = 0) -> int:
    """A fresh guest buffer holding ``data`` (and ``room`` zero bytes after it)."""
    ptr = k.memory.alloc(max(len(data) + room, 1), 8)
    k.memory.write_bytes(ptr, data)
    return ptr


def get(k: Kernel, ptr: int, size: int) -> bytes:
    return k.memory.read_bytes(ptr, size)
