"""The sprintf family and DbgPrint: guest formatting, with the output kept in the trace.

The formatter is :mod:`x360k.exports.printf_format`; these handlers read the
buffer, count and format arguments, take the variadic arguments from the
registers and the caller's stack (or a ``va_list``) and write the result the
way each function's contract says. DbgPrint's text becomes a ``marker``
event (``DbgPrint: ...``) and is kept in :func:`debug_output` for
``x360k run --verbose``; a formatting call's output is the ``text`` of its
``kernel.return`` event.

Canary's departures: ``_vsnprintf``/``_vsnwprintf`` return the full length
when the output is cut short (``vsnprintf_overflow_returns_count``; MSVC's
return -1), and ``swprintf`` reads ``%s`` as a narrow string
(``swprintf_narrow_s``; MSVC's wide functions take ``%s`` as wide).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports import guest_strings as G
from x360k.exports.common import s32
from x360k.exports.printf_format import (
    ArgSource,
    FormatError,
    RegisterArgs,
    VaListArgs,
    format_units,
    guest_readers,
)
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import STATUS_INVALID_PARAMETER, STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("formatting")

FAILED: Final = 0xFFFFFFFF  # -1 as the guest reads r3
DEBUG_KEY: Final = "debug_output"


def debug_output(k: KernelState) -> list[tuple[int, str]]:
    """(thread ordinal, text) of every DbgPrint so far, in call order."""
    lines: list[tuple[int, str]] = k.ext.setdefault(DEBUG_KEY, [])
    return lines


def _format(
    k: KernelState, fmt_ptr: int, args: ArgSource, *, wide_format: bool, wide: bool
) -> list[int] | None:
    """The output units of the guest format string at ``fmt_ptr`` (None when it fails)."""
    mem = k.memory
    if wide_format:
        fmt = G.units(mem.read_bytes(fmt_ptr, 2 * G.wcslen(mem, fmt_ptr)))
    else:
        fmt = list(mem.read_bytes(fmt_ptr, G.strlen(mem, fmt_ptr)))
    narrow, wide_reader = guest_readers(mem)

    def store_count(ptr: int, count: int, size: str) -> None:
        if size == "h":
            mem.write_u16(ptr, count)
        else:
            mem.write_u32(ptr, count)

    try:
        return format_units(
            fmt,
            args,
            wide=wide,
            read_narrow=narrow,
            read_wide=wide_reader,
            store_count=store_count,
        )
    except FormatError:
        return None


def _encode(units: list[int], wide: bool) -> bytes:
    return G.pack_units(units) if wide else bytes(units)


def _note(k: KernelState, t: Thread, units: list[int]) -> None:
    if k.recorder is not None:
        # Wide output may hold lone surrogates: decoded with replacement, never raising.
        t.return_fields = {"text": G.pack_units(units).decode("utf-16-be", "replace")}


def _unbounded(k: KernelState, t: Thread, buf: int, fmt: int, args: ArgSource, wide: bool) -> int:
    """sprintf / vsprintf / swprintf / vswprintf: the whole output and a NUL."""
    if not buf or not fmt:
        return FAILED
    core_wide = wide and not (k.quirks.swprintf_narrow_s and isinstance(args, RegisterArgs))
    units = _format(k, fmt, args, wide_format=wide, wide=core_wide)
    nul = b"\0\0" if wide else b"\0"
    if units is None:
        k.memory.write_bytes(buf, nul)
        return FAILED
    k.memory.write_bytes(buf, _encode(units, wide) + nul)
    _note(k, t, units)
    return len(units)


def _bounded(
    k: KernelState, t: Thread, buf: int, count: int, fmt: int, args: ArgSource, wide: bool
) -> int:
    """_snprintf / _vsnprintf / _snwprintf / _vsnwprintf: at most ``count`` units."""
    count = s32(count)
    if not buf or count <= 0 or not fmt:
        return FAILED
    units = _format(k, fmt, args, wide_format=wide, wide=wide)
    mem = k.memory
    nul = b"\0\0" if wide else b"\0"
    if units is None:
        mem.write_bytes(buf, nul)
        return FAILED
    _note(k, t, units)
    if len(units) <= count:
        mem.write_bytes(buf, _encode(units, wide) + (nul if len(units) < count else b""))
        return len(units)
    mem.write_bytes(buf, _encode(units[:count], wide))
    if isinstance(args, VaListArgs) and k.quirks.vsnprintf_overflow_returns_count:
        return len(units)
    return FAILED


def _counted(k: KernelState, fmt: int, args: ArgSource, wide: bool) -> int:
    """_scprintf and friends: the length the output would have."""
    if not fmt:
        return FAILED
    units = _format(k, fmt, args, wide_format=wide, wide=wide)
    return FAILED if units is None else len(units)


_BUF = Param("buffer", K.BUFFER)
_COUNT = Param("count", K.S32)
_FMT = Param("format", K.PTR)
_AP = Param("args", K.PTR)


@GROUP.export("DbgPrint", 0x03, _FMT, variadic=True)
def dbg_print(k: KernelState, t: Thread, fmt: int) -> int:
    """Format a debug message: a ``marker`` event and the run's debug output."""
    if not fmt:
        return STATUS_INVALID_PARAMETER
    units = _format(k, fmt, RegisterArgs(k.memory, t, 1), wide_format=False, wide=False)
    if not units:
        return STATUS_SUCCESS
    text = "".join(map(chr, units)).rstrip()
    debug_output(k).append((t.ordinal, text))
    k.emit(t, "marker", text=f"DbgPrint: {text}")
    return STATUS_SUCCESS


