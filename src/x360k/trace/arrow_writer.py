"""Arrow IPC writers: a streaming recorder for the kernel, and whole-table writers.

The stream recorder gathers events into RecordBatches of ``batch_rows`` and
writes each as soon as it is full, so a crash loses at most the batch being
gathered and readers of a cut-off stream still get every batch before the
break. The header travels in the schema metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pyarrow as pa

from x360k.trace.columns import conform, events_to_batch, schema_with_header
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader

DEFAULT_BATCH_ROWS: Final = 16_384
_IPC_OPTIONS: Final = pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True)


class ArrowStreamWriter:
    """A :class:`~x360k.trace.recorder.Recorder` writing an Arrow IPC stream."""

    def __init__(
        self,
        path: str | Path,
        header: TraceHeader | None = None,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.path = Path(path)
        self.header = header if header is not None else TraceHeader(emulator="x360k")
        self._batch_rows = batch_rows
        self._pending: list[TraceEvent] = []
        self._sink: pa.OSFile | None = pa.OSFile(str(self.path), "wb")
        self._writer: pa.ipc.RecordBatchStreamWriter | None = pa.ipc.new_stream(
            self._sink, schema_with_header(self.header), options=_IPC_OPTIONS
        )
        self.count = 0

    def record(self, event: TraceEvent) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._pending.append(event)
        self.count += 1
        if len(self._pending) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        """Write the gathered events as one RecordBatch."""
        if self._pending and self._writer is not None:
            self._writer.write_batch(events_to_batch(self._pending))
            self._pending = []
            assert self._sink is not None
            self._sink.flush()

    def close(self) -> None:
        if self._writer is None:
            return
        self.flush()
        self._writer.close()
        assert self._sink is not None
        self._sink.close()
        self._writer = None
        self._sink = None

    def __enter__(self) -> ArrowStreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_header(table: pa.Table, header: TraceHeader | None) -> pa.Table:
    table = conform(table)
    if header is None:
        return table
    metadata = dict(table.schema.metadata or {})
    metadata.update(schema_with_header(header).metadata)
    return table.replace_schema_metadata(metadata)


def write_arrow_stream(
    table: pa.Table, path: str | Path, header: TraceHeader | None = None
) -> None:
    """Write a table as an Arrow IPC stream (what :class:`ArrowStreamWriter` produces)."""
    table = _with_header(table, header)
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer,
    ):
        writer.write_table(table)


def write_arrow_file(table: pa.Table, path: str | Path, header: TraceHeader | None = None) -> None:
    """Write a table as an Arrow IPC file (random access, memory-mappable).

    The file format allows one dictionary per column, so dictionaries are
    unified across chunks first.
    """
    table = _with_header(table, header).unify_dictionaries()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
