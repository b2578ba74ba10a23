"""The one Arrow schema for :class:`TraceEvent`, and conversions both ways.

Every columnar form (Arrow IPC stream and file, Parquet, the cache, the bulk
JSONL path) uses :data:`ARROW_SCHEMA`, so the diff tool sees identical column
types whatever the source. Repetitive strings are dictionary encoded; fixed
32-bit guest quantities are ``uint32``; the alignment axis is ``tid: int32``
and ``idx: int64``.

``kind`` is dictionary encoded with exactly :data:`KINDS` as its dictionary
in everything our writers and readers produce (so its indices are
:data:`KIND_CODE`); :func:`kind_codes` recovers the codes from a column that
went through some other tool.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.event import FIELDS, KIND_CODE, KINDS, TraceEvent
from x360k.trace.header import HEADER_METADATA_KEY, TraceHeader, encode_header

_DICT_STR: Final = pa.dictionary(pa.int32(), pa.string())
KIND_TYPE: Final = pa.dictionary(pa.int8(), pa.string())

#: Column of every TraceEvent field, in declaration order.
ARROW_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        pa.field("tid", pa.int32(), nullable=False),
        pa.field("idx", pa.int64(), nullable=False),
        pa.field("kind", KIND_TYPE, nullable=False),
        pa.field("name", _DICT_STR),
        pa.field("module", _DICT_STR),
        pa.field("ordinal", pa.uint32()),
        pa.field("call_id", pa.int64()),
        pa.field("ret_addr", pa.uint32()),
        pa.field("status", pa.uint32()),
        pa.field("ret", pa.uint64()),
        pa.field("args", pa.list_(pa.string())),
        pa.field("handle", pa.uint32()),
        pa.field("sid", pa.string()),
        pa.field("object_type", _DICT_STR),
        pa.field("raw_tid", pa.uint32()),
        pa.field("child_tid", pa.int32()),
        pa.field("child_raw_tid", pa.uint32()),
        pa.field("entry", pa.uint32()),
        pa.field("checksum", pa.string()),
        pa.field("ts", pa.int64()),
        pa.field("path", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("length", pa.int64()),
        pa.field("objects", pa.list_(pa.string())),
        pa.field("text", pa.string()),
    ]
)


def _range(arrow_type: pa.DataType) -> tuple[int, int]:
    bits = arrow_type.bit_width
    if pa.types.is_unsigned_integer(arrow_type):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


#: (low, high) of every integer column: what a value must fit to be stored.
INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    f.name: _range(f.type) for f in ARROW_SCHEMA if pa.types.is_integer(f.type)
}

#: The unsigned fields C code writes signed, with their highest values (2**n - 1): an
#: NTSTATUS is a ``LONG`` and pseudo-handles are -1 and -2. Their negative values read as
#: two's complement (``int_text.as_unsigned``); every other unsigned field stays strict:
#: a negative ordinal, thread id or address is a broken writer, and a negative ``ret``
#: (64-bit here, a 32-bit value in x360k's and canary's traces) cannot say which width
#: it was sign-extended from.
SIGNED_WRITTEN: Final[dict[str, int]] = {name: INT_RANGES[name][1] for name in ("status", "handle")}

#: Columns whose Arrow type is dictionary<string>.
DICTIONARY_COLUMNS: Final[frozenset[str]] = frozenset(
    f.name for f in ARROW_SCHEMA if pa.types.is_dictionary(f.type)
)

#: The schema with plain strings where ARROW_SCHEMA has dictionaries: what
#: the JSON parser can produce directly.
PLAIN_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        pa.field(f.name, pa.string(), nullable=f.nullable) if pa.types.is_dictionary(f.type) else f
        for f in ARROW_SCHEMA
    ]
)

_KIND_DICTIONARY: Final = pa.array(KINDS, pa.string())
_GETTERS: Final = tuple(attrgetter(name) for name in FIELDS)

#: Schema metadata key: JSON ``{"tid": [first_row, end_row], ...}`` of a sorted file.
THREADS_METADATA_KEY: Final = b"x360k.threads"
#: Schema metadata key present (value ``b"tid,idx"``) when rows are sorted.
SORTED_METADATA_KEY: Final = b"x360k.sorted"

assert tuple(ARROW_SCHEMA.names) == FIELDS, "ARROW_SCHEMA must list every TraceEvent field"


def schema_with_header(header: TraceHeader | None) -> pa.Schema:
    """ARROW_SCHEMA carrying the header JSON in its metadata (or none)."""
    if header is None:
        return ARROW_SCHEMA
    return ARROW_SCHEMA.with_metadata({HEADER_METADATA_KEY: encode_header(header)})


def _kind_array(kinds: Iterable[str]) -> pa.DictionaryArray:
    codes = pa.array([KIND_CODE[k] for k in kinds], pa.int8())
    return pa.DictionaryArray.from_arrays(codes, _KIND_DICTIONARY)


def events_to_batch(events: Sequence[TraceEvent]) -> pa.RecordBatch:
    """Build one RecordBatch from events, column by column.

    Raises ``KeyError`` for a kind outside :data:`KINDS` and
    ``pyarrow.ArrowInvalid``/``OverflowError`` for an integer out of its
    column's range; readers validate before calling this.
    """
    arrays: list[pa.Array] = []
    for field, getter in zip(ARROW_SCHEMA, _GETTERS, strict=True):
        values = list(map(getter, events))
        if field.name == "kind":
            arrays.append(_kind_array(values))
        elif pa.types.is_dictionary(field.type):
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(values, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


def _row(
    tid: int,
    idx: int,
    kind: str,
    name: str | None,
    module: str | None,
    ordinal: int | None,
    call_id: int | None,
    ret_addr: int | None,
    status: int | None,
    ret: int | None,
    args: list[str] | None,
    handle: int | None,
    sid: str | None,
    object_type: str | None,
    raw_tid: int | None,
    child_tid: int | None,
    child_raw_tid: int | None,
    entry: int | None,
    checksum: str | None,
    ts: int | None,
    path: str | None,
    offset: int | None,
    length: int | None,
    objects: list[str] | None,
    text: str | None,
) -> TraceEvent:
    return TraceEvent(
        tid=tid,
        idx=idx,
        kind=kind,
        name=name,
        module=module,
        ordinal=ordinal,
        call_id=call_id,
        ret_addr=ret_addr,
        status=status,
        ret=ret,
        args=args,
        handle=handle,
        sid=sid,
        object_type=object_type,
        raw_tid=raw_tid,
        child_tid=child_tid,
        child_raw_tid=child_raw_tid,
        entry=entry,
        checksum=checksum,
        ts=ts,
        path=path,
        offset=offset,
        length=length,
        objects=objects,
        text=text,
    )


def batch_to_events(batch: pa.RecordBatch | pa.Table) -> Iterator[TraceEvent]:
    """Typed events from a batch or table in ARROW_SCHEMA (or a compatible one)."""
    columns = [batch.column(name).to_pylist() for name in FIELDS]
    for row in zip(*columns, strict=True):
        yield _row(*row)


def empty_table(header: TraceHeader | None = None) -> pa.Table:
    """A zero-row table in the trace schema."""
    return schema_with_header(header).empty_table()


def _dictionary_encoded(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    column = pc.cast(column, pa.string()).dictionary_encode()
    return column if column.type == target else column.cast(target)


def conform(data: pa.Table, *, keep_metadata: bool = True) -> pa.Table:
    """Cast a table from any of our readers to exactly ARROW_SCHEMA.

    Plain string columns become dictionaries, missing optional columns become
    nulls, and a column of another integer width is cast (raising
    ``pyarrow.ArrowInvalid`` when a value does not fit).
    """
    arrays: list[pa.ChunkedArray] = []
    for field in ARROW_SCHEMA:
        if field.name not in data.column_names:
            if not field.nullable:
                raise KeyError(field.name)
            arrays.append(pa.chunked_array([pa.nulls(data.num_rows, field.type)], field.type))
            continue
        column = data.column(field.name)
        if field.name == "kind":
            column = canonical_kinds(column)
        elif column.type != field.type:
            if pa.types.is_dictionary(field.type) and not pa.types.is_dictionary(column.type):
                column = _dictionary_encoded(column, field.type)
            else:
                column = column.cast(field.type)
        arrays.append(column)
    metadata = data.schema.metadata if keep_metadata else None
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA.with_metadata(metadata))


def kind_codes(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int8]:
    """The :data:`KIND_CODE` of every row, whatever the column's dictionary order."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 0:
            return np.zeros(0, np.int8)
        return np.concatenate([kind_codes(chunk) for chunk in column.chunks]).astype(np.int8)
    if not pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string()).dictionary_encode()
    mapping = np.array([KIND_CODE[k] for k in column.dictionary.to_pylist()], np.int8)
    if len(mapping) == 0:
        return np.zeros(len(column), np.int8)
    indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return np.asarray(mapping[indices], np.int8)


