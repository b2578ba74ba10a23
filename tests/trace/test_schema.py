"""The JSON Schema file agrees with TraceEvent, TraceHeader and the Arrow schema."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from x360k.trace.columns import ARROW_SCHEMA, events_to_batch
from x360k.trace.event import FIELDS, KINDS, VOLATILE_FIELDS, TraceEvent
from x360k.trace.header import TraceHeader


def _schema() -> dict[str, Any]:
    text = resources.files("x360k.trace").joinpath("schema-v1.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _valid(value: Any, rule: dict[str, Any]) -> bool:
    """A small checker for the subset of JSON Schema the file uses."""
    kind = rule.get("type")
    if "enum" in rule and value not in rule["enum"]:
        return False
    if kind == "integer":
        return isinstance(value, int) and rule["minimum"] <= value <= rule["maximum"]
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True


def test_event_fields_match() -> None:
    event_rules = _schema()["$defs"]["event"]["properties"]
    assert tuple(event_rules) == FIELDS
    assert {k for k, v in event_rules.items() if v.get("x-volatile")} == VOLATILE_FIELDS
    assert event_rules["kind"]["enum"] == list(KINDS)
    for field in ARROW_SCHEMA:
        rule = event_rules[field.name]
        if pa.types.is_integer(field.type):
            top = rule["maximum"]
            pa.array([top], field.type)  # the schema's bound fits the column


def test_sample_events_validate() -> None:
    rules = _schema()["$defs"]["event"]["properties"]
    samples = [
        TraceEvent(tid=6, idx=102553, kind="handle.create", sid="df686b147b291902", handle=4),
        TraceEvent(tid=0, idx=1, kind="kernel.return", name="NtClose", status=0xC0000008),
        TraceEvent(tid=0, idx=2, kind="thread.create", child_tid=1, entry=0x82003A10),
    ]
    for event in samples:
        decoded = msgspec.json.decode(msgspec.json.encode(event))
        assert all(_valid(v, rules[k]) for k, v in decoded.items()), decoded
    events_to_batch(samples)
    assert not _valid(1 << 32, rules["handle"])
    assert not _valid("handle.creat", rules["kind"])


def test_header_fields_match() -> None:
    header_rules = _schema()["$defs"]["header"]["properties"]
    assert set(header_rules) == set(TraceHeader.__struct_fields__)


def test_trace_event_integer_bounds_are_the_columns_ranges() -> None:
    """TraceEvent's decoding bounds and the Arrow schema's ranges say the same thing twice
    (event.py sits below columns.py): each bound must be exactly its column's range."""
    from x360k.trace.columns import INT_RANGES

    decoder = msgspec.json.Decoder(TraceEvent)
    for name, (low, high) in INT_RANGES.items():
        if name == "tid":  # a thread ordinal, not the column's whole int32 range
            low, high = 0, (1 << 31) - 1
        if name == "idx":
            low = 0

        def line(value: int, name: str = name) -> bytes:
            fields = {"tid": 0, "idx": 0, "kind": "marker", name: value}
            return msgspec.json.encode(fields)

        assert getattr(decoder.decode(line(low)), name) == low
        if high < (1 << 63):  # msgspec cannot bound past int64; readers check ret themselves
            assert getattr(decoder.decode(line(high)), name) == high
            with pytest.raises(msgspec.ValidationError, match=name):
                decoder.decode(line(high + 1))
        with pytest.raises(msgspec.ValidationError, match=name):
            decoder.decode(line(low - 1))
