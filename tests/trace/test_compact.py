"""Compact hex columns: exact text back, refusal of any other spelling, both file layouts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.trace.arrow_writer import write_arrow_file, write_arrow_stream
from x360k.trace.cache import convert, load_columnar
from x360k.trace.columns import ARROW_SCHEMA, batch_to_events, events_to_batch
from x360k.trace.compact import (
    COMPACT_METADATA_KEY,
    compact_table,
    compacted_columns,
    expand_table,
    format_hex,
    parse_hex,
)
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KINDS, TraceEvent, hex_arg, make_sid
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.parquet_writer import LAYOUT_METADATA_KEY, write_parquet
from x360k.trace.readers import open_trace

U32 = st.integers(0, 0xFFFFFFFF)
SIDS = st.builds(make_sid, st.integers(0, 1000), st.integers(0, 1 << 20))
ARGS = st.lists(U32.map(hex_arg), max_size=5)


def canonical_events() -> st.SearchStrategy[TraceEvent]:
    """Events whose sid/args/objects all have the canonical spelling (or are absent)."""
    return st.builds(
        TraceEvent,
        tid=st.integers(0, 7),
        idx=st.integers(0, 1 << 40),
        kind=st.sampled_from(KINDS),
        args=st.none() | ARGS,
        sid=st.none() | SIDS,
        objects=st.none() | st.lists(SIDS, max_size=3),
        handle=st.none() | U32,
    )


def _table(events: list[TraceEvent]) -> pa.Table:
    return pa.Table.from_batches([events_to_batch(events)], schema=ARROW_SCHEMA)


@settings(max_examples=60, deadline=None)
@given(st.lists(canonical_events(), max_size=40))
def test_compact_then_expand_restores_every_value(events: list[TraceEvent]) -> None:
    table = _table(events)
    packed = compact_table(table)
    names = compacted_columns(packed.schema)
    assert set(names) == {"sid", "args", "objects"}
    assert packed.schema.field("sid").type == pa.uint64()
    assert packed.schema.field("args").type == pa.list_(pa.uint32())
    back = expand_table(packed, names)
    assert COMPACT_METADATA_KEY not in (back.schema.metadata or {})
    assert back.schema.equals(ARROW_SCHEMA)
    assert list(batch_to_events(back)) == events


@settings(max_examples=40, deadline=None)
@given(st.lists(canonical_events(), min_size=1, max_size=30), st.data())
def test_one_other_spelling_keeps_that_column_as_text(
    events: list[TraceEvent], data: st.DataObject
) -> None:
    odd = data.draw(st.sampled_from(["0X0000000A", "0x1", "0x0000000g", "", "0x00000000 "]))
    odd_sid = data.draw(st.sampled_from(["ABCDEF0123456789", "abc", "0123456789abcdef0", "x" * 16]))
    events = [*events, TraceEvent(tid=0, idx=0, kind="kernel.call", args=[odd], sid=odd_sid)]
    packed = compact_table(_table(events))
    assert compacted_columns(packed.schema) == ["objects"]
    assert packed.schema.field("args").type == pa.list_(pa.string())
    back = expand_table(packed, compacted_columns(packed.schema))
    assert list(batch_to_events(back)) == events


def test_parse_and_format_are_inverse_on_extremes() -> None:
    values = np.array([0, 1, 0xDEADBEEF, 0xFFFFFFFF], np.uint32)
    text = format_hex(values, 8, b"0x")
    assert text.to_pylist() == ["0x00000000", "0x00000001", "0xdeadbeef", "0xffffffff"]
    parsed = parse_hex(text, 8, b"0x")
    assert parsed is not None
    assert parsed.tolist() == values.tolist()
    wide = np.array([0, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF], np.uint64)
    assert format_hex(wide, 16, b"").to_pylist() == [
        "0000000000000000",
        "ffffffffffffffff",
        "0123456789abcdef",
    ]


def test_sliced_and_chunked_columns_round_trip() -> None:
    events = [
        TraceEvent(
            tid=0,
            idx=i,
            kind="kernel.call",
            args=[hex_arg(i * 7919 % 2**32)] * (i % 4) if i % 3 else None,
            sid=make_sid(0, i) if i % 5 == 0 else None,
        )
        for i in range(200)
    ]
    table = pa.concat_tables([_table(events[:70]), _table(events[70:])]).slice(13, 150)
    packed = compact_table(table)
    back = expand_table(packed, compacted_columns(packed.schema))
    assert list(batch_to_events(back)) == events[13:163]


def _events(n: int) -> list[TraceEvent]:
    out = []
    for i in range(n):
        tid, idx = i % 3, i // 3
        if i % 4 == 0:
            out.append(
                TraceEvent(tid=tid, idx=idx, kind="handle.create", sid=make_sid(tid, idx), handle=i)
            )
        else:
            out.append(
                TraceEvent(tid=tid, idx=idx, kind="kernel.call", name="NtClose", args=[hex_arg(i)])
            )
    return out


def test_parquet_layout_2_file_reads_back_identically(tmp_path: Path) -> None:
    events = _events(300)
    source = tmp_path / "t.arrow"
    table = _table(events)
    write_arrow_file(table, source)
    target = tmp_path / "t.parquet"
    convert(source, target, cache_dir=tmp_path / "cache")
    schema = pq.read_schema(target)
    assert schema.field("sid").type == pa.uint64()
    assert schema.field("args").type == pa.list_(pa.uint32())
    assert "text" not in schema.names  # null in every row: left out
    assert schema.metadata[LAYOUT_METADATA_KEY] == b"2"
    assert json.loads(schema.metadata[COMPACT_METADATA_KEY]) == ["sid", "objects", "args"]
    loaded = load_columnar(target)
    assert loaded.schema.equals(ARROW_SCHEMA)
    assert LAYOUT_METADATA_KEY not in loaded.schema.metadata
    assert list(batch_to_events(loaded)) == sorted(events, key=lambda e: (e.tid, e.idx))
    reader = open_trace(target)
    assert list(reader.events()) == sorted(events, key=lambda e: (e.tid, e.idx))
    sizes = [b.num_rows for b in reader.batches(batch_rows=64)]
    assert sizes[0] == 64
    assert sum(sizes) == 300


def test_layout_1_parquet_still_reads_and_convert_rewrites_it(tmp_path: Path) -> None:
    events = sorted(_events(60), key=lambda e: (e.tid, e.idx))
    source = tmp_path / "t.arrows"
    write_arrow_stream(_table(events), source)
    target = tmp_path / "t.parquet"
    convert(source, target, cache_dir=tmp_path / "cache")
    # Rewrite it the way the first trace layer did: every column as its v1 type.
    old = load_columnar(target)
    pq.write_table(old, target, compression="zstd")
    assert pq.read_schema(target).field("sid").type == pa.string()
    assert list(batch_to_events(load_columnar(target))) == events
    result = convert(source, target, cache_dir=tmp_path / "cache")
    assert not result.skipped
    assert pq.read_schema(target).field("sid").type == pa.uint64()
    assert convert(source, target, cache_dir=tmp_path / "cache").skipped


def test_bad_compact_metadata_is_one_line(tmp_path: Path) -> None:
    table = _table(_events(10))
    path = tmp_path / "t.parquet"
    meta = {COMPACT_METADATA_KEY: b'["sid", "bogus"]'}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(TraceFormatError, match="bad schema metadata"):
        open_trace(path)
    meta = {COMPACT_METADATA_KEY: b'["sid"]'}  # listed as compact, but still text
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(TraceFormatError) as info:
        open_trace(path).table()
    assert "\n" not in str(info.value)
    assert "sid" in str(info.value)


def test_write_parquet_keeps_metadata(tmp_path: Path) -> None:
    table = _table(_events(9)).replace_schema_metadata({b"x360k.header": b"{}", b"k": b"v"})
    path = tmp_path / "t.parquet"
    write_parquet(table, path)
    meta = pq.read_schema(path).metadata
    assert meta[b"k"] == b"v"
    assert meta[b"x360k.header"] == b"{}"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        canonical_events()
        | st.builds(
            TraceEvent,
            tid=st.integers(0, 3),
            idx=st.integers(0, 1 << 20),
            kind=st.sampled_from(KINDS),
            args=st.none() | st.lists(st.text(max_size=11), max_size=3),
            sid=st.none() | st.text(max_size=17),
        ),
        max_size=25,
        unique_by=lambda e: (e.tid, e.idx),
    )
)
def test_any_mix_survives_jsonl_to_parquet(events: list[TraceEvent]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "t.jsonl"
        with JsonlWriter(source) as writer:
            for event in events:
                writer.record(event)
        target = Path(tmp) / "t.parquet"
        convert(source, target, cache_dir=Path(tmp) / "cache")
        expected = sorted(events, key=lambda e: (e.tid, e.idx))
        assert list(open_trace(target).events()) == expected
        assert list(batch_to_events(load_columnar(target))) == expected
