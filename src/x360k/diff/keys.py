"""Normalisation rules and the packed 64-bit keys the aligner compares.

Every event becomes two integers: a *shape* key (kind and export name: what
happened) and a *full* key (shape plus every compared field after the
normalisation rules ran). Two events are equal for the diff exactly when their
full keys are equal, so comparing millions of events is one vectorised numpy
comparison. Keys are built column by column with integer mixing; strings are
hashed once per distinct value, so cost is linear in rows with a small constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from x360k.diff.inputs import NULL_INT, TraceColumns

U64 = npt.NDArray[np.uint64]
BoolArr = npt.NDArray[np.bool_]

#: Every normalisation rule, by name, with what it does (shown by ``--help`` and in reports).
RULES: Final[dict[str, str]] = {
    "handles": "handle values and sids replaced by their origin (the matching handle.create)",
    "pointers": "pointer arguments masked, per export argument (ArgTable)",
    "timestamps": "timestamps ignored",
    "unlogged-exports": "candidate events for exports the reference does not log dropped",
    "volatile": "raw thread ids, call ids and guest return addresses ignored",
}

#: Fields the user may drop from comparison with ``--ignore``.
IGNORABLE: Final[tuple[str, ...]] = (
    "status",
    "ret",
    "args",
    "object_type",
    "entry",
    "path",
    "text",
    "checksum",
    "offset",
    "length",
    "module",
    "ordinal",
)

#: Export name -> per-argument type: "ptr" (masked by the pointers rule), "handle"
#: (masked by the handles rule, checked through origins instead) or "value".
ArgTable = Mapping[str, tuple[str, ...]]

#: A starting table for common exports until the export registry provides one.
DEFAULT_ARG_TABLE: Final[dict[str, tuple[str, ...]]] = {
    "NtCreateEvent": ("ptr", "ptr", "value", "value"),
    "NtCreateSemaphore": ("ptr", "ptr", "value", "value"),
    "NtCreateMutant": ("ptr", "ptr", "value"),
    "NtCreateTimer": ("ptr", "ptr", "value"),
    "NtCreateFile": ("ptr", "value", "ptr", "ptr", "ptr", "value", "value", "value", "value"),
    "NtOpenFile": ("ptr", "value", "ptr", "ptr", "value", "value"),
    "NtReadFile": ("handle", "handle", "ptr", "ptr", "ptr", "ptr", "value", "ptr"),
    "NtWriteFile": ("handle", "handle", "ptr", "ptr", "ptr", "ptr", "value", "ptr"),
    "NtClose": ("handle",),
    "NtDuplicateObject": ("handle", "ptr", "value"),
    "NtSetEvent": ("handle", "ptr"),
    "NtClearEvent": ("handle",),
    "NtPulseEvent": ("handle", "ptr"),
    "NtReleaseSemaphore": ("handle", "value", "ptr"),
    "NtReleaseMutant": ("handle", "ptr"),
    "NtWaitForSingleObjectEx": ("handle", "value", "value", "ptr"),
    "NtWaitForMultipleObjectsEx": ("value", "ptr", "value", "value", "value", "ptr"),
    "KeWaitForSingleObject": ("ptr", "value", "value", "value", "ptr"),
    "KeSetEvent": ("ptr", "value", "value"),
    "KeResetEvent": ("ptr",),
    "ExCreateThread": ("ptr", "value", "ptr", "ptr", "ptr", "ptr", "value"),
    "ObReferenceObjectByHandle": ("handle", "value", "ptr"),
    "ObDereferenceObject": ("ptr",),
    "RtlEnterCriticalSection": ("ptr",),
    "RtlLeaveCriticalSection": ("ptr",),
    "RtlInitializeCriticalSection": ("ptr",),
    "NtAllocateVirtualMemory": ("ptr", "ptr", "value", "value", "value"),
    "NtFreeVirtualMemory": ("ptr", "ptr", "value", "value"),
    "RtlCompareMemoryUlong": ("ptr", "value", "value"),
}


@dataclass(frozen=True, slots=True)
class Normalisation:
    """Which rules are on, which fields are ignored, and the argument-type table."""

    rules: frozenset[str] = frozenset(RULES)
    ignore: frozenset[str] = frozenset()
    arg_table: ArgTable = field(default_factory=lambda: dict(DEFAULT_ARG_TABLE))

    def on(self, rule: str) -> bool:
        return rule in self.rules


@dataclass(slots=True)
class SideKeys:
    """Keys of one trace's visible rows, plus which rows are visible and rule counts."""

    shape: U64
    full: U64
    visible: BoolArr
    counts: dict[str, int]


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def mix(x: U64) -> U64:
    """splitmix64's finaliser, vectorised: a bijection that spreads every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def fold(h: U64, value: U64, salt: int) -> U64:
    """Fold one field into a running key; the salt keeps fields from cancelling."""
    return mix(h * _GOLD + (value ^ np.uint64(salt)))


def _ints(col: npt.NDArray[np.int64]) -> U64:
    return col.view(np.uint64)


def _arg_masks(cols: TraceColumns, norm: Normalisation) -> tuple[U64, int, int]:
    """Per-row hash of the compared arguments, and how many rows each masking rule touched."""
    n = cols.n
    offs = cols.arg_offsets
    total = int(offs[-1]) if len(offs) else 0
    if total == 0 or "args" in norm.ignore:
        return np.zeros(n, np.uint64), 0, 0
    lengths = np.diff(offs)
    parent = np.repeat(np.arange(n, dtype=np.int64), lengths)
    position = np.arange(total, dtype=np.int64) - np.repeat(offs[:-1], lengths)
    names = cols.strs["name"]
    width = int(position.max()) + 1
    lut = np.zeros((len(names.values) + 1, width), dtype=np.int8)  # 0 value, 1 ptr, 2 handle
    for code, export in enumerate(names.values):
        types = norm.arg_table.get(export)
        if types:
            for k, t in enumerate(types[:width]):
                lut[code, k] = 1 if t == "ptr" else 2 if t == "handle" else 0
    arg_type = lut[names.codes[parent], position]
    masked = np.zeros(total, dtype=bool)
    if norm.on("pointers"):
        masked |= arg_type == 1
    if norm.on("handles"):
        masked |= arg_type == 2
    values = np.where(masked, np.uint64(0x5A5A), cols.arg_values)
    h = mix(values ^ (position.astype(np.uint64) * _GOLD))
    cs = np.concatenate(([np.uint64(0)], np.cumsum(h, dtype=np.uint64)))
    row_hash = cs[offs[1:]] - cs[offs[:-1]]
    row_hash = row_hash + lengths.astype(np.uint64)
    ptr_rows = int(np.count_nonzero(np.bincount(parent[arg_type == 1], minlength=n)))
    hnd_rows = int(np.count_nonzero(np.bincount(parent[arg_type == 2], minlength=n)))
    return (
        row_hash,
        (ptr_rows if norm.on("pointers") else 0),
        (hnd_rows if norm.on("handles") else 0),
    )


def unlogged_exports(
    reference_header: Mapping[str, object], candidate_names: Iterable[str]
) -> set[str]:
    """Exports the reference's writer did not log, by its header's masked/recorded lists."""
    out: set[str] = set()
    masked = reference_header.get("masked_exports", reference_header.get("masked"))
    if isinstance(masked, list):
        out.update(str(m) for m in masked)
    recorded = reference_header.get("recorded_exports", reference_header.get("recorded"))
    if isinstance(recorded, list) and recorded and recorded != ["*"]:
        rec = {str(r) for r in recorded}
        out.update(n for n in candidate_names if n not in rec)
    return out


def build_keys(
    cols: TraceColumns, norm: Normalisation, drop_exports: set[str] | None = None
) -> SideKeys:
    """Shape and full keys for every row of one trace (all threads at once)."""
    n = cols.n
    kind = cols.kind_codes().astype(np.uint64)
    name_h = cols.strs["name"].hashes()
    shape = fold(mix(kind + np.uint64(1)), name_h, 0x11)
    full = shape.copy()
    counts: dict[str, int] = {}
    for salt, fname in enumerate(("status", "ret", "entry", "offset", "length", "ordinal")):
        col = cols.ints[fname]
        if fname in norm.ignore:
            counts[f"ignore {fname}"] = int(np.count_nonzero(col != NULL_INT))
            continue
        if np.any(col != NULL_INT):
            full = fold(full, _ints(col), 0x20 + salt)
    for salt, sname in enumerate(("object_type", "path", "text", "checksum", "module")):
        scol = cols.strs[sname]
        if sname in norm.ignore:
            counts[f"ignore {sname}"] = int(np.count_nonzero(scol.codes >= 0))
            continue
        if scol.values:
            full = fold(full, scol.hashes(), 0x100 + salt)
    args_h, ptr_rows, hnd_arg_rows = _arg_masks(cols, norm)
    if "args" in norm.ignore:
        counts["ignore args"] = int(np.count_nonzero(np.diff(cols.arg_offsets)))
    else:
        full = fold(full, args_h, 0x200)
    counts["pointers"] = ptr_rows
    handle = cols.ints["handle"]
    sid = cols.strs["sid"]
    if norm.on("handles"):
        counts["handles"] = (
            int(np.count_nonzero((handle != NULL_INT) | (sid.codes >= 0))) + hnd_arg_rows
        )
        full = fold(full, (handle != NULL_INT).astype(np.uint64), 0x300)
    else:
        full = fold(full, _ints(handle), 0x301)
        if sid.values:
            full = fold(full, sid.hashes(), 0x302)
    ts = cols.ints["ts"]
    if norm.on("timestamps"):
        counts["timestamps"] = int(np.count_nonzero(ts != NULL_INT))
    else:
        full = fold(full, _ints(ts), 0x400)
    vol = ("raw_tid", "call_id", "ret_addr", "child_raw_tid")
    if norm.on("volatile"):
        present = np.zeros(n, bool)
        for v in vol:
            present |= cols.ints[v] != NULL_INT
        counts["volatile"] = int(np.count_nonzero(present))
    else:
        for k, v in enumerate(vol):
            full = fold(full, _ints(cols.ints[v]), 0x500 + k)
    visible = np.ones(n, dtype=bool)
    if drop_exports:
        names = cols.strs["name"]
        drop_codes = np.array(
            [i for i, v in enumerate(names.values) if v in drop_exports], dtype=np.int32
        )
        if len(drop_codes):
            visible = ~np.isin(names.codes, drop_codes)
        counts["unlogged-exports"] = int(n - np.count_nonzero(visible))
    elif norm.on("unlogged-exports"):
        counts["unlogged-exports"] = 0
    return SideKeys(shape=shape, full=full, visible=visible, counts=counts)
