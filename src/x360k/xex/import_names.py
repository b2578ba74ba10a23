"""Naming imports: library + ordinal -> export name, and who implements it.

Names and canary's support come from :mod:`x360k.canary_exports` (canary's
export tables and handler declarations: "implemented", "stub", "sketchy" as
canary tags them, or "absent"), for xboxkrnl.exe, xam.xex and xbdm.xex;
x360k's own registry says what x360k implements (xboxkrnl only, functions
and the kernel variables). An ordinal neither knows is named
``LIBRARY ordinal N`` and canary's support is reported as unknown rather
than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from x360k import canary_exports
from x360k.canary_exports import CanaryEntry
from x360k.exports.kernel_variables import KERNEL_VARIABLES
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.exports.table import all_exports

#: Library names as titles spell them -> the table's key.
_LIBRARIES = {"xboxkrnl.exe": "xboxkrnl.exe", "xboxkrnl": "xboxkrnl.exe", "xam.xex": "xam.xex",
              "xam": "xam.xex", "xbdm.xex": "xbdm.xex", "xbdm": "xbdm.xex"}  # fmt: skip


def is_kernel(library: str) -> bool:
    return _LIBRARIES.get(library.lower()) == "xboxkrnl.exe"


@dataclass(frozen=True, slots=True)
class ImportInfo:
    library: str
    ordinal: int
    name: str | None
    #: Whether x360k implements it (a function export or a kernel variable).
    x360k: bool
    #: canary: "implemented", "stub", "sketchy", "absent", or None when unknown.
    canary: str | None


def _canary(library: str) -> dict[int, CanaryEntry]:
    return canary_exports.table(library)


@cache
def _x360k() -> dict[int, str]:
    implemented = {ex.ordinal: ex.name for ex in all_exports()}
    implemented |= {ordinal: name for name, (ordinal, _t) in OBJECT_TYPE_EXPORTS.items()}
    implemented |= {v.ordinal: v.name for v in KERNEL_VARIABLES}
    return implemented


def describe(library: str, ordinal: int) -> ImportInfo:
    table = _canary(_LIBRARIES.get(library.lower(), ""))
    known = table.get(ordinal)
    ours = _x360k().get(ordinal) if is_kernel(library) else None
    name = ours or (known.name if known else None)
    return ImportInfo(library, ordinal, name, ours is not None, known.support if known else None)


def import_name(library: str, ordinal: int) -> str:
    """``NtClose (xboxkrnl.exe ordinal 207)`` or ``xbdm.xex ordinal 12``."""
    info = describe(library, ordinal)
    if info.name is None:
        return f"{library} ordinal {ordinal}"
    return f"{info.name} ({library} ordinal {ordinal})"
