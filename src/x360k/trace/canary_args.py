"""The argument list of one canary kernel-call line, as schema v1 ``args``.

Canary's shim prints each parameter by its C++ type (see docs/trace-format.md):
``dword_t``/pointers as 8 uppercase hex digits, ``qword_t`` as 16, ``word_t``
as 4, ``int_t`` in signed decimal, floats with ``{:G}`` and the PPC context as
``ContextArg``; a non-null pointer to a value, string or record is followed by
what it points at in parentheses, ``7005FB44(00000000)``. Separators are
``", "``, but a pointee is text from guest memory: it may hold ``", "`` and
parentheses that do not balance, so an argument ends at the first ``)`` that
is followed by another argument's start (or the end), not where brackets
balance.

This is hand-written because it parses one emulator's ad-hoc log syntax, which
no maintained package knows.
"""

from __future__ import annotations

import re
from typing import Final

#: (export, position) of canary's ``int_t`` parameters: printed in decimal,
#: which four digits alone cannot tell from a ``word_t``'s hex.
INT_PARAMS: Final[frozenset[tuple[str, int]]] = frozenset(
    {
        ("VdInitializeRingBuffer", 1),
        ("VdEnableRingBufferRPtrWriteBack", 1),
        ("NetDll_shutdown", 2),
        ("NetDll_listen", 2),
    }
)
#: The PPC context parameter: printed by canary, but no guest argument.
CONTEXT_ARG: Final = "ContextArg"

_SIMPLE: Final = re.compile(r"[0-9A-F]{8}(?:, [0-9A-F]{8})*")
_HEX: Final = re.compile(r"[0-9A-Fa-f]{16}|[0-9A-Fa-f]{8}|[0-9A-Fa-f]{4}")
_DECIMAL: Final = re.compile(r"-?[0-9]+")
_START: Final = re.compile(
    r"(?:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}|[0-9A-Fa-f]{16}|-?[0-9]+(?:\.[0-9]*)?(?:E[-+][0-9]+)?"
    r"|-?INF|-?NAN|ContextArg)(?:\(|$)"
)


def split_args(text: str) -> list[tuple[str, str | None]]:
    """``(value, pointee or None)`` for every printed argument, in order."""
    if not text:
        return []
    pieces = text.split(", ")
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        paren = piece.find("(")
        if paren < 0:
            out.append((piece, None))
            i += 1
            continue
        j = i
        while j + 1 < len(pieces) and not (pieces[j].endswith(")") and _START.match(pieces[j + 1])):
            j += 1
        whole = ", ".join(pieces[i : j + 1])
        end = len(whole) - 1 if whole.endswith(")") else len(whole)
        out.append((piece[:paren], whole[paren + 1 : end]))
        i = j + 1
    return out


def _value(text: str, decimal: bool) -> str:
    if decimal and _DECIMAL.fullmatch(text):
        return f"0x{int(text) & 0xFFFFFFFF:08x}"
    if _HEX.fullmatch(text):
        return f"0x{text.lower()}" if len(text) != 4 else f"0x{int(text, 16):08x}"
    if _DECIMAL.fullmatch(text) and -(1 << 31) <= int(text) < 1 << 31:
        return f"0x{int(text) & 0xFFFFFFFF:08x}"
    return text


def parse_args(name: str, text: str) -> list[str]:
    """The printed arguments of export ``name``, normalised, pointees kept as suffixes.

    Values become ``0x``-prefixed lowercase hex at least 8 digits wide
    (``word_t`` and ``int_t`` widened to 32 bits, two's complement for a
    negative ``int_t``); floats are kept as printed; ``ContextArg`` is left
    out. A pointee stays after its argument, in parentheses and as canary
    printed it: ``7005FB44(00000000)`` becomes ``0x7005fb44(00000000)``.
    """
    if _SIMPLE.fullmatch(text):
        return ("0x" + text.lower().replace(", ", ",0x")).split(",")
    args: list[str] = []
    for position, (value, pointee) in enumerate(split_args(text)):
        if value == CONTEXT_ARG:
            continue
        normal = _value(value, (name, position) in INT_PARAMS)
        args.append(normal if pointee is None else f"{normal}({pointee})")
    return args
