"""Reader for our JSONL traces: a header line, then one event per line.

Two paths over the same bytes. :meth:`JsonlReader.events` decodes with
msgspec straight into :class:`TraceEvent`, a megabyte at a time, and drops to
line-by-line decoding only for a chunk that fails, so a bad line is reported
with its exact line number. Line by line, a line that is not in our own
spelling (integers as hex text, thread ids that are handles) is read as other
tools write it (:mod:`x360k.trace.jsonl_foreign`). :meth:`JsonlReader.batches` hands the file to
Arrow's multithreaded JSON parser for columnar reads and falls back to the
first path, picking up where it stopped, the moment Arrow objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from x360k.trace.columns import ARROW_SCHEMA, SIGNED_WRITTEN, conform, schema_with_header
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KIND_CODE, KINDS, TraceEvent
from x360k.trace.header import UTF8_BOM, TraceHeader, decode_header, looks_like_header
from x360k.trace.int_text import args_may_not_be_strings, strict_read_json
from x360k.trace.jsonl_foreign import (
    MAX_TID,
    ForeignEvent,
    ThreadNumbering,
    first_tid_is_raw,
    number_threads,
    to_event,
)
from x360k.trace.reader import DEFAULT_BATCH_ROWS, LineReader

_CHUNK_BYTES: Final = 1 << 20
_M64: Final = (1 << 64) - 1
_ARROW_BATCH_ROWS: Final = 1 << 18


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type) or pa.types.is_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_list(arrow_type):
        return _duckdb_type(arrow_type.value_type) + "[]"
    names = {
        pa.int8(): "TINYINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint16(): "USMALLINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
    }
    return names[arrow_type]


#: ``kind`` as a DuckDB ENUM of exactly KINDS: parsed straight into dictionary codes
#: (an unknown kind is a conversion error, which hands the file to the typed path).
_KIND_ENUM: Final = "ENUM(" + ", ".join(f"''{k}''" for k in KINDS) + ")"
#: Columns read wider than their Arrow type: a file may number its threads by raw ids
#: (handles), which :func:`_number_threads` turns into ordinals.
_WIDE: Final = {"tid": "BIGINT", "child_tid": "BIGINT"}


def _column_type(field: pa.Field) -> str:
    if field.name == "kind":
        return _KIND_ENUM
    return _WIDE.get(field.name) or _duckdb_type(field.type)


#: Integer fields are read as text and cast strictly (:func:`strict_read_json`): DuckDB
#: alone would take ``1.5`` or ``true`` in an integer field, which the typed path refuses.
_DUCKDB_QUERY: Final = strict_read_json(
    {f.name: _column_type(f) for f in ARROW_SCHEMA}, "?", SIGNED_WRITTEN
)
#: Errors that make the bulk path give up and the typed path (exact line numbers) take over.
#: What hands a file from the bulk path to the typed one, which then names the line. DuckDB's
#: errors arrive through Arrow's batch reader as plain OSError (an unreadable file fails the
#: typed path too, with its own message).
_BULK_ERRORS: Final = (pa.ArrowException, duckdb.Error, KeyError, ValueError, OSError)


#: What a file that is one JSON array of events, not JSON Lines, is told.
_JSON_ARRAY: Final = (
    "a JSON array of events, not JSON Lines (one event object per line): convert it with "
    "jq -c '.[]' FILE > FILE.jsonl"
)


def check_event(event: TraceEvent) -> str | None:
    """What is wrong with a decoded event's keys, or ``None``."""
    if event.kind not in KIND_CODE:
        return f"unknown kind {event.kind!r}"
    if event.tid < 0 or event.idx < 0:
        return "tid and idx must not be negative"
    return None


