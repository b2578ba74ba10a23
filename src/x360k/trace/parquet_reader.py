"""Reader for Parquet traces (what ``x360k trace convert`` writes, or any tool's).

Files we wrote may store the hex-text columns as integers
(:mod:`x360k.trace.compact`, listed in the schema metadata); they are turned
back into schema v1 text here, so every caller sees ARROW_SCHEMA whatever the
file's layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from x360k.trace.arrow_reader import compacted_in, conform_batch, conform_table, header_from_schema
from x360k.trace.errors import TraceFormatError
from x360k.trace.header import TraceHeader
from x360k.trace.parquet_writer import LAYOUT_METADATA_KEY
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
        self._compacted = compacted_in(self.path, self._file.schema_arrow)
        self._header = header_from_schema(self.path, self._file.schema_arrow)

    @property
    def header(self) -> TraceHeader | None:
        return self._header

    @property
    def schema(self) -> pa.Schema:
        """The file's Arrow schema with its metadata (thread ranges, sort order)."""
        return self._file.schema_arrow

    @property
    def num_rows(self) -> int:
        """Events in the file, from its footer (no read)."""
        return int(self._file.metadata.num_rows)

    def batches(
        self, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches in ARROW_SCHEMA; with ``columns``, only those are read (the rest are null).

        Reading a few columns of a wide trace skips decoding the others (``args``
        above all), which is what makes ``trace stats`` on Parquet fast.
        """
        rows = 0
        wanted = None
        if columns is not None:
            present = set(self._file.schema_arrow.names)
            wanted = [c for c in columns if c in present]
        for batch in self._file.iter_batches(batch_size=batch_rows, columns=wanted):
            if batch.num_rows:
                yield from conform_batch(self.path, batch, rows, self._compacted)
            rows += batch.num_rows

    def table(self) -> pa.Table:
        try:
            table = self._file.read(use_threads=True)
        except (OSError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TraceFormatError(self.path, f"unreadable Parquet: {exc}") from None
        table = conform_table(self.path, table, self._compacted)
        metadata = dict(table.schema.metadata or {})
        if metadata.pop(LAYOUT_METADATA_KEY, None) is None:
            return table
        return table.replace_schema_metadata(metadata)
