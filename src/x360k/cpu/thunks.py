"""The import thunk convention: how guest code asks the kernel for an export.

Each xboxkrnl import is a stub in the guest's ``.xboxkrnl`` section, 12 bytes::

    li   r0, ORDINAL     # 0x38000000 | ordinal
    sc                   # 0x44000002
    blr                  # 0x4e800020

Guest code calls the stub like any function (arguments in r3..r10, result in
r3); ``sc`` reaches the runtime's interrupt hook with the ordinal in r0 and
the caller's return address still in LR. ``guests/xboxkrnl.h`` generates the
stubs; for exports with more than eight parameters its stub first opens a
frame and copies arguments 9.. to where the kernel reads them (the Xbox ABI's
parameter save area at r1 + 0x54 + 8k), then does the same ``li``/``sc``.

A kernel *variable* (XboxKrnlVersion, KeTimeStampBundle, ...) is imported
as a word in the ``.xboxkrnl_var`` section holding its ordinal; the loader
writes the variable's guest address over it, so guest code reads the
variable through that pointer, as a XEX title does through its variable
import record.

The runtime also maps one page of its own: a thread's start routine
(and an APC routine) returns into ``li r0, -1; sc``, which ends the routine
with r3 as its exit code and no kernel call in the trace.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

LI_R0: Final = 0x38000000
SC: Final = 0x44000002
BLR: Final = 0x4E800020
#: The section the guest header puts its thunks in.
THUNK_SECTION: Final = ".xboxkrnl"
#: The section of variable imports: one word each, the ordinal until the loader writes the
#: kernel variable's address over it (what a XEX variable import record gets).
VARIABLE_SECTION: Final = ".xboxkrnl_var"
#: r0 value of the runtime's "routine returned" stub (li r0, -1).
RETURN_MARKER: Final = 0xFFFFFFFF
#: Where the runtime maps its own code page (kernel range, clear of the title's).
TRAMPOLINE_BASE: Final = 0x80FF0000
#: The address start and APC routines return to.
RETURN_TRAMPOLINE: Final = TRAMPOLINE_BASE


class ThunkError(ValueError):
    """A ``.xboxkrnl`` entry that is not a thunk of our convention."""


@dataclass(frozen=True, slots=True)
class Thunk:
    address: int
    ordinal: int


def encode_thunk(ordinal: int) -> bytes:
    if not 0 <= ordinal < 0x8000:
        raise ValueError(f"ordinal {ordinal} does not fit li r0")
    return struct.pack(">III", LI_R0 | ordinal, SC, BLR)


def return_stub() -> bytes:
    """``li r0, -1; sc`` followed by a trap should the runtime ever resume it."""
    return struct.pack(">III", LI_R0 | 0xFFFF, SC, 0x7FE00008)


def decode_thunks(base: int, data: bytes) -> list[Thunk]:
    """The ``li r0, N; sc`` pairs of a ``.xboxkrnl`` section at ``base``.

    Plain stubs are exactly 12 bytes; stubs for exports with more than eight
    parameters first lay out the extra arguments, so the section is scanned
    for the pair rather than cut in fixed slices. A section holding no pair at
    all is not of our convention.
    """
    words = struct.unpack(f">{len(data) // 4}I", data[: len(data) // 4 * 4])
    thunks = [
        Thunk(base + 4 * i, word & 0x7FFF)
        for i, word in enumerate(words[:-1])
        if word & 0xFFFF8000 == LI_R0 and words[i + 1] == SC
    ]
    if data and not thunks:
        raise ThunkError(f"{THUNK_SECTION} holds no 'li r0, N; sc' import stub")
    return thunks


def decode_variables(base: int, data: bytes) -> list[Thunk]:
    """The variable imports of a ``.xboxkrnl_var`` section at ``base``: (word address, ordinal)."""
    if len(data) % 4:
        raise ThunkError(f"{VARIABLE_SECTION} is {len(data)} bytes, not whole words")
    words = struct.unpack(f">{len(data) // 4}I", data)
    for word in words:
        if word >= 0x8000:
            raise ThunkError(f"{VARIABLE_SECTION} holds 0x{word:08x}, not an ordinal")
    return [Thunk(base + 4 * i, word) for i, word in enumerate(words)]
