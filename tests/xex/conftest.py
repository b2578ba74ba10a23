"""Shared inputs: XEX2 files built from the committed guest ELFs, never a title's files."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from x360k.xex.pack import pack_elf

GUESTS = Path(__file__).resolve().parents[2] / "guests" / "bin"
VARIANTS = [
    ("none", None),
    ("basic", None),
    ("lzx", None),
    ("none", "retail"),
    ("basic", "devkit"),
    ("lzx", "retail"),
    ("lzx", "devkit"),
]


@cache
def packed(guest: str, compression: str = "none", encryption: str | None = None) -> bytes:
    elf = (GUESTS / f"{guest}.elf").read_bytes()
    return pack_elf(elf, compression=compression, encryption=encryption, name=f"{guest}.exe")