def canonical_kinds(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """``kind`` re-encoded so its dictionary is exactly KINDS (indices = KIND_CODE).

    Raises ``KeyError`` naming a kind outside the closed set, or ``"kind"``
    when a row has none. A column already in that form is returned as is.
    """
    if column.null_count:
        raise KeyError("kind")
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if pa.types.is_dictionary(column.type) and all(
        c.dictionary.equals(_KIND_DICTIONARY) for c in chunks
    ):
        if column.type != KIND_TYPE:
            chunks = [
                pa.DictionaryArray.from_arrays(c.indices.cast(pa.int8()), _KIND_DICTIONARY)
                for c in chunks
            ]
        return pa.chunked_array(chunks, KIND_TYPE)
    codes = kind_codes(column)
    indices = pa.array(codes, pa.int8())
    return pa.chunked_array([pa.DictionaryArray.from_arrays(indices, _KIND_DICTIONARY)], KIND_TYPE)


def sort_by_thread(table: pa.Table) -> pa.Table:
    """Rows ordered by (tid, idx), with each thread's row range in the metadata."""
    ordered = table.sort_by([("tid", "ascending"), ("idx", "ascending")])
    metadata = dict(ordered.schema.metadata or {})
    metadata[THREADS_METADATA_KEY] = json.dumps(thread_ranges(ordered)).encode()
    metadata[SORTED_METADATA_KEY] = b"tid,idx"
    return ordered.replace_schema_metadata(metadata)


def thread_ranges(sorted_table: pa.Table) -> dict[str, list[int]]:
    """``{tid: [first_row, end_row]}`` of a table already sorted by tid."""
    tids = sorted_table.column("tid").to_numpy()
    if len(tids) == 0:
        return {}
    starts = np.concatenate(([0], np.flatnonzero(np.diff(tids)) + 1))
    ends = np.concatenate((starts[1:], [len(tids)]))
    return {str(int(tids[s])): [int(s), int(e)] for s, e in zip(starts, ends, strict=True)}


def read_thread_ranges(schema: pa.Schema) -> dict[int, tuple[int, int]] | None:
    """The per-thread row ranges stored by :func:`sort_by_thread`, if any."""
    raw = (schema.metadata or {}).get(THREADS_METADATA_KEY)
    if raw is None:
        return None
    decoded: dict[str, Any] = json.loads(raw)
    return {int(tid): (int(span[0]), int(span[1])) for tid, span in decoded.items()}
