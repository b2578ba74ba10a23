"""Parquet output tuned for read speed: what ``x360k trace convert`` writes.

Reading a reference trace is the hot path (every diff starts there), writing
happens once, so each column gets the encoding that decodes fastest for its
shape (measured; see BENCHMARKS.md ``## trace``):

* the hex-text columns are stored as the integers they spell
  (:mod:`x360k.trace.compact`), so they decode like integer columns;
* Parquet dictionaries only for the columns whose Arrow type is a dictionary
  (``kind``, ``name``, ``module``, ``object_type``): a plain string column
  read from a dictionary page has to be decoded into dense text anyway;
* delta encoding for the columns that climb along a thread (``idx``,
  ``call_id``, ``ts``, ``offset``, ``length``): a fraction of the bytes and
  cheaper to decode than dictionary indices;
* a column that is null in every row is left out (readers add it back as
  nulls): each one would still cost a pass over a million definition levels;
* everything else plain, zstd level 1 (decoding speed barely depends on the
  level; higher levels only slow the writer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from x360k.trace.columns import DICTIONARY_COLUMNS
from x360k.trace.compact import compact_table

#: Schema metadata key: layout generation of a Parquet file we wrote.
LAYOUT_METADATA_KEY: Final = b"x360k.layout"
#: Current layout: 2 = compact hex columns and per-column encodings; files without the
#: key (layout 1) stored every column as its schema v1 type and are still read.
LAYOUT: Final = b"2"

ZSTD_LEVEL: Final = 1
ROW_GROUP_ROWS: Final = 1 << 20
_DELTA_COLUMNS: Final = ("idx", "call_id", "ts", "offset", "length")


def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write a trace table (ARROW_SCHEMA, any metadata kept) as layout-2 Parquet."""
    table = compact_table(table)
    metadata = dict(table.schema.metadata or {})
    metadata[LAYOUT_METADATA_KEY] = LAYOUT
    table = table.replace_schema_metadata(metadata)
    empty = [
        name
        for name, field in zip(table.column_names, table.schema, strict=True)
        if field.nullable and table.column(name).null_count == table.num_rows
    ]
    table = table.drop_columns(empty)
    present = set(table.column_names)
    pq.write_table(
        table,
        str(path),
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=sorted(DICTIONARY_COLUMNS & present),
        column_encoding={
            name: "DELTA_BINARY_PACKED"
            for name in _DELTA_COLUMNS
            if name in present and pa.types.is_integer(table.schema.field(name).type)
        },
        row_group_size=ROW_GROUP_ROWS,
    )
