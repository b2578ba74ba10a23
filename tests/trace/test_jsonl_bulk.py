"""The bulk JSONL path (DuckDB, whole table) agrees with the typed path on every input."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from benchmarks.gen_trace import generate

from x360k.trace.columns import ARROW_SCHEMA, KIND_TYPE, batch_to_events
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KINDS
from x360k.trace.jsonl_reader import JsonlReader


def test_bulk_table_equals_typed_events(tmp_path: Path) -> None:
    path = generate(3000, 5, tmp_path / "t.jsonl")
    reader = JsonlReader(path)
    table = reader.table()
    assert table.schema.equals(ARROW_SCHEMA, check_metadata=False)
    assert table.schema.metadata[b"x360k.header"]
    kind = table.column("kind")
    assert kind.type == KIND_TYPE
    assert all(chunk.dictionary.to_pylist() == list(KINDS) for chunk in kind.chunks)
    assert list(batch_to_events(table)) == list(JsonlReader(path).events())
    streamed = pa.Table.from_batches(list(JsonlReader(path).batches()), schema=ARROW_SCHEMA)
    assert streamed.equals(table.replace_schema_metadata(None))


def test_bulk_without_header_line(tmp_path: Path) -> None:
    path = generate(500, 2, tmp_path / "t.jsonl")
    lines = path.read_bytes().split(b"\n", 1)
    path.write_bytes(lines[1])
    reader = JsonlReader(path)
    assert reader.header is None
    assert list(batch_to_events(reader.table())) == list(JsonlReader(path).events())


def test_unknown_kind_falls_back_to_exact_line(tmp_path: Path) -> None:
    path = generate(200, 3, tmp_path / "t.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[57] = b'{"tid":0,"idx":9999,"kind":"kernel.calls"}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceFormatError, match=r":58: unknown kind 'kernel.calls'"):
        JsonlReader(path).table()
    lenient = JsonlReader(path, lenient=True)
    assert lenient.table().num_rows == len(lines) - 2
    assert lenient.report.bad_lines == 1


def test_missing_idx_falls_back_to_exact_line(tmp_path: Path) -> None:
    path = generate(200, 3, tmp_path / "t.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[10] = b'{"tid":0,"kind":"marker"}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceFormatError, match=r":11: "):
        JsonlReader(path).table()
