"""Summary of a trace: counts per kind, export and thread; leaked handles; thread lives.

Two ways in, one answer: :func:`compute_stats` walks typed events (any
iterable, e.g. a recorder's), :func:`compute_stats_batches` walks Arrow
batches (what every reader gives in bulk). The batch path counts kinds,
exports and thread lives with vectorised Arrow/numpy kernels and runs the
sequential part (handle matching, call stacks) in Python over only the rows
that need it, as plain values, never building a ``TraceEvent``; it is what
``x360k trace stats`` uses, so a Parquet trace is not slower than its JSONL.

Handles are matched by sid (``handle.destroy`` carries the sid of the slot
it frees); a destroy without a sid is matched to the live slot with the same
raw handle value, in file order. A handle's creating call is the innermost
``kernel.call`` open on its thread when the ``handle.create`` arrives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.columns import kind_codes
from x360k.trace.event import KIND_CODE, TraceEvent

#: Rows the sequential pass of :func:`compute_stats_batches` looks at, by kind code.
_SEQUENTIAL: Final = np.array(
    [
        KIND_CODE[k]
        for k in (
            "kernel.call",
            "kernel.return",
            "handle.create",
            "handle.destroy",
            "thread.create",
            "thread.exit",
        )
    ],
    np.int8,
)
#: The columns :func:`compute_stats_batches` reads; a reader may leave every other one null.
STATS_COLUMNS: Final = (
    "tid",
    "idx",
    "kind",
    "name",
    "raw_tid",
    "sid",
    "handle",
    "object_type",
    "child_tid",
    "entry",
)
_CALL, _RETURN = KIND_CODE["kernel.call"], KIND_CODE["kernel.return"]
_CREATE, _DESTROY = KIND_CODE["handle.create"], KIND_CODE["handle.destroy"]
_THREAD_CREATE, _THREAD_EXIT = KIND_CODE["thread.create"], KIND_CODE["thread.exit"]
_KIND_NAMES: Final = {code: kind for kind, code in KIND_CODE.items()}


class ThreadStats(msgspec.Struct, kw_only=True):
    """One guest thread's life as the trace shows it."""

    tid: int
    raw_tid: int | None = None
    events: int = 0
    first_idx: int = 0
    last_idx: int = 0
    created_by: int | None = None
    created_at: int | None = None
    entry: int | None = None
    exited_at: int | None = None


class LiveHandle(msgspec.Struct, kw_only=True):
    """A handle slot created and never destroyed."""

    sid: str | None
    handle: int | None
    object_type: str | None
    tid: int
    idx: int
    created_by: str | None


class TraceStats(msgspec.Struct, kw_only=True):
    """Everything ``x360k trace stats`` reports."""

    events: int = 0
    kinds: dict[str, int] = msgspec.field(default_factory=dict)
    exports: dict[str, int] = msgspec.field(default_factory=dict)
    threads: list[ThreadStats] = msgspec.field(default_factory=list)
    handles_created: int = 0
    handles_destroyed: int = 0
    unmatched_destroys: int = 0
    leaked: list[LiveHandle] = msgspec.field(default_factory=list)


