"""Rtl string exports: STRING records, conversions, comparisons, character case.

The console follows NT's documented Rtl semantics with a single-byte ANSI
code page (bytes 0x00-0xFF are the code points U+0000-U+00FF; a wider
character becomes ``?``). Canary's departures are quirks: 16-bit wrap of an
initialised length (``init_string_length_wraps``), ASCII-only upcasing
(``upcase_unicode_ascii_only``), a Unicode copy of twice the bytes
(``copy_unicode_string_copies_double``), UTF-8 for "ANSI" and an untouched
Length (``unicode_to_ansi_utf8``, ``unicode_to_ansi_keeps_length``). Exports
canary does not register get NT's behaviour under both profiles.

Buffers the kernel allocates (``AllocateDestinationString``, RtlCreateUnicodeString)
come from the kernel's own range and are given back by the Free calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports import guest_strings as G
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import (
    STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_PARAMETER_2,
    STATUS_NO_MEMORY,
    STATUS_SUCCESS,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl strings")

#: The largest Length NT lets an ANSI_STRING / UNICODE_STRING be initialised to.
MAX_ANSI: Final = 0xFFFE
MAX_UNICODE: Final = 0xFFFC
#: A negative comparison result goes back as its 32-bit two's complement (never the
#: dispatcher's BLOCKED, -1).
M32: Final = 0xFFFFFFFF
#: ``RtlCompareStringN``'s "measure the string yourself" length.
MEASURE: Final = 0xFFFFFFFF


def _upper_byte(c: int) -> int:
    if 0x61 <= c <= 0x7A or (0xE0 <= c <= 0xFE and c != 0xF7):
        return c - 0x20
    return 0x3F if c == 0xFF else c  # U+0178 has no single-byte form


def _lower_byte(c: int) -> int:
    if 0x41 <= c <= 0x5A or (0xC0 <= c <= 0xDE and c != 0xD7):
        return c + 0x20
    return c


#: RtlUpperChar / RtlLowerChar over the single-byte code page.
UPPER: Final = bytes(_upper_byte(c) for c in range(256))
LOWER: Final = bytes(_lower_byte(c) for c in range(256))


def _heap(k: KernelState) -> dict[int, int]:
    heap: dict[int, int] = k.ext.setdefault(G.HEAP_KEY, {})
    return heap


def allocate(k: KernelState, size: int) -> int:
    """A kernel string buffer of ``size`` bytes (0 when the kernel's range is full)."""
    try:
        address = k.memory.alloc_system(size, 2)
    except MemoryError:
        return 0
    _heap(k)[address] = size
    return address


def release(k: KernelState, address: int) -> None:
    """Give back a buffer :func:`allocate` made; any other pointer is left alone."""
    size = _heap(k).pop(address, None)
    if size is not None:
        k.memory.free_system(address, size, 2)


def upcase_unit(k: KernelState, c: int) -> int:
    """One UTF-16 unit upcased as each profile's RtlUpcaseUnicodeChar does."""
    c &= 0xFFFF
    if k.quirks.upcase_unicode_ascii_only:
        return c - 0x20 if 0x61 <= c <= 0x7A else c
    if 0xD800 <= c <= 0xDFFF:
        return c
    up = chr(c).upper()
    return ord(up) if len(up) == 1 and ord(up) <= 0xFFFF else c


def downcase_unit(c: int) -> int:
    c &= 0xFFFF
    if 0xD800 <= c <= 0xDFFF:
        return c
    low = chr(c).lower()
    return ord(low) if len(low) == 1 and ord(low) <= 0xFFFF else c


def to_ansi(text: list[int]) -> bytes:
    """UTF-16 units in the single-byte code page (``?`` for what it cannot hold)."""
    return bytes(c if c < 0x100 else 0x3F for c in text)


# -- initialising and freeing --------------------------------------------------------------


@GROUP.export(
    "RtlInitAnsiString",
    0x12C,
    Param("destination", K.ANSI_STRING),
    Param("source", K.PTR, optional=True),
    returns=Returns.VOID,
)
def rtl_init_ansi_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Point an ANSI_STRING at a NUL-terminated string (its length, without copying)."""
    mem = k.memory
    mem.require(dest, G.STRING_SIZE)
    if not source:
        G.write_string(mem, dest, 0, 0, 0)
        return 0
    n = G.strlen(mem, source)
    if not k.quirks.init_string_length_wraps:
        n = min(n, MAX_ANSI)
    G.write_string(mem, dest, n, n + 1, source)
    return 0


@GROUP.export(
    "RtlInitUnicodeString",
    0x12D,
    Param("destination", K.PTR),
    Param("source", K.PTR, optional=True),
    returns=Returns.VALUE,
)
def rtl_init_unicode_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Point a UNICODE_STRING at a NUL-terminated wide string; returns the destination."""
    mem = k.memory
    mem.require(dest, G.STRING_SIZE)
    if not source:
        G.write_string(mem, dest, 0, 0, 0)
        return dest
    n = 2 * G.wcslen(mem, source)
    if not k.quirks.init_string_length_wraps:
        n = min(n, MAX_UNICODE)
    G.write_string(mem, dest, n, n + 2, source)
    return dest


def _free(k: KernelState, string: int) -> int:
    mem = k.memory
    _, _, buffer = G.read_string(mem, string)
    if buffer:
        release(k, buffer)
    G.write_string(mem, string, 0, 0, 0)
    return 0


@GROUP.export("RtlFreeAnsiString", 0x127, Param("string", K.ANSI_STRING), returns=Returns.VOID)
def rtl_free_ansi_string(k: KernelState, t: Thread, string: int) -> int:
    """Free a buffer the kernel allocated for the string and empty the record."""
    return _free(k, string)


@GROUP.export("RtlFreeUnicodeString", 0x128, Param("string", K.PTR), returns=Returns.VOID)
def rtl_free_unicode_string(k: KernelState, t: Thread, string: int) -> int:
    """Free a buffer the kernel allocated for the string and empty the record."""
    return _free(k, string)


@GROUP.export(
    "RtlCreateUnicodeString",
    0x123,
    Param("destination", K.PTR),
    Param("source", K.PTR),
    returns=Returns.VALUE,
)
def rtl_create_unicode_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """A kernel-allocated copy of a wide string: TRUE, or FALSE if too long or no memory."""
    mem = k.memory
    mem.require(dest, G.STRING_SIZE)
    size = 2 * (G.wcslen(mem, source) + 1)
    if size > MAX_UNICODE + 2:
        return 0
    buffer = allocate(k, size)
    if not buffer:
        return 0
    mem.write_bytes(buffer, mem.read_bytes(source, size))
    G.write_string(mem, dest, size - 2, size, buffer)
    return 1


# -- copying and appending -----------------------------------------------------------------


@GROUP.export(
    "RtlCopyString",
    0x121,
    Param("destination", K.ANSI_STRING),
    Param("source", K.ANSI_STRING, optional=True),
    returns=Returns.VOID,
)
def rtl_copy_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Copy as much of ``source`` as the destination's MaximumLength holds."""
    mem = k.memory
    _, dmax, dbuf = G.read_string(mem, dest)
    if not source:
        mem.write_u16(dest, 0)
        return 0
    slen, _, sbuf = G.read_string(mem, source)
    n = min(dmax, slen)
    if n:
        mem.write_bytes(dbuf, mem.read_bytes(sbuf, n))
    mem.write_u16(dest, n)
    return 0


@GROUP.export(
    "RtlCopyUnicodeString",
    0x122,
    Param("destination", K.PTR),
    Param("source", K.PTR, optional=True),
    returns=Returns.VOID,
)
def rtl_copy_unicode_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Copy as many bytes of ``source`` as the destination holds (NUL-terminated if room)."""
    mem = k.memory
    _, dmax, dbuf = G.read_string(mem, dest)
    if not source:
        mem.write_u16(dest, 0)
        return 0
    slen, _, sbuf = G.read_string(mem, source)
    n = min(dmax, slen)
    if k.quirks.copy_unicode_string_copies_double:
        if n:
            mem.write_bytes(dbuf, mem.read_bytes(sbuf, 2 * n))
    else:
        n &= ~1
        if n:
            mem.write_bytes(dbuf, mem.read_bytes(sbuf, n))
        if n + 2 <= dmax:
            mem.write_u16(dbuf + n, 0)
    mem.write_u16(dest, n)
    return 0


def _append(k: KernelState, dest: int, data: bytes, terminate: bool) -> int:
    mem = k.memory
    dlen, dmax, dbuf = G.read_string(mem, dest)
    if not data:
        return STATUS_SUCCESS
    total = dlen + len(data)
    if total > dmax:
        return STATUS_BUFFER_TOO_SMALL
    mem.write_bytes(dbuf + dlen, data)
    mem.write_u16(dest, total)
    if terminate and total + 2 <= dmax:
        mem.write_u16(dbuf + total, 0)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlAppendStringToString",
    0x115,
    Param("destination", K.ANSI_STRING),
    Param("source", K.ANSI_STRING),
)
def rtl_append_string_to_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Append ``source``; STATUS_BUFFER_TOO_SMALL (nothing written) if it does not fit."""
    return _append(k, dest, G.string_bytes(k.memory, source), terminate=False)


@GROUP.export(
    "RtlAppendUnicodeStringToString",
    0x116,
    Param("destination", K.PTR),
    Param("source", K.PTR),
)
def rtl_append_unicode_string_to_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Append a UNICODE_STRING; STATUS_BUFFER_TOO_SMALL if it does not fit."""
    data = G.string_bytes(k.memory, source)
    return _append(k, dest, data[: len(data) & ~1], terminate=True)


@GROUP.export(
    "RtlAppendUnicodeToString",
    0x117,
    Param("destination", K.PTR),
    Param("source", K.PTR, optional=True),
)
def rtl_append_unicode_to_string(k: KernelState, t: Thread, dest: int, source: int) -> int:
    """Append a NUL-terminated wide string; STATUS_BUFFER_TOO_SMALL if it does not fit."""
    mem = k.memory
    data = mem.read_bytes(source, 2 * G.wcslen(mem, source)) if source else b""
    return _append(k, dest, data, terminate=True)


# -- conversions ---------------------------------------------------------------------------


@GROUP.export(
    "RtlAnsiStringToUnicodeString",
    0x114,
    Param("destination", K.PTR),
    Param("source", K.ANSI_STRING),
    Param("allocate", K.BOOL),
)
def rtl_ansi_string_to_unicode_string(
    k: KernelState, t: Thread, dest: int, source: int, allocate_buffer: int
) -> int:
    """Widen an ANSI_STRING into a UNICODE_STRING (into a new buffer when ``allocate``)."""
    mem = k.memory
    data = G.string_bytes(mem, source)
    size = 2 * len(data)
    if size + 2 > MAX_UNICODE + 2:
        return STATUS_INVALID_PARAMETER_2
    wide = G.pack_units(list(data))
    if allocate_buffer & 0xFF:
        mem.require(dest, G.STRING_SIZE)
        buffer = allocate(k, size + 2)
        if not buffer:
            return STATUS_NO_MEMORY
        mem.write_bytes(buffer, wide + b"\0\0")
        G.write_string(mem, dest, size, size + 2, buffer)
        return STATUS_SUCCESS
    _, dmax, buffer = G.read_string(mem, dest)
    if size >= dmax:
        return STATUS_BUFFER_OVERFLOW
    mem.write_bytes(buffer, wide + b"\0\0" if size + 2 <= dmax else wide)
    mem.write_u16(dest, size)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlUnicodeStringToAnsiString",
    0x142,
    Param("destination", K.ANSI_STRING),
    Param("source", K.PTR),
    Param("allocate", K.BOOL),
)
def rtl_unicode_string_to_ansi_string(
    k: KernelState, t: Thread, dest: int, source: int, allocate_buffer: int
) -> int:
    """Narrow a UNICODE_STRING into an ANSI_STRING; STATUS_BUFFER_OVERFLOW when truncated."""
    mem = k.memory
    text = G.units(G.string_bytes(mem, source))
    if k.quirks.unicode_to_ansi_utf8:
        narrow = "".join(chr(c) for c in text).encode("utf-8", "surrogatepass")
    else:
        narrow = to_ansi(text)
    if len(narrow) > 0xFFFE:
        return STATUS_INVALID_PARAMETER_2
    if allocate_buffer & 0xFF:
        mem.require(dest, G.STRING_SIZE)
        buffer = allocate(k, len(narrow) + 1)
        if not buffer:
            return STATUS_NO_MEMORY
        mem.write_bytes(buffer, narrow + b"\0")
        G.write_string(mem, dest, len(narrow), len(narrow) + 1, buffer)
        return STATUS_SUCCESS
    _, dmax, buffer = G.read_string(mem, dest)
    status = STATUS_SUCCESS
    if len(narrow) + 1 > dmax:
        # Canary would copy MaximumLength - 1 bytes; with MaximumLength 0 that is a copy of
        # 4 GiB (a host crash), so both profiles write nothing then.
        status = STATUS_BUFFER_OVERFLOW
        if dmax == 0:
            return status
        narrow = narrow[: dmax - 1]
    mem.write_bytes(buffer, narrow + b"\0")
    if not k.quirks.unicode_to_ansi_keeps_length:
        mem.write_u16(dest, len(narrow))
    return status


@GROUP.export(
    "RtlMultiByteToUnicodeN",
    0x133,
    Param("destination", K.BUFFER),
    Param("destination_bytes", K.U32),
    Param("written", K.OUT_U32, optional=True),
    Param("source", K.BUFFER),
    Param("source_bytes", K.U32),
)
def rtl_multi_byte_to_unicode_n(
    k: KernelState, t: Thread, dest: int, dest_bytes: int, written: int, source: int, n: int
) -> int:
    """Widen up to ``source_bytes`` bytes into a buffer of ``destination_bytes`` bytes."""
    mem = k.memory
    count = min(dest_bytes >> 1, n)
    if written:
        mem.require(written, 4)
    if count:
        mem.require(dest, 2 * count)
        mem.write_bytes(dest, G.pack_units(list(mem.read_bytes(source, count))))
    if written:
        mem.write_u32(written, 2 * count)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlUnicodeToMultiByteN",
    0x143,
    Param("destination", K.BUFFER),
    Param("destination_bytes", K.U32),
    Param("written", K.OUT_U32, optional=True),
    Param("source", K.BUFFER),
    Param("source_bytes", K.U32),
)
def rtl_unicode_to_multi_byte_n(
    k: KernelState, t: Thread, dest: int, dest_bytes: int, written: int, source: int, n: int
) -> int:
    """Narrow up to ``source_bytes / 2`` characters into ``destination_bytes`` bytes."""
    mem = k.memory
    count = min(n >> 1, dest_bytes)
    if written:
        mem.require(written, 4)
    if count:
        mem.require(dest, count)
        mem.write_bytes(dest, to_ansi(G.units(mem.read_bytes(source, 2 * count))))
    if written:
        mem.write_u32(written, count)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlMultiByteToUnicodeSize",
    0x134,
    Param("size", K.OUT_U32),
    Param("source", K.BUFFER),
    Param("source_bytes", K.U32),
)
def rtl_multi_byte_to_unicode_size(k: KernelState, t: Thread, out: int, source: int, n: int) -> int:
    """The bytes the widened string would take (two per byte in a single-byte code page)."""
    k.memory.write_u32(out, (2 * n) & 0xFFFFFFFF)
    return STATUS_SUCCESS


@GROUP.export(
    "RtlUnicodeToMultiByteSize",
    0x144,
    Param("size", K.OUT_U32),
    Param("source", K.BUFFER),
    Param("source_bytes", K.U32),
)
def rtl_unicode_to_multi_byte_size(k: KernelState, t: Thread, out: int, source: int, n: int) -> int:
    """The bytes the narrowed string would take (one per character)."""
    k.memory.write_u32(out, n >> 1)
    return STATUS_SUCCESS


# -- comparison and case -------------------------------------------------------------------


def _compare(a: bytes | list[int], b: bytes | list[int], fold: object) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        c1, c2 = a[i], b[i]
        if c1 != c2:
            if fold is not None:
                c1, c2 = fold(c1), fold(c2)  # type: ignore[operator]
            if c1 != c2:
                return int(c1) - int(c2)
    return len(a) - len(b)


@GROUP.export(
    "RtlCompareString",
    0x11C,
    Param("string1", K.ANSI_STRING),
    Param("string2", K.ANSI_STRING),
    Param("case_insensitive", K.BOOL),
    returns=Returns.VALUE,
)
def rtl_compare_string(k: KernelState, t: Thread, s1: int, s2: int, ci: int) -> int:
    """<0, 0 or >0 as the first string sorts before, with or after the second."""
    mem = k.memory
    fold = UPPER.__getitem__ if ci & 0xFF else None
    return _compare(G.string_bytes(mem, s1), G.string_bytes(mem, s2), fold) & M32


@GROUP.export(
    "RtlCompareStringN",
    0x11D,
    Param("string1", K.PTR),
    Param("length1", K.U32),
    Param("string2", K.PTR),
    Param("length2", K.U32),
    Param("case_insensitive", K.BOOL),
    returns=Returns.VALUE,
)
def rtl_compare_string_n(
    k: KernelState, t: Thread, p1: int, n1: int, p2: int, n2: int, ci: int
) -> int:
    """Compare two counted byte strings (length 0xFFFFFFFF: up to the NUL)."""
    mem = k.memory
    n1 = G.strlen(mem, p1) if n1 == MEASURE else n1
    n2 = G.strlen(mem, p2) if n2 == MEASURE else n2
    n = min(n1, n2)
    fold = UPPER.__getitem__ if ci & 0xFF else None
    diff = _compare(mem.read_bytes(p1, n), mem.read_bytes(p2, n), fold)
    return (diff if diff else n1 - n2) & M32


@GROUP.export(
    "RtlCompareUnicodeString",
    0x11E,
    Param("string1", K.PTR),
    Param("string2", K.PTR),
    Param("case_insensitive", K.BOOL),
    returns=Returns.VALUE,
)
def rtl_compare_unicode_string(k: KernelState, t: Thread, s1: int, s2: int, ci: int) -> int:
    """Compare two UNICODE_STRINGs unit by unit; equal prefixes compare by length."""
    mem = k.memory
    a = G.units(G.string_bytes(mem, s1))
    b = G.units(G.string_bytes(mem, s2))
    fold = (lambda c: upcase_unit(k, c)) if ci & 0xFF else None
    return _compare(a, b, fold) & M32


@GROUP.export(
    "RtlCompareUnicodeStringN",
    0x11F,
    Param("string1", K.PTR),
    Param("length1", K.U32),
    Param("string2", K.PTR),
    Param("length2", K.U32),
    Param("case_insensitive", K.BOOL),
    returns=Returns.VALUE,
)
def rtl_compare_unicode_string_n(
    k: KernelState, t: Thread, p1: int, n1: int, p2: int, n2: int, ci: int
) -> int:
    """Compare two counted wide strings (lengths in characters; 0xFFFFFFFF: to the NUL)."""
    mem = k.memory
    n1 = G.wcslen(mem, p1) if n1 == MEASURE else n1
    n2 = G.wcslen(mem, p2) if n2 == MEASURE else n2
    n = min(n1, n2)
    fold = (lambda c: upcase_unit(k, c)) if ci & 0xFF else None
    a = G.units(mem.read_bytes(p1, 2 * n))
    b = G.units(mem.read_bytes(p2, 2 * n))
    diff = _compare(a, b, fold)
    return (diff if diff else n1 - n2) & M32


@GROUP.export("RtlUpcaseUnicodeChar", 0x149, Param("character", K.U32), returns=Returns.VALUE)
def rtl_upcase_unicode_char(k: KernelState, t: Thread, c: int) -> int:
    """The upper-case form of one UTF-16 unit."""
    return upcase_unit(k, c)


@GROUP.export("RtlDowncaseUnicodeChar", 0x124, Param("character", K.U32), returns=Returns.VALUE)
def rtl_downcase_unicode_char(k: KernelState, t: Thread, c: int) -> int:
    """The lower-case form of one UTF-16 unit."""
    return downcase_unit(c)


@GROUP.export("RtlUpperChar", 0x14A, Param("character", K.U32), returns=Returns.VALUE)
def rtl_upper_char(k: KernelState, t: Thread, c: int) -> int:
    """One byte upper-cased in the single-byte code page."""
    return UPPER[c & 0xFF]


@GROUP.export("RtlLowerChar", 0x132, Param("character", K.U32), returns=Returns.VALUE)
def rtl_lower_char(k: KernelState, t: Thread, c: int) -> int:
    """One byte lower-cased in the single-byte code page."""
    return LOWER[c & 0xFF]
