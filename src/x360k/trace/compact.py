"""Compact storage of the hex-string columns: ``sid`` and ``objects`` as uint64, ``args`` as uint32.

Schema v1 spells these values as text (``make_sid`` gives 16 lowercase hex
digits, arguments are ``0x%08x``), which is what JSONL and :class:`TraceEvent`
carry. Stored as text in Parquet they dominate decoding time; stored as the
integers they spell, they decode like any other integer column and format back
to the exact same text with a few vectorised table look-ups.

A column is stored compactly only when *every* non-null value in it has the
canonical spelling, so turning the integers back into text always restores the
original bytes; a trace with even one other spelling keeps that column as text.
Which columns were compacted is recorded in the schema metadata under
:data:`COMPACT_METADATA_KEY`; a file without that key is plain schema v1.
"""

from __future__ import annotations

import json
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

#: Schema metadata key: JSON list of the columns stored as integers.
COMPACT_METADATA_KEY: Final = b"x360k.compact"

#: Column -> (digits, prefix): how its text spells the integer.
_SPELLING: Final[dict[str, tuple[int, bytes]]] = {
    "sid": (16, b""),
    "objects": (16, b""),
    "args": (8, b"0x"),
}
_DIGITS: Final = b"0123456789abcdef"


def _nibble_table() -> npt.NDArray[np.uint8]:
    table = np.full(256, 0xFF, np.uint8)
    table[np.frombuffer(_DIGITS, np.uint8)] = np.arange(16, dtype=np.uint8)
    return table


def _quad_table() -> npt.NDArray[np.uint32]:
    """For every 16-bit value, its four lowercase hex digits as 4 little-endian bytes."""
    digits = np.frombuffer(_DIGITS, np.uint8)
    values = np.arange(1 << 16, dtype=np.uint32)
    quads = np.empty((1 << 16, 4), np.uint8)
    for k in range(4):
        quads[:, k] = digits[(values >> (12 - 4 * k)) & 0xF]
    return quads.view("<u4").reshape(-1)


_NIBBLE: Final = _nibble_table()
_QUAD: Final = _quad_table()
_NIBBLE.flags.writeable = False
_QUAD.flags.writeable = False


