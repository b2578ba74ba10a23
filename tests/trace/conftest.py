"""Shared strategies and helpers for trace tests."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import strategies as st

from x360k.trace.event import KINDS, TraceEvent

U32 = st.integers(0, 0xFFFFFFFF)
I64 = st.integers(-(1 << 63), (1 << 63) - 1)
WORDS = st.text(min_size=0, max_size=12)
OPT = st.none


def events_strategy() -> st.SearchStrategy[TraceEvent]:
    """TraceEvents with every field drawn within its column's range."""
    return st.builds(
        TraceEvent,
        tid=st.integers(0, (1 << 31) - 1),
        idx=st.integers(0, (1 << 63) - 1),
        kind=st.sampled_from(KINDS),
        name=OPT() | WORDS,
        module=OPT() | WORDS,
        ordinal=OPT() | U32,
        call_id=OPT() | I64,
        ret_addr=OPT() | U32,
        status=OPT() | U32,
        ret=OPT() | st.integers(0, (1 << 64) - 1),
        args=OPT() | st.lists(WORDS, max_size=4),
        handle=OPT() | U32,
        sid=OPT() | WORDS,
        object_type=OPT() | WORDS,
        raw_tid=OPT() | U32,
        child_tid=OPT() | st.integers(-(1 << 31), (1 << 31) - 1),
        child_raw_tid=OPT() | U32,
        entry=OPT() | U32,
        checksum=OPT() | WORDS,
        ts=OPT() | I64,
        path=OPT() | WORDS,
        offset=OPT() | I64,
        length=OPT() | I64,
        objects=OPT() | st.lists(WORDS, max_size=3),
        text=OPT() | WORDS,
    )


def plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded, metadata dropped: for comparing tables by value."""
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names).combine_chunks()
