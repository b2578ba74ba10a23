"""Where each handle came from, and whether both traces use corresponding handles.

Raw handle values never agree between emulators, and even sids shift once one
side has an extra event. What must agree is *which creation* a handle refers to.
So every event that names a handle (or a sid) is linked to the ``handle.create``
that made it, in emission order, and after alignment the check is: if the
reference's event uses the handle its creation #r made, the candidate's matched
event must use the handle made by the creation matched to #r.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from x360k.diff.inputs import NULL_INT, TraceColumns
from x360k.trace.event import KIND_CODE

I64 = npt.NDArray[np.int64]


def _origins_by(
    key: I64, valid: npt.NDArray[np.bool_], is_create: npt.NDArray[np.bool_], seq: I64
) -> I64:
    n = len(key)
    origin = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return origin
    order = rows[np.lexsort((seq[rows], key[rows]))]
    pos = np.where(is_create[order], np.arange(len(order)), -1)
    last = np.maximum.accumulate(pos)
    found = last >= 0
    src = order[np.maximum(last, 0)]
    same = found & (key[src] == key[order])
    origin[order[same]] = src[same]
    return origin


def handle_origins(cols: TraceColumns) -> I64:
    """Row of the ``handle.create`` behind each row's handle or sid; -1 if none or unknown."""
    kind = cols.kind_codes()
    is_create = kind == KIND_CODE["handle.create"]
    seq = cols.ints["seq"]
    handle = cols.ints["handle"]
    by_handle = _origins_by(handle, handle != NULL_INT, is_create, seq)
    sid = cols.strs["sid"].codes.astype(np.int64)
    by_sid = _origins_by(sid, sid >= 0, is_create, seq)
    return np.where(by_handle >= 0, by_handle, by_sid)


def uses_handle(cols: TraceColumns) -> npt.NDArray[np.bool_]:
    """Rows that name a handle, by value or by sid."""
    out: npt.NDArray[np.bool_] = (cols.ints["handle"] != NULL_INT) | (cols.strs["sid"].codes >= 0)
    return out


def mismatched_handles(
    match: I64, ref_origin: I64, cand_origin: I64, ref_uses: npt.NDArray[np.bool_]
) -> I64:
    """Reference rows whose matched candidate row refers to a non-corresponding creation.

    ``match[r]`` is the candidate row aligned with reference row r (-1 if none).
    A use whose creation is itself unmatched is a consequence of that divergence
    and not reported again.
    """
    rows = np.flatnonzero((match >= 0) & ref_uses)
    if not len(rows):
        return rows
    cand = match[rows]
    ro = ref_origin[rows]
    co = cand_origin[cand]
    expected = np.where(ro >= 0, match[np.maximum(ro, 0)], -1)
    inverse = np.full(len(cand_origin), -1, dtype=np.int64)
    matched_r = np.flatnonzero(match >= 0)
    inverse[match[matched_r]] = matched_r
    co_matched = np.where(co >= 0, inverse[np.maximum(co, 0)] >= 0, False)
    bad = np.where(
        ro >= 0,
        (expected >= 0) & (expected != co),
        (co >= 0) & co_matched,
    )
    out: I64 = rows[bad]
    return out
