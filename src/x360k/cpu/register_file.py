"""Where libunicorn keeps the live PowerPC registers, so the hot path can use them as memory.

Serving a kernel call inside the interrupt hook reads r0, r1, r3..r10 and LR
and writes r3. Through ``uc_reg_read_batch`` and ``uc_reg_write`` that is two
ctypes calls, about 0.7 µs of a call that otherwise costs the runtime ~1 µs.
Unicorn keeps the registers in its CPU state (QEMU's ``CPUPPCState``, which
starts with ``gpr[32]``: 32-bit values in host byte order on this 32-bit
target), and its own register functions simply load and store there while a
hook runs, so the hook may do the same through a memoryview -- once it knows
the address, which unicorn does not publish.

:func:`locate` finds it by a verified search. It fills r0..r31 with a pattern
through the API and looks for the pattern near the pointers held in the
engine's own struct, reading through ``/proc/self/mem`` (an unmapped address
is an error there, never a crash). A hit counts only if it then follows two
fresh sets of values written through the API (a stale copy cannot), and if a
value stored there is what the API reads back; LR's place is found the same
way. Every buffer made during the search stays alive until it ends, so no hit
can be a reused Python object. When anything fails (no ``/proc``, another
layout) there is no register file and the engine keeps the library calls.
"""

from __future__ import annotations

import ctypes
import os
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from unicorn import ppc_const as R

GPR_IDS: Final = tuple(getattr(R, f"UC_PPC_REG_{i}") for i in range(32))
#: Bytes of the engine struct read for pointers, and bytes searched after each pointer.
STRUCT_BYTES: Final = 16 * 1024
SPAN: Final = 1 << 20
#: Never read more than this much in one search.
SEARCH_LIMIT: Final = 64 << 20
#: How far past r0 LR may lie (QEMU keeps it right after the general registers).
LR_SPAN: Final = 4096
_SEED: Final = 0x360360
_PATTERN_BYTES: Final = 32 * 4


@dataclass(frozen=True, slots=True)
class RegisterFile:
    """The live register file: r0's address, and LR's place in 32-bit words from r0."""

    address: int
    lr_index: int


ReadReg = Callable[[int], int]
WriteReg = Callable[[int, int], None]


def locate(handle: int, read_reg: ReadReg, write_reg: WriteReg) -> RegisterFile | None:
    """The register file of the engine whose ``uc_engine *`` is ``handle``, or None.

    The registers it fills during the search are restored before it returns.
    """
    try:
        fd = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        return None
    regs = (*GPR_IDS, R.UC_PPC_REG_LR)
    saved = [read_reg(reg) for reg in regs]
    try:
        return _Search(fd, read_reg, write_reg).run(handle)
    except (OSError, ValueError, OverflowError):
        return None
    finally:
        os.close(fd)
        for reg, value in zip(regs, saved, strict=True):
            write_reg(reg, value)


class _Search:
    def __init__(self, fd: int, read_reg: ReadReg, write_reg: WriteReg) -> None:
        self.fd = fd
        self.read_reg = read_reg
        self.write_reg = write_reg
        self.rng = random.Random(_SEED)
        self.keep: list[bytes] = []  # every buffer made here, so none is freed and reused

    def read(self, address: int, size: int) -> bytes:
        try:
            data = os.pread(self.fd, size, address)
        except OSError:
            data = b""
        self.keep.append(data)
        return data

    def fill(self) -> bytes:
        """Write fresh nonzero values to r0..r31 through the API; their bytes in host order."""
        pattern = struct.pack(f"={len(GPR_IDS)}I", *(self.rng.getrandbits(32) | 1 for _ in GPR_IDS))
        self.keep.append(pattern)
        self.put(pattern)
        return pattern

    def put(self, pattern: bytes) -> None:
        """Write the values of ``pattern`` (host order, r0 first) to r0..r31 through the API."""
        for reg, value in zip(GPR_IDS, struct.unpack(f"={len(GPR_IDS)}I", pattern), strict=True):
            self.write_reg(reg, value)

    def run(self, handle: int) -> RegisterFile | None:
        pattern = self.fill()
        head = self.read(handle, STRUCT_BYTES)
        words = struct.unpack_from(f"={len(head) // 8}Q", head)
        for address in self.find(pattern, _ranges(words)):
            if all(self.follows(address) for _ in range(2)):
                lr_index = self.find_lr(address)
                if lr_index is not None and self.writes_through(address):
                    return RegisterFile(address, lr_index)
            # A stale copy (a buffer of this search, a Python object) held the pattern, and
            # checking it wrote new values: put the pattern back, or the search goes on
            # looking for values the real register file no longer holds.
            self.put(pattern)
        return None

    def follows(self, address: int) -> bool:
        pattern = self.fill()
        return self.read(address, _PATTERN_BYTES) == pattern

    def find(self, pattern: bytes, ranges: list[tuple[int, int]]) -> Iterator[int]:
        """Word-aligned addresses holding ``pattern`` in ``ranges``, lowest first."""
        budget = SEARCH_LIMIT
        overlap = len(pattern) - 1
        for lo, hi in ranges:
            start = lo
            while start < hi and budget > 0:
                size = min(SPAN, hi - start) + overlap
                data = self.read(start, size)
                budget -= size
                at = data.find(pattern)
                while at >= 0:
                    if (start + at) % 4 == 0:
                        yield start + at
                    at = data.find(pattern, at + 1)
                if len(data) < size:
                    break  # the mapping ends (or was never there)
                start += SPAN

    def find_lr(self, address: int) -> int | None:
        """LR's word index from r0: the one word that follows two values written to LR."""
        candidates: set[int] | None = None
        for _ in range(2):
            value = self.rng.getrandbits(32) | 1
            self.write_reg(R.UC_PPC_REG_LR, value)
            data = self.read(address, LR_SPAN)
            words = struct.unpack_from(f"={len(data) // 4}I", data)
            found = {i for i, word in enumerate(words) if i >= len(GPR_IDS) and word == value}
            candidates = found if candidates is None else candidates & found
        if candidates is None or len(candidates) != 1:
            return None
        (index,) = candidates
        return index

    def writes_through(self, address: int) -> bool:
        """Whether a value stored at the register file is what the API then reads."""
        value = self.rng.getrandbits(32) | 1
        cell = ctypes.c_uint32.from_address(address + 4 * 5)
        cell.value = value
        return self.read_reg(R.UC_PPC_REG_5) == value


def _ranges(words: tuple[int, ...]) -> list[tuple[int, int]]:
    """Merged [pointer, pointer + SPAN) ranges for the plausible user-space pointers."""
    spans = sorted((w, w + SPAN) for w in set(words) if 0x10000 <= w < 1 << 47 and w % 8 == 0)
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
