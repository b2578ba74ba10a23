"""The printf formatter behind xboxkrnl's sprintf family and DbgPrint (MSVC's dialect).

Hand-written because no maintained package formats a C format string whose
arguments live in a guest: integers and pointers are read one 8-byte slot at
a time from an :class:`ArgSource` (registers r3..r10, then the caller's
parameter save area; or a ``va_list``, which on the console points at the same
kind of 8-byte slots), strings are read from guest memory when a ``%s`` asks.

Supported: flags ``- + 0 space #``, width and precision (digits or ``*``),
sizes ``h l ll L w I I32 I64``, conversions ``c C d i o u x X e E f g G a A p
s S n %``. ``%s`` with a null pointer prints ``(null)``. A wide character a
narrow output cannot hold makes the whole call fail (-1), as canary's does.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from x360k.exports import guest_strings as G

if TYPE_CHECKING:
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread


class ArgSource(Protocol):
    def next64(self) -> int: ...


class RegisterArgs:
    """Variadic arguments after the first ``first`` ones: r3+first.., then the stack."""

    def __init__(self, mem: GuestMemory, t: Thread, first: int) -> None:
        self.mem = mem
        self.gpr = t.gpr
        self.sp = t.gpr[1] & 0xFFFFFFFF
        self.index = first

    def next64(self) -> int:
        i = self.index
        self.index = i + 1
        if i < 8:
            return self.gpr[3 + i] & 0xFFFFFFFFFFFFFFFF
        return self.mem.read_u64(self.sp + 0x50 + 8 * (i - 8))


class VaListArgs:
    """Arguments from a guest ``va_list``: consecutive 8-byte slots."""

    def __init__(self, mem: GuestMemory, ap: int) -> None:
        self.mem = mem
        self.ap = ap

    def next64(self) -> int:
        value = self.mem.read_u64(self.ap)
        self.ap = (self.ap + 8) & 0xFFFFFFFF
        return value


class FormatError(Exception):
    """The output cannot be produced (a character the output cannot hold, a bad spec)."""


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & 1 << 63 else v


def _pad(body: str, width: int, left: bool) -> str:
    if len(body) >= width:
        return body
    return body.ljust(width) if left else body.rjust(width)


class _Spec:
    __slots__ = ("conv", "flags", "precision", "size", "width")

    def __init__(self) -> None:
        self.flags = ""
        self.width = 0
        self.precision = -1
        self.size = ""
        self.conv = ""


def _integer(spec: _Spec, args: ArgSource) -> str:
    conv, size, flags = spec.conv, spec.size, spec.flags
    raw = args.next64()
    signed = conv in "di"
    if size == "ll":
        value = _s64(raw) if signed else raw & 0xFFFFFFFFFFFFFFFF
    elif size == "h":
        value = (raw & 0xFFFF) - (0x10000 if signed and raw & 0x8000 else 0)
    else:
        value = _s32(raw) if signed else raw & 0xFFFFFFFF
    base = {"o": 8, "x": 16, "X": 16}.get(conv, 10)
    magnitude = abs(value)
    digits = "" if magnitude == 0 and spec.precision == 0 else _digits(magnitude, base, conv)
    if spec.precision > 0:
        digits = digits.rjust(min(spec.precision, 512), "0")
    prefix = ""
    if value < 0:
        prefix = "-"
    elif signed and "+" in flags:
        prefix = "+"
    elif signed and " " in flags:
        prefix = " "
    if "#" in flags:
        if conv in "xX" and magnitude:
            prefix += "0" + conv
        elif conv == "o" and not digits.startswith("0"):
            digits = "0" + digits
    if "0" in flags and "-" not in flags and spec.precision < 0:
        digits = digits.rjust(spec.width - len(prefix), "0")
    return _pad(prefix + digits, spec.width, "-" in flags)


def _digits(value: int, base: int, conv: str) -> str:
    if base == 10:
        return str(value)
    if base == 8:
        return format(value, "o")
    return format(value, "X" if conv == "X" else "x")


def _floating(spec: _Spec, args: ArgSource) -> str:
    value = struct.unpack(">d", args.next64().to_bytes(8, "big"))[0]
    conv, flags = spec.conv, spec.flags
    precision = 6 if spec.precision < 0 else spec.precision
    if conv in "aA":
        body = value.hex() if math.isfinite(value) else repr(value)
        body = body.upper() if conv == "A" else body
        if value >= 0 and "+" in flags:
            body = "+" + body
        return _pad(body, spec.width, "-" in flags)
    py_flags = "".join(f for f in "-+ #0" if f in flags)
    return str(f"%{py_flags}{spec.width or ''}.{precision}{conv}" % value)


def format_units(
    fmt: list[int],
    args: ArgSource,
    *,
    wide: bool,
    read_narrow: Callable[[int, int], list[int]],
    read_wide: Callable[[int, int], list[int]],
    store_count: Callable[[int, int, str], None],
) -> list[int]:
    """The output code units of ``fmt`` (bytes when ``wide`` is False, UTF-16 units if True).

    ``read_narrow(ptr, limit)`` / ``read_wide(ptr, limit)`` give a guest string's
    units (at most ``limit`` when it is not negative); ``store_count`` is %n.
    Raises :class:`FormatError` when the output cannot be produced.
    """
    out: list[int] = []
    limit = 0xFF if not wide else 0xFFFF
    i, n = 0, len(fmt)

    def emit(text: str | list[int]) -> None:
        codes = [ord(c) for c in text] if isinstance(text, str) else text
        for c in codes:
            if c > limit:
                raise FormatError(f"character U+{c:04X} in narrow output")
        out.extend(codes)

    while i < n:
        c = fmt[i]
        i += 1
        if c != 0x25:  # '%'
            out.append(c)
            continue
        if i >= n:
            raise FormatError("format ends inside a conversion")
        spec = _Spec()
        while i < n and chr(fmt[i]) in "-+0 #":
            spec.flags += chr(fmt[i])
            i += 1
        if i < n and fmt[i] == 0x2A:  # '*'
            width = _s32(args.next64())
            if width < 0:
                spec.flags += "-"
            spec.width = min(abs(width), 1 << 20)
            i += 1
        else:
            while i < n and 0x30 <= fmt[i] <= 0x39:
                spec.width = min(spec.width * 10 + fmt[i] - 0x30, 1 << 20)
                i += 1
        if i < n and fmt[i] == 0x2E:  # '.'
            i += 1
            spec.precision = 0
            if i < n and fmt[i] == 0x2A:
                p = _s32(args.next64())
                spec.precision = p if p >= 0 else -1
                spec.precision = min(spec.precision, 1 << 20)
                i += 1
            else:
                while i < n and 0x30 <= fmt[i] <= 0x39:
                    spec.precision = min(spec.precision * 10 + fmt[i] - 0x30, 1 << 20)
                    i += 1
        rest = "".join(chr(x) if x < 0x80 else "\0" for x in fmt[i : i + 3])
        for size, token in (("ll", "I64"), ("", "I32"), ("ll", "ll"), ("l", "l"), ("h", "h")):
            if rest.startswith(token):
                spec.size = size
                i += len(token)
                break
        else:
            if rest[:1] in ("w", "L", "I"):
                spec.size = "l" if rest[0] == "w" else ""
                i += 1
        if i >= n:
            raise FormatError("format ends inside a conversion")
        conv = chr(fmt[i]) if fmt[i] < 0x80 else "?"
        i += 1
        spec.conv = conv
        if conv == "%":
            out.append(0x25)
        elif conv in "diouxX":
            emit(_integer(spec, args))
        elif conv in "eEfgGaA":
            emit(_floating(spec, args))
        elif conv == "p":
            emit(_pad(f"{args.next64() & 0xFFFFFFFF:08X}", spec.width, "-" in spec.flags))
        elif conv in "cC":
            value = args.next64()
            is_wide = _is_wide(spec.size, conv == "C", wide)
            unit = value & (0xFFFF if is_wide else 0xFF)
            emit(_pad_units([unit], spec.width, "-" in spec.flags))
        elif conv in "sS":
            ptr = args.next64() & 0xFFFFFFFF
            if ptr == 0:
                text = [ord(ch) for ch in "(null)"]
                if spec.precision >= 0:
                    text = text[: spec.precision]
            elif _is_wide(spec.size, conv == "S", wide):
                text = read_wide(ptr, spec.precision)
            else:
                text = read_narrow(ptr, spec.precision)
            emit(_pad_units(text, spec.width, "-" in spec.flags))
        elif conv == "n":
            store_count(args.next64() & 0xFFFFFFFF, len(out), spec.size)
        else:
            raise FormatError(f"unknown conversion %{conv}")
    return out


def _is_wide(size: str, inverted: bool, wide: bool) -> bool:
    if size == "l":
        return True
    if size == "h":
        return False
    return inverted != wide


def _pad_units(text: list[int], width: int, left: bool) -> list[int]:
    if len(text) >= width:
        return text
    fill = [0x20] * (width - len(text))
    return text + fill if left else fill + text


def guest_readers(
    mem: GuestMemory,
) -> tuple[Callable[[int, int], list[int]], Callable[[int, int], list[int]]]:
    """Readers of narrow and wide guest strings for :func:`format_units`."""

    def narrow(ptr: int, limit: int) -> list[int]:
        n = G.strlen(mem, ptr) if limit < 0 else _bounded(mem, ptr, limit, 1)
        return list(mem.read_bytes(ptr, n))

    def wide(ptr: int, limit: int) -> list[int]:
        n = G.wcslen(mem, ptr) if limit < 0 else _bounded(mem, ptr, limit, 2)
        return G.units(mem.read_bytes(ptr, 2 * n))

    return narrow, wide


def _bounded(mem: GuestMemory, ptr: int, limit: int, unit: int) -> int:
    """Units before a NUL within the first ``limit`` (never reading past them)."""
    n = 0
    while n < limit:
        value = mem.read_u8(ptr + n) if unit == 1 else mem.read_u16(ptr + 2 * n)
        if value == 0:
            break
        n += 1
    return n
