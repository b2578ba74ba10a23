"""What every trace reader offers, and the shared halves of their implementations.

A reader is opened on one file and can be walked as typed events
(:meth:`TraceReader.events`, streaming, constant memory) or as Arrow
batches in :data:`~x360k.trace.columns.ARROW_SCHEMA` (the bulk path used by
the diff tool and the columnar cache). Line formats get their batches from
their events; columnar formats get their events from their batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Final

import pyarrow as pa

from x360k.trace.columns import batch_to_events, events_to_batch, schema_with_header
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader

DEFAULT_BATCH_ROWS: Final = 65_536


@dataclass(slots=True)
class ReadReport:
    """What a read skipped or found damaged; filled in while reading."""

    bad_lines: int = 0
    partial_last_line: bool = False
    truncated: bool = False
    ignored_lines: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for stderr, or ``""`` when nothing was wrong."""
        parts = []
        if self.bad_lines:
            parts.append(f"{self.bad_lines} bad line(s) skipped")
        if self.partial_last_line:
            parts.append("partial last line ignored")
        if self.truncated:
            parts.append("stream truncated; read up to the break")
        parts.extend(self.notes)
        return "; ".join(parts)


class TraceReader(ABC):
    """One trace file, readable as typed events or as Arrow batches."""

    #: Short format name: jsonl, arrow-stream, arrow-file, parquet, text, canary-log.
    format: str = ""

    def __init__(self, path: str | Path, *, lenient: bool = False) -> None:
        self.path = Path(path)
        self.lenient = lenient
        self.report = ReadReport()

    @property
    def header(self) -> TraceHeader | None:
        """The trace's header record, or ``None`` when the file has none."""
        return None

    @abstractmethod
    def events(self) -> Iterator[TraceEvent]:
        """Every event in file order."""

    @abstractmethod
    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every event in file order, as RecordBatches in ARROW_SCHEMA."""

    def table(self) -> pa.Table:
        """The whole trace as one table (file order), header in the metadata."""
        schema = schema_with_header(self.header)
        batches = list(self.batches())
        table = pa.Table.from_batches(batches, schema=schema.remove_metadata())
        return table.replace_schema_metadata(schema.metadata)

    def __iter__(self) -> Iterator[TraceEvent]:
        return self.events()


class LineReader(TraceReader):
    """A reader whose source is text lines: batches are built from events."""

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        stream = self.events()
        while chunk := list(islice(stream, batch_rows)):
            yield events_to_batch(chunk)


class ColumnarReader(TraceReader):
    """A reader whose source is Arrow data: events are built from batches."""

    def events(self) -> Iterator[TraceEvent]:
        for batch in self.batches():
            yield from batch_to_events(batch)
