"""JSONL events as other tools write them: integers as hex text, thread ids that are handles.

:class:`~x360k.trace.jsonl_reader.JsonlReader` decodes our own traces straight
into :class:`TraceEvent`. A line that does not fit that type is decoded again
here, with every integer field allowed to be text (:mod:`x360k.trace.int_text`)
and ``args`` items allowed to be numbers, then checked field by field so that
the one error a user sees names the field and the value.

Thread ids: when the first event's ``tid`` does not fit a thread ordinal
(``int32``; canary-style handles such as ``0xF8000010`` do not), the file's
``tid`` values are an emulator's own thread ids. :class:`ThreadNumbering` then
numbers threads in order of first appearance, counting a ``thread.create``'s
``child_tid`` as an appearance (so children are numbered in creation order
when their creator's event comes first), and keeps each raw id in ``raw_tid``
/ ``child_raw_tid`` unless the line gives those itself.
"""

from __future__ import annotations

from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.columns import INT_RANGES, SIGNED_WRITTEN
from x360k.trace.event import TraceEvent, hex_arg
from x360k.trace.int_text import as_unsigned, int_value

#: Largest thread ordinal (the ``tid`` column is ``int32``).
MAX_TID: Final = (1 << 31) - 1

IntField = int | str | None


class ForeignEvent(msgspec.Struct, kw_only=True, gc=False):
    """A trace event with every integer field allowed to be text."""

    tid: int | str
    idx: int | str
    kind: str
    name: str | None = None
    module: str | None = None
    ordinal: IntField = None
    call_id: IntField = None
    ret_addr: IntField = None
    status: IntField = None
    ret: IntField = None
    args: list[str | int] | None = None
    handle: IntField = None
    sid: str | None = None
    object_type: str | None = None
    raw_tid: IntField = None
    child_tid: IntField = None
    child_raw_tid: IntField = None
    entry: IntField = None
    checksum: str | None = None
    ts: IntField = None
    path: str | None = None
    offset: IntField = None
    length: IntField = None
    objects: list[str] | None = None
    text: str | None = None


#: Integer fields read as they are; tid and child_tid :func:`to_event` handles itself.
_PLAIN_INTS: Final = tuple(n for n in INT_RANGES if n not in ("tid", "child_tid"))


class ThreadNumbering:
    """Ordinals for raw thread ids, in order of first appearance."""

    def __init__(self) -> None:
        self.ordinals: dict[int, int] = {}

    def ordinal(self, raw: int) -> int:
        return self.ordinals.setdefault(raw, len(self.ordinals))


def _field(name: str, value: int | str, column: str | None = None) -> int:
    """``value`` as an integer that fits ``column``'s type (default: the field's own)."""
    try:
        number = int_value(value)
    except ValueError as exc:
        raise ValueError(f"field {name}: {exc}") from None
    low, high = INT_RANGES[column or name]
    if (column or name) in SIGNED_WRITTEN:
        number = as_unsigned(number, high)
    if not low <= number <= high:
        raise ValueError(f"field {name}: {value!r} is out of range ({low}..{high})")
    return number


def _arg(item: str | int) -> str:
    if isinstance(item, str):
        return item
    return hex_arg(item & 0xFFFFFFFF if -(1 << 31) <= item < 0 else item & (1 << 64) - 1)


def first_tid_is_raw(raw: ForeignEvent) -> bool:
    """Whether a file whose first event this is numbers threads by raw ids."""
    try:
        return int_value(raw.tid) > MAX_TID
    except ValueError:
        return False


def to_event(raw: ForeignEvent, threads: ThreadNumbering | None) -> TraceEvent:
    """The TraceEvent a foreign line means; ``ValueError`` naming the bad field."""
    values = msgspec.structs.asdict(raw)
    for name in _PLAIN_INTS:
        value = values[name]
        if value is not None:
            values[name] = _field(name, value)
    if raw.args is not None:
        values["args"] = [_arg(a) for a in raw.args]
    if threads is None:
        tid = _field("tid", raw.tid, "idx")
        if tid > MAX_TID:
            raise ValueError(
                f"field tid: {raw.tid!r} is not a thread ordinal, yet the first event's tid "
                "was one (a file numbers its threads one way)"
            )
        values["tid"] = tid
        if raw.child_tid is not None:
            values["child_tid"] = _field("child_tid", raw.child_tid)
    else:
        raw_tid = _field("tid", raw.tid, "raw_tid")
        values["tid"] = threads.ordinal(raw_tid)
        if values["raw_tid"] is None:
            values["raw_tid"] = raw_tid
        if raw.child_tid is not None:
            child = _field("child_tid", raw.child_tid, "child_raw_tid")
            values["child_tid"] = threads.ordinal(child)
            if values["child_raw_tid"] is None:
                values["child_raw_tid"] = child
    if values["tid"] < 0 or values["idx"] < 0:
        raise ValueError("tid and idx must not be negative")
    return TraceEvent(**values)


def number_threads(table: pa.Table, threads: ThreadNumbering) -> pa.Table:
    """A table's raw thread ids (``tid``/``child_tid`` read as int64) as ordinals.

    The columnar form of :func:`to_event`'s numbering: first appearance in row
    order, a row's ``tid`` before its ``child_tid``; ``raw_tid``/``child_raw_tid``
    keep the raw ids where the table has none. ``threads`` carries across tables.
    """
    raw = table.column("tid").to_numpy()
    child_column = table.column("child_tid")
    has_child = child_column.is_valid().to_numpy(zero_copy_only=False)
    child = child_column.fill_null(0).to_numpy()
    seen = np.stack([raw, child], axis=1).ravel()[
        np.stack([np.ones_like(has_child), has_child], 1).ravel()
    ]
    unique, first = np.unique(seen, return_index=True)
    for value in unique[np.argsort(first)]:
        threads.ordinal(int(value))
    keys = np.fromiter(threads.ordinals, np.int64, len(threads.ordinals))
    ordinals = np.fromiter(threads.ordinals.values(), np.int64, len(threads.ordinals))
    order = np.argsort(keys)
    keys, ordinals = keys[order], ordinals[order]

    def lookup(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.asarray(ordinals[np.searchsorted(keys, values)], np.int64)

    raw_tid = pc.coalesce(table.column("raw_tid"), pa.array(raw).cast(pa.uint32()))
    child_raw = pc.coalesce(
        table.column("child_raw_tid"),
        pa.array(child, mask=~has_child).cast(pa.uint32()),
    )
    updates = {
        "tid": pa.array(lookup(raw)),
        "raw_tid": raw_tid,
        "child_tid": pa.array(lookup(child), mask=~has_child),
        "child_raw_tid": child_raw,
    }
    for name, column in updates.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table
