"""Where each handle came from, and whether both traces use corresponding handles.

Raw handle values never agree between emulators, and even sids shift once one
side has an extra event. What must agree is *which creation* a handle refers to.
So every event that names a handle (or a sid) is linked to the ``handle.create``
that made it, in emission order, and after alignment the check is: if the
reference's event uses the handle its creation #r made, the candidate's matched
event must use the handle made by the creation matched to #r.

Only the rows that name a handle are kept (a few percent of a trace), as
sorted compact arrays, so the check costs memory in proportion to handle
traffic, not to trace length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from x360k.diff.inputs import TraceColumns
from x360k.trace import arrowfn as af
from x360k.trace.event import KIND_CODE

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


#: ``origin`` value of a use whose creation cannot be told apart from another one
#: (a handle value created in several other threads, in a file with no emission
#: order across threads): such a use is not checked.
AMBIGUOUS = -2
#: The columns the handle index reads.
_HANDLE_COLUMNS: Final = ("handle", "sid", "kind")


def _latest_before(key: U64, group: I64, valid: Bools, is_create: Bools, seq: I64) -> I64:
    """For each entry, the latest create of the same (key, group) at or before it in ``seq``."""
    n = len(key)
    origin = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return origin
    order = rows[np.lexsort((seq[rows], group[rows], key[rows]))]
    pos = np.where(is_create[order], np.arange(len(order)), -1)
    last = np.maximum.accumulate(pos)
    found = last >= 0
    src = order[np.maximum(last, 0)]
    same = found & (key[src] == key[order]) & (group[src] == group[order])
    origin[order[same]] = src[same]
    return origin


def _origins_by(
    key: U64, valid: Bools, is_create: Bools, seq: I64, thread: I64, global_order: bool
) -> I64:
    """For each entry, the create its handle comes from (-1 none, AMBIGUOUS: can't tell).

    A use takes the latest creation of its key earlier in its own thread. Failing
    that, the creation is in another thread: with a global emission order (traces
    recorded in memory) the latest one before the use; without one (files sorted
    by thread, whose thread ids say nothing about creation order: canary's are
    handles) the only creation of that key in other threads, or AMBIGUOUS when
    there are several. So origins never depend on how threads happen to be numbered.
    """
    if global_order:
        return _latest_before(key, np.zeros(len(key), np.int64), valid, is_create, seq)
    origin = _latest_before(key, thread, valid, is_create, seq)
    todo = np.flatnonzero(valid & (origin < 0) & ~is_create)
    creates = np.flatnonzero(valid & is_create)
    if not len(todo) or not len(creates):
        return origin
    creates = creates[np.lexsort((thread[creates], key[creates]))]  # by key, then thread
    ckey, cthr = key[creates], thread[creates]
    lo = np.searchsorted(ckey, key[todo], "left")
    hi = np.searchsorted(ckey, key[todo], "right")
    # creations of the key in the use's own thread (all after the use, else it had one)
    pair = np.unique(
        np.stack(
            (
                np.concatenate((ckey, key[todo])),
                np.concatenate((cthr, thread[todo])).astype(np.uint64),
            )
        ),
        axis=1,
        return_inverse=True,
    )[1].reshape(-1)
    own = np.bincount(pair[: len(creates)], minlength=int(pair.max()) + 1)[pair[len(creates) :]]
    others = (hi - lo) - own
    single = others == 1
    at_lo = creates[np.minimum(lo, len(creates) - 1)]
    at_hi = creates[np.maximum(hi - 1, 0)]
    pick = np.where(thread[at_lo] != thread[todo], at_lo, at_hi)
    origin[todo[single]] = pick[single]
    origin[todo[others > 1]] = AMBIGUOUS
    return origin


@dataclass(slots=True)
class HandleIndex:
    """The rows of one trace that name a handle, and the entry of each one's creation.

    ``rows`` is sorted; ``origin[e]`` indexes ``rows`` (-1: unknown origin).
    """

    rows: I64
    origin: I64

    @classmethod
    def build(cls, cols: TraceColumns, limits: dict[int, int] | None = None) -> HandleIndex:
        """One pass over the handle, sid and kind columns, a thread at a time.

        ``limits`` (thread id -> end row) restricts threads to a prefix: with
        ``--first`` only the compared prefix of a thread can hold a use to check.
        """
        rows_parts: list[I64] = []
        handle_parts: list[U64] = []
        handle_valid: list[Bools] = []
        sid_parts: list[pa.Array] = []
        create_parts: list[Bools] = []
        thread_parts: list[I64] = []
        has_handle, has_sid = cols.has("handle"), cols.has("sid")
        starts = cols.thread_starts.tolist()
        ranges = [
            (lo, hi if limits is None else min(hi, limits.get(tid, hi)))
            for tid, lo, hi in zip(cols.thread_tids.tolist(), starts[:-1], starts[1:], strict=True)
        ]
        for k in cols.read_ahead(ranges, _HANDLE_COLUMNS):
            lo, hi = ranges[k]
            uses = np.zeros(hi - lo, bool)
            hcol = cols.column("handle", lo, hi) if has_handle else None
            scol = cols.column("sid", lo, hi) if has_sid else None
            hvalid = svalid = None
            if hcol is not None and hcol.null_count < len(hcol):
                hvalid = np.asarray(af.is_valid(hcol).to_numpy(zero_copy_only=False), bool)
                uses |= hvalid
            if scol is not None and scol.null_count < len(scol):
                svalid = np.asarray(af.is_valid(scol).to_numpy(zero_copy_only=False), bool)
                uses |= svalid
            local = np.flatnonzero(uses)
            if not len(local):
                continue
            rows_parts.append(local + lo)
            if hcol is not None and hvalid is not None:
                hv = af.fill_null(af.take_rows(hcol, local), 0).to_numpy().astype(np.uint64)
                handle_parts.append(hv)
                handle_valid.append(hvalid[local])
            else:
                handle_parts.append(np.zeros(len(local), np.uint64))
                handle_valid.append(np.zeros(len(local), bool))
            if scol is not None and svalid is not None:
                sid_parts.extend(af.take_rows(scol, local).chunks)
            elif has_sid:
                sid_parts.append(pa.nulls(len(local), cols.table.column("sid").type))
            create_parts.append(cols.kinds(lo, hi)[local] == KIND_CODE["handle.create"])
            thread_parts.append(np.full(len(local), k, np.int64))
        if not rows_parts:
            empty = np.zeros(0, np.int64)
            return cls(empty, empty)
        rows = np.concatenate(rows_parts)
        is_create = np.concatenate(create_parts)
        thread = np.concatenate(thread_parts)
        known = cols.seq is not None
        seq = cols.seq[rows] if cols.seq is not None else rows
        by_handle = _origins_by(
            np.concatenate(handle_parts),
            np.concatenate(handle_valid),
            is_create,
            seq,
            thread,
            known,
        )
        origin = by_handle
        if sid_parts:
            sids = pa.chunked_array(sid_parts, cols.table.column("sid").type).combine_chunks()
            if pa.types.is_integer(sids.type):
                skey = af.fill_null(sids, 0).to_numpy().astype(np.uint64)
            else:
                enc = af.dictionary_encode(af.cast(sids, pa.string()))
                skey = af.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False).astype(np.uint64)
            svalid_all = np.asarray(af.is_valid(sids).to_numpy(zero_copy_only=False), bool)
            by_sid = _origins_by(skey, svalid_all, is_create, seq, thread, known)
            # a sid names one creation exactly; a handle value only by its history
            origin = np.where(
                by_sid >= 0,
                by_sid,
                np.where(svalid_all & (by_handle < 0), np.minimum(by_sid, by_handle), by_handle),
            )
        return cls(rows, origin)

    def entry(self, row: int) -> int:
        """Index of ``row`` in :attr:`rows`, or -1 when the row names no handle."""
        k = int(np.searchsorted(self.rows, row))
        return k if k < len(self.rows) and int(self.rows[k]) == row else -1

    def uses(self, row: int) -> bool:
        return self.entry(row) >= 0

    def origin_row(self, row: int) -> int:
        """Row of the ``handle.create`` behind ``row``'s handle; -1 if none or unknown."""
        e = self.entry(row)
        if e < 0 or int(self.origin[e]) < 0:
            return -1
        return int(self.rows[int(self.origin[e])])

    def ambiguous(self, row: int) -> bool:
        """Whether ``row``'s handle could come from several creations in other threads."""
        e = self.entry(row)
        return e >= 0 and int(self.origin[e]) == AMBIGUOUS


def mismatched_handles(ref: HandleIndex, ref_match: I64, cand: HandleIndex) -> I64:
    """Entries of ``ref`` whose matched candidate row refers to a non-corresponding creation.

    ``ref_match[e]`` is the candidate row aligned with reference row
    ``ref.rows[e]`` (-1 if none). A use whose creation is itself unmatched is a
    consequence of that divergence and not reported again.
    """
    entries = np.flatnonzero(ref_match >= 0)
    if not len(entries):
        return entries
    crow = ref_match[entries]
    ce = np.searchsorted(cand.rows, crow)
    ce_ok = ce < len(cand.rows)
    ce_ok[ce_ok] = cand.rows[ce[ce_ok]] == crow[ce_ok]
    co = np.where(ce_ok, cand.origin[np.minimum(ce, max(len(cand.rows) - 1, 0))], -1)
    if not len(cand.rows):
        co = np.full(len(entries), -1, np.int64)
    co_row = np.where(co >= 0, cand.rows[np.maximum(co, 0)] if len(cand.rows) else -1, -1)
    ro = ref.origin[entries]
    expected = np.where(ro >= 0, ref_match[np.maximum(ro, 0)], -1)
    matched_cand = np.sort(ref_match[ref_match >= 0])
    k = np.searchsorted(matched_cand, co_row)
    co_matched = (co_row >= 0) & (k < len(matched_cand))
    co_matched[co_matched] = matched_cand[k[co_matched]] == co_row[co_matched]
    bad = np.where(ro >= 0, (expected >= 0) & (expected != co_row), co_matched)
    bad &= (ro != AMBIGUOUS) & (co != AMBIGUOUS)  # can't tell which creation: not checked
    out: I64 = entries[bad]
    return out
