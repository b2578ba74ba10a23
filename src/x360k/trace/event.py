"""The trace event record (schema v1) shared by the kernel, writers, readers and diff.

One flat record type serves every event kind so that a trace can be stored
column by column without a union type: fields that do not apply to a kind stay
``None`` and are omitted from JSON. ``docs/trace-format.md`` is the normative
description; this module is its executable form.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
import xxhash

SCHEMA_VERSION: Final = 1

#: The closed set of event kinds. Order matters: it is the dictionary code used
#: by the columnar formats and the diff tool's packed keys.
KINDS: Final[tuple[str, ...]] = (
    "import.call",
    "kernel.call",
    "kernel.return",
    "handle.create",
    "handle.destroy",
    "thread.create",
    "thread.exit",
    "wait.begin",
    "wait.end",
    "checkpoint",
    "marker",
)
KIND_CODE: Final[dict[str, int]] = {k: i for i, k in enumerate(KINDS)}

#: Fields whose values differ between two runs of the same program on two
#: emulators (or two runs of a nondeterministic one); the diff tool ignores or
#: normalises them by default.
VOLATILE_FIELDS: Final[frozenset[str]] = frozenset(
    {"raw_tid", "handle", "ts", "ret_addr", "call_id", "child_raw_tid"}
)


# Integer fields carry their column's range (docs/trace-format.md), so decoding a line
# whose value cannot be stored fails in msgspec's decoder, at C speed, naming the field.
_U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
_U64 = Annotated[int, msgspec.Meta(ge=0)]  # no upper bound past int64 in msgspec: readers check it
_I32 = Annotated[int, msgspec.Meta(ge=-(1 << 31), le=(1 << 31) - 1)]
_I64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
_ORDINAL = Annotated[int, msgspec.Meta(ge=0, le=(1 << 31) - 1)]
_INDEX = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]


class TraceEvent(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    """One event in one guest thread's stream.

    ``tid`` is the stable thread ordinal (0 = the first guest thread, then
    creation order) and ``idx`` the gap-free per-thread index: together they
    are the alignment axis the diff tool works on.
    """

    tid: _ORDINAL
    idx: _INDEX
    kind: str
    name: str | None = None
    module: str | None = None
    ordinal: _U32 | None = None
    call_id: _I64 | None = None
    ret_addr: _U32 | None = None
    status: _U32 | None = None
    ret: _U64 | None = None
    args: list[str] | None = None
    handle: _U32 | None = None
    sid: str | None = None
    object_type: str | None = None
    raw_tid: _U32 | None = None
    child_tid: _I32 | None = None
    child_raw_tid: _U32 | None = None
    entry: _U32 | None = None
    checksum: str | None = None
    ts: _I64 | None = None
    path: str | None = None
    offset: _I64 | None = None
    length: _I64 | None = None
    objects: list[str] | None = None
    text: str | None = None


#: Every field name in declaration order (the column order of columnar files).
FIELDS: Final[tuple[str, ...]] = TraceEvent.__struct_fields__


def make_sid(tid: int, idx: int) -> str:
    """The stable id of a handle slot: xxh64 of (tid, idx) of its ``handle.create``.

    Both are packed as 4-byte big-endian integers (8 bytes in all), seed 0,
    so two emulators that agree on thread ordinals and per-thread indices
    agree on every sid even though their raw handle values differ.
    """
    data = ((tid & 0xFFFFFFFF) << 32 | (idx & 0xFFFFFFFF)).to_bytes(8, "big")
    return xxhash.xxh64_hexdigest(data, seed=0)


def hex_arg(value: int) -> str:
    """Format an argument the way schema v1 stores it: 0x-prefixed lowercase hex."""
    return f"0x{value:08x}"
