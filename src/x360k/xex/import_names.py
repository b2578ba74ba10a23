"""Naming imports: library + ordinal -> export name, and who implements it.

xboxkrnl names come from x360k's own export registry and the reference list
(``x360k.exports.reference_list``), which also says whether canary
implements an export; an ordinal neither knows is named ``xboxkrnl.exe
ordinal N`` and canary's support is reported as unknown rather than guessed.
Other libraries (xam.xex, xbdm.xex, ...) are named by library and ordinal:
x360k implements none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.exports.reference_list import REFERENCE_EXPORTS, TABLE_CHECKED
from x360k.exports.table import all_exports


def is_kernel(library: str) -> bool:
    return library.lower() in ("xboxkrnl.exe", "xboxkrnl")


@dataclass(frozen=True, slots=True)
class ImportInfo:
    library: str
    ordinal: int
    name: str | None
    #: Whether x360k implements it (a function export or a kernel variable).
    x360k: bool
    #: Whether canary does: True / False from the reference list, None when unknown.
    canary: bool | None


@cache
def _kernel_tables() -> tuple[dict[int, str], dict[int, str], dict[int, bool]]:
    implemented = {ex.ordinal: ex.name for ex in all_exports()}
    implemented |= {ordinal: name for name, (ordinal, _t) in OBJECT_TYPE_EXPORTS.items()}
    names = {r.ordinal: r.name for r in (*REFERENCE_EXPORTS, *TABLE_CHECKED)} | implemented
    canary = {r.ordinal: r.canary for r in (*REFERENCE_EXPORTS, *TABLE_CHECKED)}
    return implemented, names, canary


def describe(library: str, ordinal: int) -> ImportInfo:
    if not is_kernel(library):
        return ImportInfo(library, ordinal, None, False, None)
    implemented, names, canary = _kernel_tables()
    return ImportInfo(
        library, ordinal, names.get(ordinal), ordinal in implemented, canary.get(ordinal)
    )


def import_name(library: str, ordinal: int) -> str:
    """``NtClose (xboxkrnl.exe ordinal 207)`` or ``xam.xex ordinal 464``."""
    info = describe(library, ordinal)
    if info.name is None:
        return f"{library} ordinal {ordinal}"
    return f"{info.name} ({library} ordinal {ordinal})"