class _Handles:
    """Live handle slots and the open calls of each thread, in file order."""

    def __init__(self) -> None:
        self.open_calls: dict[int, list[str | None]] = {}
        self.live: dict[str, LiveHandle] = {}
        self.live_by_handle: dict[int, str] = {}
        self.created = self.destroyed = self.unmatched = 0
        self.children: dict[int, tuple[int, int, int | None]] = {}
        self.exited: dict[int, int] = {}

    def call(self, tid: int, name: str | None) -> None:
        self.open_calls.setdefault(tid, []).append(name)

    def ret(self, tid: int) -> None:
        stack = self.open_calls.get(tid)
        if stack:
            stack.pop()

    def create(
        self, tid: int, idx: int, sid: str | None, handle: int | None, object_type: str | None
    ) -> None:
        self.created += 1
        stack = self.open_calls.get(tid)
        key = sid if sid is not None else f"@{tid}:{idx}"
        self.live[key] = LiveHandle(
            sid=sid,
            handle=handle,
            object_type=object_type,
            tid=tid,
            idx=idx,
            created_by=stack[-1] if stack else None,
        )
        if handle is not None:
            self.live_by_handle[handle] = key

    def destroy(self, sid: str | None, handle: int | None) -> None:
        key = sid
        if key is None or key not in self.live:
            key = self.live_by_handle.get(handle) if handle is not None else None
        gone = self.live.pop(key, None) if key is not None else None
        if gone is None:
            self.unmatched += 1
            return
        self.destroyed += 1
        if gone.handle is not None and self.live_by_handle.get(gone.handle) == key:
            del self.live_by_handle[gone.handle]

    def result(
        self,
        total: int,
        kinds: Counter[str],
        exports: Counter[str],
        threads: dict[int, ThreadStats],
    ) -> TraceStats:
        for tid, idx in self.exited.items():
            threads[tid].exited_at = idx
        for child, (parent, idx, entry) in self.children.items():
            info = threads.get(child)
            if info is None:
                info = threads[child] = ThreadStats(tid=child, first_idx=0, last_idx=0)
            info.created_by, info.created_at, info.entry = parent, idx, entry
        return TraceStats(
            events=total,
            kinds=dict(kinds.most_common()),
            exports=dict(exports.most_common()),
            threads=[threads[t] for t in sorted(threads)],
            handles_created=self.created,
            handles_destroyed=self.destroyed,
            unmatched_destroys=self.unmatched,
            leaked=sorted(self.live.values(), key=lambda h: (h.tid, h.idx)),
        )


def compute_stats(events: Iterable[TraceEvent]) -> TraceStats:
    """One pass over the events, in file order."""
    kinds: Counter[str] = Counter()
    exports: Counter[str] = Counter()
    threads: dict[int, ThreadStats] = {}
    handles = _Handles()
    total = 0
    for event in events:
        total += 1
        kinds[event.kind] += 1
        thread = threads.get(event.tid)
        if thread is None:
            thread = threads[event.tid] = ThreadStats(
                tid=event.tid, first_idx=event.idx, last_idx=event.idx
            )
        thread.events += 1
        thread.first_idx = min(thread.first_idx, event.idx)
        thread.last_idx = max(thread.last_idx, event.idx)
        if thread.raw_tid is None and event.raw_tid is not None:
            thread.raw_tid = event.raw_tid
        kind = event.kind
        if kind == "kernel.call":
            exports[event.name or "?"] += 1
            handles.call(event.tid, event.name)
        elif kind == "kernel.return":
            handles.ret(event.tid)
        elif kind == "handle.create":
            handles.create(event.tid, event.idx, event.sid, event.handle, event.object_type)
        elif kind == "handle.destroy":
            handles.destroy(event.sid, event.handle)
        elif kind == "thread.create" and event.child_tid is not None:
            handles.children[event.child_tid] = (event.tid, event.idx, event.entry)
        elif kind == "thread.exit":
            handles.exited[event.tid] = event.idx
    return handles.result(total, kinds, exports, threads)


#: Called after each batch with the number of events read so far.
Progress = Callable[[int], None]


def compute_stats_batches(
    batches: Iterable[pa.RecordBatch], progress: Progress | None = None
) -> TraceStats:
    """The same statistics as :func:`compute_stats`, from Arrow batches in file order."""
    kinds: Counter[str] = Counter()
    exports: Counter[str] = Counter()
    threads: dict[int, ThreadStats] = {}
    handles = _Handles()
    total = 0
    for batch in batches:
        n = batch.num_rows
        if not n:
            continue
        codes = kind_codes(batch.column("kind"))
        for code, count in enumerate(np.bincount(codes, minlength=len(KIND_CODE)).tolist()):
            if count:
                kinds[_KIND_NAMES[code]] += count
        tids = batch.column("tid").to_numpy(zero_copy_only=False).astype(np.int64)
        idxs = batch.column("idx").to_numpy(zero_copy_only=False).astype(np.int64)
        _thread_lives(batch, tids, idxs, threads)
        calls = codes == _CALL
        if calls.any():
            names = pc.filter(batch.column("name"), pa.array(calls))
            for name, count in _value_counts(names):
                exports[name if name is not None else "?"] += count
        _sequential(batch, codes, tids, idxs, handles)
        total += n
        if progress is not None:
            progress(total)
    return handles.result(total, kinds, exports, threads)