class JsonlReader(LineReader):
    """Our JSON Lines trace (schema v1)."""

    format = "jsonl"

    def __init__(self, path: str | Path, *, lenient: bool = False) -> None:
        super().__init__(path, lenient=lenient)
        self._header: TraceHeader | None = None
        self._body_offset = 0
        #: The file starts with a byte-order mark, which DuckDB's reader would not skip.
        self._bom = False
        self._decoder = msgspec.json.Decoder(TraceEvent)
        self._foreign = msgspec.json.Decoder(ForeignEvent)
        #: None until the first event says how the file numbers threads; then
        #: False (tids are ordinals) or the numbering of its raw thread ids.
        self._threads: ThreadNumbering | bool | None = None
        self._read_header()

    @property
    def header(self) -> TraceHeader | None:
        return self._header

    def _read_header(self) -> None:
        try:
            with self.path.open("rb") as stream:
                first = stream.readline()
        except OSError as exc:
            raise TraceFormatError(self.path, exc.strerror or str(exc)) from None
        if first.startswith(UTF8_BOM):  # as Windows tools (PowerShell, .NET) write UTF-8
            first = first[len(UTF8_BOM) :]
            self._body_offset = len(UTF8_BOM)
            self._bom = True
        if not looks_like_header(first):
            return
        try:
            self._header = decode_header(first)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TraceFormatError(self.path, f"bad header: {exc}", line=1) from None
        self._body_offset += len(first)

    def _bad(self, line: int, message: str) -> None:
        if not self.lenient:
            raise TraceFormatError(self.path, message, line=line)
        self.report.bad_lines += 1
        if self.report.bad_lines == 1:
            self.report.notes.append(f"first bad line {line}: {message}")

    def _decode_line(self, raw: bytes, line: int) -> TraceEvent | None:
        if not raw.strip():
            return None
        try:
            foreign = self._foreign.decode(raw)
        except msgspec.DecodeError as exc:
            if looks_like_header(raw):
                self._bad(line, "a second trace header: two traces in one file (cat a b?)")
            elif line == 1 and raw.lstrip().startswith(b"["):
                # the file's first line opens an array: the file is one JSON array of events
                self._bad(line, _JSON_ARRAY)
            else:
                self._bad(line, f"not a trace event: {exc}")
            return None
        if self._threads is None:
            self._threads = ThreadNumbering() if first_tid_is_raw(foreign) else False
        threads = self._threads if isinstance(self._threads, ThreadNumbering) else None
        try:
            event = to_event(foreign, threads)
        except ValueError as exc:
            self._bad(line, str(exc))
            return None
        problem = check_event(event)
        if problem is not None:
            self._bad(line, problem)
            return None
        return event

    def _decode_chunk(self, chunk: bytes, first_line: int) -> list[TraceEvent]:
        if not isinstance(self._threads, ThreadNumbering):
            try:
                events = self._decoder.decode_lines(chunk)
                if all(
                    e.kind in KIND_CODE
                    and e.tid <= MAX_TID
                    and (e.ret is None or e.ret <= _M64)  # the one bound msgspec cannot check
                    for e in events
                ):
                    if events and self._threads is None:
                        self._threads = False
                    return events
            except msgspec.DecodeError:
                pass
        good: list[TraceEvent] = []
        for offset, raw in enumerate(chunk.split(b"\n")):
            event = self._decode_line(raw, first_line + offset)
            if event is not None:
                good.append(event)
        return good

    def events(self) -> Iterator[TraceEvent]:
        line = 2 if self._header is not None else 1
        with self.path.open("rb") as stream:
            stream.seek(self._body_offset)
            rest = b""
            while True:
                data = stream.read(_CHUNK_BYTES)
                if not data:
                    break
                data = rest + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                chunk, rest = data[:cut], data[cut + 1 :]
                yield from self._decode_chunk(chunk, line)
                line += chunk.count(b"\n") + 1
            if rest.strip():
                yield from self._last_line(rest, line)

    def _last_line(self, raw: bytes, line: int) -> Iterator[TraceEvent]:
        """A final line without newline: complete JSON is kept, a torn write is reported."""
        try:
            msgspec.json.decode(raw)
        except msgspec.DecodeError:
            self.report.partial_last_line = True
            return
        event = self._decode_line(raw, line)
        if event is not None:
            yield event

    def table(self) -> pa.Table:
        """The whole trace through DuckDB in one go; the typed path takes over on trouble."""
        try:
            body = self._bulk_table()
        except _BULK_ERRORS:
            body = pa.Table.from_batches(list(LineReader.batches(self)), schema=ARROW_SCHEMA)
        return body.replace_schema_metadata(schema_with_header(self.header).metadata)

    def _bulk_table(self) -> pa.Table:
        if not _ends_cleanly(self.path) or self._bom:
            raise ValueError("last line has no newline, or a byte-order mark first")
        connection = duckdb.connect()
        try:
            table = connection.sql(_DUCKDB_QUERY, params=[str(self.path)]).to_arrow_table()
        finally:
            connection.close()
        if self._header is not None:
            table = _without_header_row(table)
        table = self._numbered(table)
        table = conform(table, keep_metadata=False)
        _check(table)
        return table

    def _numbered(self, table: pa.Table) -> pa.Table:
        """``tid``/``child_tid`` as ordinals, however the file numbers its threads."""
        if table.num_rows == 0:
            return table
        if self._threads is None:
            first = table.column("tid")[0].as_py()
            self._threads = ThreadNumbering() if first is not None and first > MAX_TID else False
        if isinstance(self._threads, ThreadNumbering):
            return number_threads(table, self._threads)
        return table

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Columnar read through DuckDB's JSON reader; the typed path takes over on trouble."""
        yielded = 0
        try:
            if not _ends_cleanly(self.path) or self._bom:
                raise ValueError("last line has no newline, or a byte-order mark first")
            for batch in self._arrow_batches():
                yielded += batch.num_rows
                yield batch
            return
        except _BULK_ERRORS:
            pass
        skipped = 0
        for batch in super().batches(batch_rows):
            if skipped + batch.num_rows <= yielded:
                skipped += batch.num_rows
                continue
            yield batch.slice(max(0, yielded - skipped))
            skipped += batch.num_rows

    def _arrow_batches(self) -> Iterator[pa.RecordBatch]:
        """DuckDB's parallel JSON reader, told every column's type up front."""
        connection = duckdb.connect()
        try:
            relation = connection.sql(_DUCKDB_QUERY, params=[str(self.path)])
            reader = relation.to_arrow_reader(_ARROW_BATCH_ROWS)
            skip_header = self._header is not None
            for raw in reader:
                table = pa.Table.from_batches([raw])
                if skip_header and table.num_rows:
                    table = _without_header_row(table)
                    skip_header = False
                if table.num_rows:
                    table = conform(self._numbered(table), keep_metadata=False)
                    _check(table)
                    yield from table.combine_chunks().to_batches()
        finally:
            connection.close()


