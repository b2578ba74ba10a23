"""Readers for Arrow IPC streams (what the kernel's stream writer leaves) and files.

A stream cut off by a crash still yields every complete batch before the
break; the cut is noted in the report, never raised. Tables from other
writers are conformed to :data:`~x360k.trace.columns.ARROW_SCHEMA`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa

from x360k.trace.columns import ARROW_SCHEMA, INT_RANGES, conform
from x360k.trace.compact import compacted_columns, expand_table
from x360k.trace.errors import TraceFormatError
from x360k.trace.header import HEADER_METADATA_KEY, TraceHeader, decode_header
from x360k.trace.reader import DEFAULT_BATCH_ROWS, ColumnarReader


def header_from_schema(path: Path, schema: pa.Schema) -> TraceHeader | None:
    """The header stored in a columnar file's schema metadata, if any."""
    raw = (schema.metadata or {}).get(HEADER_METADATA_KEY)
    if raw is None:
        return None
    try:
        return decode_header(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TraceFormatError(path, f"bad header in schema metadata: {exc}") from None


def compacted_in(path: Path, schema: pa.Schema) -> list[str]:
    """The columns a file stores compactly (see :mod:`x360k.trace.compact`)."""
    try:
        return compacted_columns(schema)
    except ValueError as exc:
        raise TraceFormatError(path, f"bad schema metadata: {exc}") from None


def _misfit(table: pa.Table) -> tuple[int, str] | None:
    """The first (row, column) whose integer cannot be stored in schema v1's type, if any.

    Only called once a conversion has failed, to name the event rather than its batch.
    """
    import pyarrow.compute as pc

    found: list[tuple[int, str]] = []
    for name, (low, high) in INT_RANGES.items():
        if name not in table.column_names or not pa.types.is_integer(table.schema.field(name).type):
            continue
        values = pc.fill_null(table.column(name), 0).to_numpy()
        if values.dtype.kind == "u":  # at least 0: only the top can be out of range
            bad = values > np.uint64(high)
        else:  # an int64 holds neither bound beyond its own
            values = values.astype(np.int64)
            bad = (values < max(low, -(1 << 63))) | (values > min(high, (1 << 63) - 1))
        rows = np.flatnonzero(bad)
        if len(rows):
            found.append((int(rows[0]), name))
    return min(found) if found else None


@contextmanager
def _schema_errors(path: Path, first_row: int, table: pa.Table | None = None) -> Iterator[None]:
    """Turn a column that does not fit schema v1 into a TraceFormatError naming the event."""
    try:
        yield
    except KeyError as exc:
        raise TraceFormatError(path, f"bad kind or missing column {exc}", event=first_row) from None
    except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        where = _misfit(table) if table is not None else None
        if table is not None and where is not None:
            row, name = where
            value = table.column(name)[row].as_py()
            raise TraceFormatError(
                path,
                f"field {name}: {value} does not fit schema v1's {ARROW_SCHEMA.field(name).type}",
                event=first_row + row,
            ) from None
        raise TraceFormatError(
            path, f"column does not fit schema v1: {exc}", event=first_row
        ) from None


def conform_table(
    path: Path, table: pa.Table, compacted: list[str], first_row: int = 0
) -> pa.Table:
    """A table read from a columnar file, compact columns expanded, in ARROW_SCHEMA."""
    with _schema_errors(path, first_row, table):
        if compacted:
            table = expand_table(table, compacted)
        return conform(table)


def conform_batch(
    path: Path, batch: pa.RecordBatch, first_row: int, compacted: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """One foreign batch in ARROW_SCHEMA, or a TraceFormatError naming the event."""
    table = pa.Table.from_batches([batch])
    with _schema_errors(path, first_row, table):
        if compacted:
            table = expand_table(table, compacted)
        table = conform(table, keep_metadata=False)
    yield from table.combine_chunks().to_batches()


class ArrowStreamReader(ColumnarReader):
    """An Arrow IPC stream, possibly cut off mid-batch."""

    format = "arrow-stream"

    def __init__(self, path: str | Path, *, lenient: bool = False) -> None:
        super().__init__(path, lenient=lenient)
        try:
            with pa.OSFile(str(self.path), "rb") as source:
                schema = pa.ipc.open_stream(source).schema
        except (OSError, pa.ArrowInvalid) as exc:
            raise TraceFormatError(self.path, f"not an Arrow IPC stream: {exc}") from None
        self._header = header_from_schema(self.path, schema)
        self._compacted = compacted_in(self.path, schema)

    @property
    def header(self) -> TraceHeader | None:
        return self._header

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        rows = 0
        with pa.OSFile(str(self.path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, OSError, EOFError):
                    self.report.truncated = True
                    return
                yield from conform_batch(self.path, batch, rows, self._compacted)
                rows += batch.num_rows


class ArrowFileReader(ColumnarReader):
    """An Arrow IPC file (random access; memory mapped)."""

    format = "arrow-file"

    def __init__(self, path: str | Path, *, lenient: bool = False) -> None:
        super().__init__(path, lenient=lenient)
        try:
            self._source = pa.memory_map(str(self.path))
            self._reader = pa.ipc.open_file(self._source)
        except (OSError, pa.ArrowInvalid) as exc:
            raise TraceFormatError(self.path, f"not an Arrow IPC file: {exc}") from None
        self._header = header_from_schema(self.path, self._reader.schema)
        self._compacted = compacted_in(self.path, self._reader.schema)

    @property
    def header(self) -> TraceHeader | None:
        return self._header

    @property
    def schema(self) -> pa.Schema:
        """The file's schema with its metadata (thread ranges, sort order)."""
        return self._reader.schema

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        rows = 0
        for i in range(self._reader.num_record_batches):
            batch = self._reader.get_batch(i)
            yield from conform_batch(self.path, batch, rows, self._compacted)
            rows += batch.num_rows

    def table(self) -> pa.Table:
        return conform_table(self.path, self._reader.read_all(), self._compacted)