def _value_counts(column: pa.Array) -> list[tuple[str | None, int]]:
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    counted = pc.value_counts(column)
    return list(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    )


def _thread_lives(
    batch: pa.RecordBatch,
    tids: np.ndarray,
    idxs: np.ndarray,
    threads: dict[int, ThreadStats],
) -> None:
    """Per thread: events, first and last index, first raw_tid; merged into ``threads``."""
    order = np.argsort(tids, kind="stable")
    sorted_tids = tids[order]
    unique, starts, counts = np.unique(sorted_tids, return_index=True, return_counts=True)
    sorted_idx = idxs[order]
    lows = np.minimum.reduceat(sorted_idx, starts)
    highs = np.maximum.reduceat(sorted_idx, starts)
    raw = batch.column("raw_tid")
    first_raw: dict[int, int] = {}
    if raw.null_count < len(raw):
        valid = raw.is_valid().to_numpy(zero_copy_only=False)
        raw_values = raw.fill_null(0).to_numpy(zero_copy_only=False)
        with_raw, first = np.unique(tids[valid], return_index=True)
        first_raw = dict(zip(with_raw.tolist(), raw_values[valid][first].tolist(), strict=True))
    for tid, count, low, high in zip(
        unique.tolist(), counts.tolist(), lows.tolist(), highs.tolist(), strict=True
    ):
        thread = threads.get(tid)
        if thread is None:
            thread = threads[tid] = ThreadStats(tid=tid, first_idx=low, last_idx=high)
        thread.events += count
        thread.first_idx = min(thread.first_idx, low)
        thread.last_idx = max(thread.last_idx, high)
        if thread.raw_tid is None and tid in first_raw:
            thread.raw_tid = first_raw[tid]


def _sequential(
    batch: pa.RecordBatch,
    codes: np.ndarray,
    tids: np.ndarray,
    idxs: np.ndarray,
    handles: _Handles,
) -> None:
    """Call stacks, handle slots and thread events, in file order, as plain values."""
    rows = np.flatnonzero(np.isin(codes, _SEQUENTIAL))
    if not len(rows):
        return
    take = pa.array(rows)
    picked_codes = codes[rows].tolist()
    picked_tids = tids[rows].tolist()
    picked_idx = idxs[rows].tolist()
    name = _column(batch, "name", take)
    has_handles = bool(np.isin(codes, [_CREATE, _DESTROY]).any())
    sid = _column(batch, "sid", take) if has_handles else None
    handle = _column(batch, "handle", take) if has_handles else None
    otype = _column(batch, "object_type", take) if has_handles else None
    has_threads = bool(np.isin(codes, [_THREAD_CREATE]).any())
    child = _column(batch, "child_tid", take) if has_threads else None
    entry = _column(batch, "entry", take) if has_threads else None
    for k, code in enumerate(picked_codes):
        tid = picked_tids[k]
        if code == _CALL:
            handles.call(tid, name[k])
        elif code == _RETURN:
            handles.ret(tid)
        elif code == _CREATE:
            assert sid is not None and handle is not None and otype is not None
            handles.create(tid, picked_idx[k], sid[k], handle[k], otype[k])
        elif code == _DESTROY:
            assert sid is not None and handle is not None
            handles.destroy(sid[k], handle[k])
        elif code == _THREAD_CREATE:
            assert child is not None and entry is not None
            if child[k] is not None:
                handles.children[child[k]] = (tid, picked_idx[k], entry[k])
        else:
            handles.exited[tid] = picked_idx[k]


def _column(batch: pa.RecordBatch, name: str, rows: pa.Array) -> list[Any]:
    column = batch.column(name).take(rows)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values: list[Any] = column.to_pylist()
    return values