def _without_header_row(table: pa.Table) -> pa.Table:
    """The bulk result minus its first row, which must be the header (no ``tid``)."""
    if table.num_rows == 0 or table.column("tid")[0].is_valid:
        raise ValueError("header row missing from bulk result")
    return table.slice(1)


def _check(table: pa.Table) -> None:
    """Refuse what the typed path would refuse, so both paths agree on what is valid."""
    if table.num_rows == 0:
        return
    for name in ("tid", "idx", "kind"):
        if table.column(name).null_count:
            raise ValueError(f"missing {name}")
    if pc.min(table.column("tid")).as_py() < 0 or pc.min(table.column("idx")).as_py() < 0:
        raise ValueError("negative key")
    if args_may_not_be_strings(pc.list_flatten(table.column("args"))):
        # a JSON number in args reads as decimal text here (the typed path writes it as hex),
        # a boolean or an object as its JSON text (the typed path refuses both)
        raise ValueError("args item that may not have been a string")


def _ends_cleanly(path: Path) -> bool:
    """True when the file is empty or its last byte is a newline (no torn last line)."""
    with path.open("rb") as stream:
        stream.seek(0, 2)
        if stream.tell() == 0:
            return True
        stream.seek(-1, 2)
        return stream.read(1) == b"\n"