@GROUP.export("sprintf", 0x13B, _BUF, _FMT, returns=Returns.VALUE, variadic=True)
def sprintf(k: KernelState, t: Thread, buf: int, fmt: int) -> int:
    """Format into ``buffer`` with a NUL; the length, or -1."""
    return _unbounded(k, t, buf, fmt, RegisterArgs(k.memory, t, 2), wide=False)


@GROUP.export("vsprintf", 0x14E, _BUF, _FMT, _AP, returns=Returns.VALUE)
def vsprintf(k: KernelState, t: Thread, buf: int, fmt: int, ap: int) -> int:
    """sprintf with a ``va_list``."""
    return _unbounded(k, t, buf, fmt, VaListArgs(k.memory, ap), wide=False)


@GROUP.export("swprintf", 0x13E, _BUF, _FMT, returns=Returns.VALUE, variadic=True)
def swprintf(k: KernelState, t: Thread, buf: int, fmt: int) -> int:
    """Wide sprintf."""
    return _unbounded(k, t, buf, fmt, RegisterArgs(k.memory, t, 2), wide=True)


@GROUP.export("vswprintf", 0x151, _BUF, _FMT, _AP, returns=Returns.VALUE)
def vswprintf(k: KernelState, t: Thread, buf: int, fmt: int, ap: int) -> int:
    """Wide sprintf with a ``va_list``."""
    return _unbounded(k, t, buf, fmt, VaListArgs(k.memory, ap), wide=True)


@GROUP.export("_snprintf", 0x13A, _BUF, _COUNT, _FMT, returns=Returns.VALUE, variadic=True)
def snprintf(k: KernelState, t: Thread, buf: int, count: int, fmt: int) -> int:
    """At most ``count`` bytes (a NUL only if room); the length, or -1 when cut short."""
    return _bounded(k, t, buf, count, fmt, RegisterArgs(k.memory, t, 3), wide=False)


@GROUP.export("_vsnprintf", 0x14D, _BUF, _COUNT, _FMT, _AP, returns=Returns.VALUE)
def vsnprintf(k: KernelState, t: Thread, buf: int, count: int, fmt: int, ap: int) -> int:
    """_snprintf with a ``va_list``."""
    return _bounded(k, t, buf, count, fmt, VaListArgs(k.memory, ap), wide=False)


@GROUP.export("_snwprintf", 0x13D, _BUF, _COUNT, _FMT, returns=Returns.VALUE, variadic=True)
def snwprintf(k: KernelState, t: Thread, buf: int, count: int, fmt: int) -> int:
    """Wide _snprintf (``count`` in characters)."""
    return _bounded(k, t, buf, count, fmt, RegisterArgs(k.memory, t, 3), wide=True)


@GROUP.export("_vsnwprintf", 0x150, _BUF, _COUNT, _FMT, _AP, returns=Returns.VALUE)
def vsnwprintf(k: KernelState, t: Thread, buf: int, count: int, fmt: int, ap: int) -> int:
    """Wide _snprintf with a ``va_list``."""
    return _bounded(k, t, buf, count, fmt, VaListArgs(k.memory, ap), wide=True)


@GROUP.export("_scprintf", 0x139, _FMT, returns=Returns.VALUE, variadic=True)
def scprintf(k: KernelState, t: Thread, fmt: int) -> int:
    """The length sprintf would produce."""
    return _counted(k, fmt, RegisterArgs(k.memory, t, 1), wide=False)


@GROUP.export("_scwprintf", 0x13C, _FMT, returns=Returns.VALUE, variadic=True)
def scwprintf(k: KernelState, t: Thread, fmt: int) -> int:
    """The length swprintf would produce."""
    return _counted(k, fmt, RegisterArgs(k.memory, t, 1), wide=True)


@GROUP.export("_vscprintf", 0x14C, _FMT, _AP, returns=Returns.VALUE)
def vscprintf(k: KernelState, t: Thread, fmt: int, ap: int) -> int:
    """The length vsprintf would produce."""
    return _counted(k, fmt, VaListArgs(k.memory, ap), wide=False)


@GROUP.export("_vscwprintf", 0x14F, _FMT, _AP, returns=Returns.VALUE)
def vscwprintf(k: KernelState, t: Thread, fmt: int, ap: int) -> int:
    """The length vswprintf would produce."""
    return _counted(k, fmt, VaListArgs(k.memory, ap), wide=True)
