"""Rtl memory exports: comparing and filling guest memory, and the CRC-32 of a buffer.

xboxkrnl exports only these; RtlZeroMemory, RtlFillMemory and RtlMoveMemory
are compiler intrinsics in the console's headers and have no ordinal. A range
that runs into unmapped memory fails the whole call with
STATUS_ACCESS_VIOLATION before anything is written (the console's kernel
would fault on the same access); a length is never a reason to allocate
host memory beyond the guest range it names.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl memory")


@GROUP.export(
    "RtlCompareMemory",
    0x11A,
    Param("source1", K.BUFFER),
    Param("source2", K.BUFFER),
    Param("length", K.U32),
    returns=Returns.VALUE,
)
def rtl_compare_memory(k: KernelState, t: Thread, a: int, b: int, n: int) -> int:
    """How many leading bytes of the two ranges are equal (NT: up to the first difference).

    Canary counts every equal byte, not just the leading run
    (``compare_memory_counts_all``).
    """
    if n == 0:
        return 0
    mem = k.memory
    left, right = mem.read_bytes(a, n), mem.read_bytes(b, n)
    if k.quirks.compare_memory_counts_all:
        return sum(1 for x, y in zip(left, right, strict=True) if x == y)
    if left == right:
        return n
    i = 0
    while left[i] == right[i]:
        i += 1
    return i


@GROUP.export(
    "RtlCompareMemoryUlong",
    0x11B,
    Param("source", K.BUFFER),
    Param("length", K.U32),
    Param("pattern", K.U32),
    returns=Returns.VALUE,
)
def rtl_compare_memory_ulong(k: KernelState, t: Thread, source: int, n: int, pattern: int) -> int:
    """Bytes of leading whole ULONGs equal to ``pattern`` (a trailing partial ULONG is ignored)."""
    count = n & ~3
    if count == 0:
        return 0
    data = k.memory.read_bytes(source, count)
    word = pattern.to_bytes(4, "big")
    if data == word * (count // 4):
        return count
    i = 0
    while data[i : i + 4] == word:
        i += 4
    return i


@GROUP.export(
    "RtlFillMemoryUlong",
    0x126,
    Param("destination", K.BUFFER),
    Param("length", K.U32),
    Param("pattern", K.U32),
    returns=Returns.VOID,
)
def rtl_fill_memory_ulong(k: KernelState, t: Thread, dest: int, n: int, pattern: int) -> int:
    """Fill ``length / 4`` ULONGs with ``pattern`` (the length is a multiple of 4)."""
    words = n >> 2
    if words:
        mem = k.memory
        mem.require(dest, 4 * words)
        mem.write_bytes(dest, pattern.to_bytes(4, "big") * words)
    return 0


@GROUP.export(
    "RtlComputeCrc32",
    0x27B,
    Param("seed", K.U32),
    Param("buffer", K.BUFFER),
    Param("length", K.U32),
    returns=Returns.VALUE,
)
def rtl_compute_crc32(k: KernelState, t: Thread, seed: int, buffer: int, n: int) -> int:
    """The CRC-32 (IEEE 802.3, zlib's) of the buffer, continuing from ``seed``."""
    if n == 0:
        return seed
    return zlib.crc32(k.memory.read_bytes(buffer, n), seed) & 0xFFFFFFFF