def _flat_strings(array: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (relative to 0) and bytes of a string array with no nulls."""
    offsets = np.frombuffer(array.buffers()[1], np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    data_buffer = array.buffers()[2]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    )
    first = int(offsets[0]) if len(offsets) else 0
    return offsets.astype(np.int64) - first, data[first : first + int(offsets[-1]) - first]


def parse_hex(strings: pa.Array, digits: int, prefix: bytes) -> npt.NDArray[np.uint64] | None:
    """The integers spelled by a null-free string array, or ``None`` if any spelling differs.

    The canonical spelling is ``prefix`` then exactly ``digits`` lowercase hex
    digits; anything else (other width, upper case, no prefix) is refused so
    :func:`format_hex` can restore the text byte for byte.
    """
    if strings.null_count:
        return None
    if pa.types.is_large_string(strings.type):
        strings = strings.cast(pa.string())
    elif not pa.types.is_string(strings.type):
        return None
    width = len(prefix) + digits
    offsets, data = _flat_strings(strings)
    n = len(strings)
    if n == 0:
        return np.zeros(0, np.uint64)
    if len(data) != n * width or not bool(np.all(np.diff(offsets) == width)):
        return None
    rows = data.reshape(n, width)
    if prefix and not bool(np.all(rows[:, : len(prefix)] == np.frombuffer(prefix, np.uint8))):
        return None
    nibbles = _NIBBLE[rows[:, len(prefix) :]]
    if bool(np.any(nibbles == 0xFF)):
        return None
    out = np.zeros(n, np.uint64)
    for k in range(digits):
        out <<= np.uint64(4)
        out |= nibbles[:, k]
    return out


def format_hex(values: npt.NDArray[np.unsignedinteger], digits: int, prefix: bytes) -> pa.Array:
    """A string array spelling each value as ``prefix`` + ``digits`` lowercase hex digits."""
    n = len(values)
    groups = digits // 4
    halves = values.astype(f">u{digits // 2}").view(">u2").reshape(n, groups)
    quads = _QUAD[halves]
    width = len(prefix) + digits
    if prefix:
        # One whole-word move per row: a sub-array field would copy word by word.
        text_type = f"<u{digits}" if digits in (4, 8) else f"V{digits}"
        record = np.dtype([("prefix", f"S{len(prefix)}"), ("digits", text_type)])
        text = np.empty(n, record)
        text["prefix"] = prefix
        text["digits"] = quads.view(text_type).reshape(n)
        data = text.view(np.uint8)
    else:
        data = quads.view(np.uint8)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _valid_mask(array: pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), bool)


def _compact_scalar(column: pa.Array, digits: int, prefix: bytes) -> pa.Array | None:
    valid = _valid_mask(column)
    parsed = parse_hex(column.filter(pa.array(valid)), digits, prefix)
    if parsed is None:
        return None
    full = np.zeros(len(column), np.uint64)
    full[valid] = parsed
    return pa.array(full, pa.uint64(), mask=~valid if column.null_count else None)


def _compact_list(column: pa.Array, digits: int, prefix: bytes) -> pa.Array | None:
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        return None
    values = column.flatten()
    parsed = parse_hex(values, digits, prefix)
    if parsed is None:
        return None
    item = pa.uint32() if digits == 8 else pa.uint64()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(column) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(
        pa.array(offsets),
        pa.array(parsed.astype(item.to_pandas_dtype()), item),
        mask=column.is_null() if column.null_count else None,
    )


def _compact_column(
    column: pa.ChunkedArray, digits: int, prefix: bytes, is_list: bool
) -> pa.ChunkedArray | None:
    """The column as integers chunk by chunk (no 2 GiB concatenation), or ``None``."""
    packed: list[pa.Array] = []
    for chunk in column.chunks:
        if is_list:
            one = _compact_list(chunk, digits, prefix)
        elif pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            one = _compact_scalar(chunk, digits, prefix)
        else:
            one = None
        if one is None:
            return None
        packed.append(one)
    item = pa.uint32() if digits == 8 else pa.uint64()
    return pa.chunked_array(packed, pa.list_(item) if is_list else pa.uint64())


def compact_table(table: pa.Table) -> pa.Table:
    """``table`` with every compactable hex column stored as integers, recorded in metadata."""
    done: list[str] = []
    for name, (digits, prefix) in _SPELLING.items():
        if name not in table.column_names:
            continue
        packed = _compact_column(table.column(name), digits, prefix, name in ("args", "objects"))
        if packed is None:
            continue
        position = table.schema.get_field_index(name)
        field = table.schema.field(name).with_type(packed.type)
        table = table.set_column(position, field, packed)
        done.append(name)
    metadata = dict(table.schema.metadata or {})
    metadata.pop(COMPACT_METADATA_KEY, None)
    if done:
        metadata[COMPACT_METADATA_KEY] = json.dumps(done).encode()
    return table.replace_schema_metadata(metadata)


def compacted_columns(schema: pa.Schema) -> list[str]:
    """The columns :func:`compact_table` stored as integers in a file with this schema."""
    raw = (schema.metadata or {}).get(COMPACT_METADATA_KEY)
    if raw is None:
        return []
    names = json.loads(raw)
    if not isinstance(names, list) or not all(n in _SPELLING for n in names):
        raise ValueError(f"unknown compact columns {raw!r}")
    return [str(n) for n in names]


def _expand_scalar(column: pa.Array, digits: int, prefix: bytes) -> pa.Array:
    if column.null_count == 0:
        return format_hex(column.to_numpy(), digits, prefix)
    valid = _valid_mask(column)
    values = np.frombuffer(column.buffers()[1], np.uint64)[
        column.offset : column.offset + len(column)
    ]
    text = format_hex(values[valid], digits, prefix)
    width = len(prefix) + digits
    offsets = np.empty(len(column) + 1, np.int32)
    offsets[0] = 0
    np.cumsum(valid, dtype=np.int32, out=offsets[1:])
    offsets *= width
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        len(column),
        pa.py_buffer(offsets),
        text.buffers()[2],
        pa.py_buffer(bitmap),
        column.null_count,
    )


def _expand_list(column: pa.Array, digits: int, prefix: bytes) -> pa.Array:
    items = column.values
    if items.null_count:
        raise ValueError("null item in a compacted list column")
    text = format_hex(items.to_numpy(), digits, prefix)
    return pa.ListArray.from_arrays(
        column.offsets, text, mask=column.is_null() if column.null_count else None
    )


def expand_table(table: pa.Table, names: list[str]) -> pa.Table:
    """The compacted columns ``names`` of ``table`` turned back into their schema v1 text.

    Raises ``ValueError`` when a column listed as compacted is not of an integer type.
    """
    for name in names:
        if name not in table.column_names:
            continue
        digits, prefix = _SPELLING[name]
        chunks = []
        for chunk in table.column(name).chunks:
            if name in ("args", "objects"):
                if not pa.types.is_list(chunk.type) or not pa.types.is_integer(
                    chunk.type.value_type
                ):
                    raise ValueError(f"compacted column {name!r} is {chunk.type}")
                chunks.append(_expand_list(chunk, digits, prefix))
            else:
                if not pa.types.is_integer(chunk.type):
                    raise ValueError(f"compacted column {name!r} is {chunk.type}")
                if chunk.type != pa.uint64():
                    chunk = chunk.cast(pa.uint64())
                chunks.append(_expand_scalar(chunk, digits, prefix))
        text_type = pa.list_(pa.string()) if name in ("args", "objects") else pa.string()
        position = table.schema.get_field_index(name)
        field = table.schema.field(name).with_type(text_type)
        table = table.set_column(position, field, pa.chunked_array(chunks, text_type))
    metadata = dict(table.schema.metadata or {})
    metadata.pop(COMPACT_METADATA_KEY, None)
    return table.replace_schema_metadata(metadata)
