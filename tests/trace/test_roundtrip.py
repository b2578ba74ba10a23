"""Every format keeps every field of every event."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.trace.conftest import events_strategy
from x360k.trace.arrow_writer import ArrowStreamWriter, write_arrow_file
from x360k.trace.cache import convert, load_columnar
from x360k.trace.columns import ARROW_SCHEMA, batch_to_events, events_to_batch
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.readers import open_trace
from x360k.trace.text_form import format_event

EVENTS = st.lists(events_strategy(), max_size=30)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = TraceHeader(emulator="test", emulator_build="1", masked_exports=["KeSetEvent"])


def _write_jsonl(events: list[TraceEvent], path: Path) -> None:
    with JsonlWriter(path, HEADER) as writer:
        for event in events:
            writer.record(event)


@SETTINGS
@given(EVENTS)
def test_jsonl_typed_and_bulk_round_trip(events: list[TraceEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        _write_jsonl(events, path)
        reader = open_trace(path)
        assert reader.format == "jsonl"
        assert reader.header == HEADER
        assert list(reader.events()) == events
        assert list(batch_to_events(reader.table())) == events


@SETTINGS
@given(EVENTS)
def test_arrow_stream_file_parquet_round_trip(events: list[TraceEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "t.arrows"
        with ArrowStreamWriter(stream, HEADER, batch_rows=7) as writer:
            for event in events:
                writer.record(event)
        reader = open_trace(stream)
        assert reader.format == "arrow-stream"
        assert reader.header == HEADER
        assert list(reader.events()) == events
        file = Path(tmp) / "t.arrow"
        table = pa.Table.from_batches([events_to_batch(events)], schema=ARROW_SCHEMA)
        write_arrow_file(table, file, HEADER)
        assert list(open_trace(file).events()) == events
        parquet = Path(tmp) / "t.parquet"
        convert(stream, parquet, cache_dir=Path(tmp) / "cache")
        back = list(open_trace(parquet).events())
        assert back == sorted(events, key=lambda e: (e.tid, e.idx))


@SETTINGS
@given(EVENTS)
def test_text_form_round_trip(events: list[TraceEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        path.write_text("".join(format_event(e, with_tid=True) + "\n" for e in events))
        if events:
            assert open_trace(path).format == "text"
        assert list(open_trace(path, fmt="text").events()) == events


def test_batch_keeps_column_types() -> None:
    event = TraceEvent(tid=1, idx=2, kind="handle.create", handle=0xF8000004, sid="ab")
    batch = events_to_batch([event])
    assert batch.schema.equals(ARROW_SCHEMA)
    assert batch.column("handle").type == pa.uint32()


def test_load_columnar_sorted_cached(tmp_path: Path) -> None:
    events = [
        TraceEvent(tid=t, idx=i, kind="marker", text=f"{t}.{i}") for i in range(3) for t in (2, 0)
    ]
    path = tmp_path / "t.jsonl"
    _write_jsonl(events, path)
    cache = tmp_path / "cache"
    first = load_columnar(path, cache_dir=cache)
    assert first.column("tid").to_pylist() == [0, 0, 0, 2, 2, 2]
    assert first.schema.metadata[b"x360k.threads"] == b'{"0": [0, 3], "2": [3, 6]}'
    assert len(list(cache.iterdir())) == 1
    second = load_columnar(path, cache_dir=cache)
    assert second.equals(first)
