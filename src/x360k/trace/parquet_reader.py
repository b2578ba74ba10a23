"""Reader for Parquet traces (what ``x360k trace convert`` writes, or any tool's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from x360k.trace.arrow_reader import conform_batch, header_from_schema
from x360k.trace.columns import conform
from x360k.trace.errors import TraceFormatError
from x360k.trace.header import TraceHeader
from x360k.trace.reader import DEFAULT_BATCH_ROWS, ColumnarReader


class ParquetReader(ColumnarReader):
    """A Parquet file in (or castable to) schema v1."""

    format = "parquet"

    def __init__(self, path: str | Path, *, lenient: bool = False) -> None:
        super().__init__(path, lenient=lenient)
        try:
            self._file = pq.ParquetFile(str(self.path), memory_map=True)
        except (OSError, pa.ArrowInvalid) as exc:
            raise TraceFormatError(self.path, f"not a Parquet file: {exc}") from None
        self._header = header_from_schema(self.path, self._file.schema_arrow)

    @property
    def header(self) -> TraceHeader | None:
        return self._header

    @property
    def schema(self) -> pa.Schema:
        """The file's Arrow schema with its metadata (thread ranges, sort order)."""
        return self._file.schema_arrow

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in self._file.iter_batches(batch_size=batch_rows):
            yield from conform_batch(self.path, batch, rows)
            rows += batch.num_rows

    def table(self) -> pa.Table:
        try:
            table = pq.read_table(str(self.path), memory_map=True)
            return conform(table)
        except (KeyError, OSError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TraceFormatError(self.path, f"columns do not fit schema v1: {exc}") from None
