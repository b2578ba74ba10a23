"""How the diff reads traces: the streamed JSONL path must give what the trace layer gives."""

from __future__ import annotations

import itertools
import mmap
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

import x360k.diff.spill as spill
from x360k.diff.compare import DiffOptions, run_diff
from x360k.diff.inputs import (
    BASE_COLUMNS,
    InputError,
    TraceColumns,
    _load_trace_layer,
    events_to_columns,
    load,
    load_pair,
)
from x360k.diff.report import build_report, to_json
from x360k.trace.event import TraceEvent

from .pairgen import make_pair


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X360K_CACHE", str(tmp_path / "cache"))


def _write(events: list[TraceEvent], path: Path, header: bool = True, **hexed: bool) -> Path:
    """JSONL of ``events``; fields named in ``hexed`` written as "0x..." strings."""
    with path.open("wb") as f:
        if header:
            f.write(b'{"format":"x360k-trace","schema_version":1,"emulator":"test"}\n')
        for ev in events:
            obj: dict[str, Any] = msgspec.to_builtins(ev)
            for name in hexed:
                if isinstance(obj.get(name), int):
                    obj[name] = f"0x{obj[name]:X}"
            f.write(msgspec.json.encode(obj) + b"\n")
    return path


def _write_signed(events: list[TraceEvent], path: Path) -> Path:
    """JSONL of ``events`` with statuses and handles at or above 2**31 written as C prints
    them signed (an NTSTATUS is a LONG): 0xC0000008 as -1073741816."""
    with path.open("wb") as f:
        for ev in events:
            obj: dict[str, Any] = msgspec.to_builtins(ev)
            for name in ("status", "handle"):
                value = obj.get(name)
                if isinstance(value, int) and value >= 1 << 31:
                    obj[name] = value - (1 << 32)
            f.write(msgspec.json.encode(obj) + b"\n")
    return path


def _report(ref: TraceColumns, cand: TraceColumns, **kw: Any) -> Any:
    result = run_diff(ref, cand, DiffOptions(**kw))
    return msgspec.json.decode(to_json(build_report(result, "ref", "cand")))


def _trace_layer(path: Path) -> TraceColumns:
    return _load_trace_layer(path, BASE_COLUMNS, cache=False)


def _same_table(a: TraceColumns, b: TraceColumns) -> None:
    assert a.n == b.n
    assert a.thread_tids.tolist() == b.thread_tids.tolist()
    assert a.thread_starts.tolist() == b.thread_starts.tolist()
    for row in range(a.n):
        assert a.event(row) == b.event(row), row


@pytest.fixture(params=["duckdb", "arrow-json"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a JSONL file is decoded: DuckDB (big files) and Arrow's JSON reader (small)."""
    if request.param == "duckdb":
        monkeypatch.setattr(spill, "SMALL_BYTES", -1)
    else:
        monkeypatch.setattr(spill, "SMALL_BYTES", 1 << 30)
    return str(request.param)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("first", [False, True])
def test_streamed_jsonl_diffs_like_the_trace_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, first: bool, reader: str
) -> None:
    """Generated pairs, all divergence classes, rows written out a few at a time."""
    monkeypatch.setattr(spill, "SPILL_ROWS", 50 + 37 * seed)  # many flushes per thread
    pair = make_pair(seed, threads=4, blocks=80)
    r = _write(pair.ref, tmp_path / "r.jsonl")
    c = _write(pair.cand, tmp_path / "c.jsonl")
    streamed = (load(r), load(c))
    assert streamed[0].mapping is not None  # memory-mapped, not read whole
    layer = (_trace_layer(r), _trace_layer(c))
    _same_table(streamed[0], layer[0])
    _same_table(streamed[1], layer[1])
    got = _report(*streamed, first=first)
    assert got == _report(*layer, first=first)
    assert got["divergence_count"] > 0


def _pair_with_failures() -> Any:
    """A generated pair whose reference has statuses at or above 2**31 to spell."""
    pair = make_pair(9, threads=3, blocks=60)
    for ev in pair.ref[:40]:
        if ev.kind == "kernel.return" and ev.status is None:
            ev.status = 0xC0000008
    return pair


def test_hex_strings_in_integer_fields_diff_like_integers(tmp_path: Path, reader: str) -> None:
    """``"status": "0xC0000008"``, hex handles and thread ids read as the integers they spell."""
    pair = _pair_with_failures()
    plain = _write(pair.ref, tmp_path / "plain.jsonl")
    hexed = _write(pair.ref, tmp_path / "hex.jsonl", status=True, handle=True, tid=True, ret=True)
    assert b'"status":"0xC0000008"' in hexed.read_bytes()
    assert b'"tid":"0x' in hexed.read_bytes()
    cand = _write(pair.cand, tmp_path / "c.jsonl")
    a, b = load(plain), load(hexed)
    _same_table(a, b)
    assert _report(a, load(cand)) == _report(b, load(cand))


def test_signed_statuses_and_handles_diff_like_unsigned_ones(tmp_path: Path, reader: str) -> None:
    pair = _pair_with_failures()
    plain = _write(pair.ref, tmp_path / "plain.jsonl")
    signed = _write_signed(pair.ref, tmp_path / "signed.jsonl")
    assert b'"status":-1073741816' in signed.read_bytes()
    assert b'"handle":-' in signed.read_bytes()  # the pair's reference handles are 0xF8...
    # read by the reader under test itself, not handed on to the trace layer
    assert spill.spill_jsonl(signed, BASE_COLUMNS, None) is not None
    cand = _write(pair.cand, tmp_path / "c.jsonl")
    a, b = load(plain), load(signed)
    _same_table(a, b)
    assert _report(a, load(cand)) == _report(b, load(cand))


def test_thread_ids_that_are_handles_load(tmp_path: Path, reader: str) -> None:
    """Canary's thread ids are handles (over 2**31): they must not be narrowed away."""
    pair = make_pair(4, threads=2, blocks=20, inject=())
    events = [msgspec.structs.replace(e, tid=0xF8000010 + 4 * e.tid) for e in pair.ref]
    path = _write(events, tmp_path / "t.jsonl")
    cols = load(path)
    assert cols.thread_tids.tolist() == [0xF8000010, 0xF8000014]
    assert _report(cols, load(path))["exit_code"] == 0


def test_thread_written_out_of_order_is_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    monkeypatch.setattr(spill, "SPILL_ROWS", 10)
    pair = make_pair(6, threads=3, blocks=30, inject=())
    shuffled = list(reversed(pair.ref))  # every thread's idx now runs backwards in the file
    path = _write(shuffled, tmp_path / "rev.jsonl", header=False)
    cols = load(path)
    _same_table(cols, _trace_layer(path))
    assert _report(cols, load(_write(pair.ref, tmp_path / "fwd.jsonl")))["exit_code"] == 0


def test_cache_entry_is_reused_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    pair = make_pair(8, threads=2, blocks=30)
    path = _write(pair.ref, tmp_path / "r.jsonl")
    first = load(path, cache=True)
    entries = list((tmp_path / "cache").glob("diff-*.arrow"))
    assert len(entries) == 1
    again = load(path, cache=True)
    _same_table(first, again)
    entries[0].write_bytes(b"ARROW1 but not really")
    rebuilt = load(path, cache=True)
    _same_table(first, rebuilt)
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_in_memory_spill_matches_the_file(tmp_path: Path, reader: str) -> None:
    pair = make_pair(10, threads=3, blocks=30)
    path = _write(pair.ref, tmp_path / "r.jsonl")
    spilled = spill.spill_jsonl(path, BASE_COLUMNS, None)
    assert spilled is not None and spilled.buffer is not None
    table, index, mm = spill.open_spill(spilled.buffer, BASE_COLUMNS)
    assert mm is None and index.header["emulator"] == "test"
    assert table.equals(load(path).table)


def test_bad_line_is_named_by_the_trace_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    pair = make_pair(11, threads=2, blocks=10, inject=())
    path = _write(pair.ref, tmp_path / "bad.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[5] = b'{"tid":0,"idx":"seven","kind":"marker"}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(InputError, match=r"bad\.jsonl\D*6\b"):
        load(path)
    assert not list(scratch.iterdir())  # the half-written spill is gone


def test_spill_refuses_floats_and_booleans_in_integer_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through DuckDB (no small-file shortcut) a float status is no integer: None, not 2."""
    monkeypatch.setattr(spill, "SMALL_BYTES", 0)
    good = '{"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "status": 2}\n'
    path = tmp_path / "t.jsonl"
    path.write_text(good)
    assert spill.spill_jsonl(path, ("tid", "idx", "kind", "status"), None) is not None
    for bad in ("2.0", "1.5", "true", '"1e3"', '" 12"'):
        path.write_text(good.replace('"status": 2', f'"status": {bad}'))
        assert spill.spill_jsonl(path, ("tid", "idx", "kind", "status"), None) is None, bad


def test_load_pair_reads_both_sides_as_load_does_and_names_the_reference_first(
    tmp_path: Path, reader: str
) -> None:
    pair = make_pair(12, threads=3, blocks=40)
    r = _write(pair.ref, tmp_path / "r.jsonl")
    c = _write(pair.cand, tmp_path / "c.jsonl")
    ref, cand = load_pair(r, c, cache=True)
    _same_table(ref, load(r))
    _same_table(cand, load(c))
    assert len(list((tmp_path / "cache").glob("diff-*.arrow"))) == 1  # the reference only
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tid":0,"idx":"seven","kind":"marker"}\n')
    worse = tmp_path / "worse.jsonl"
    worse.write_text('{"tid":0,"idx":0,"kind":"no such kind"}\n')
    with pytest.raises(InputError, match=r"^\S*bad\.jsonl"):
        load_pair(bad, worse)
    with pytest.raises(InputError, match=r"missing\.jsonl: no such file"):
        load_pair(tmp_path / "missing.jsonl", c)
    with pytest.raises(InputError, match=r": is a directory, not a trace file$"):
        load_pair(r, tmp_path)
    with pytest.raises(InputError, match=r"/dev/null \(read from a stream\): empty file"):
        load_pair(Path("/dev/null"), c)  # a device is read as a stream: this one is empty
    with pytest.raises(InputError, match=r"bad\.jsonl"):
        load_pair(r, bad)


def test_read_ahead_spans_cover_a_threads_buffers_of_the_columns_asked(tmp_path: Path) -> None:
    pair = make_pair(11, threads=3, blocks=60)
    cols = load(_write(pair.ref, tmp_path / "r.jsonl"), cache=True)
    assert cols.mapping is not None  # the cache entry is mapped, so there is a file to read
    size, page = len(cols.mapping), mmap.PAGESIZE
    base = pa.py_buffer(cols.mapping).address
    lo, hi = cols.thread_range(int(cols.thread_tids[1]))
    spans = cols.file_spans(lo, hi, ("args", "kind"))
    assert spans and all(s % page == 0 and s < e <= size for s, e in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # sorted, joined
    for name in ("args", "kind"):
        col = cols.column(name, lo, hi)
        assert col is not None
        for chunk in col.chunks:
            for buf in chunk.buffers():
                if buf is None or not buf.size:
                    continue
                start, end = buf.address - base, buf.address - base + buf.size
                assert any(s <= start and end <= e for s, e in spans), (name, start, end)
    # a column with no value in the range (no checkpoints here) is not read ahead
    assert cols.file_spans(lo, hi, ("checksum",)) == []
    assert cols.file_spans(lo, lo, ("args",)) == []
    cols.prefetch(lo, hi, ("args", "kind"))  # a hint: it changes nothing visible
    assert cols.event(lo) == load(tmp_path / "r.jsonl", cache=True).event(lo)


def test_a_trace_in_memory_has_nothing_to_read_ahead() -> None:
    pair = make_pair(12, threads=2, blocks=20)
    cols = events_to_columns(pair.ref)
    assert cols.mapping is None
    assert cols.file_spans(0, cols.n, ("args",)) == []
    cols.prefetch(0, cols.n, ("args",))


def test_args_items_that_were_no_strings_read_as_the_trace_layer_reads_them(
    tmp_path: Path, reader: str
) -> None:
    """DuckDB reads a number in args as decimal text and a boolean as ``true``: the diff
    hands such a file to the trace layer (numbers as hex, anything else named)."""
    rows = [
        {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "args": [4160749584, -1]},
        {"tid": 0, "idx": 1, "kind": "kernel.return", "name": "NtClose", "status": 0},
    ]
    numbers = tmp_path / "n.jsonl"
    numbers.write_text("".join(msgspec.json.encode(r).decode() + "\n" for r in rows))
    assert spill.spill_jsonl(numbers, BASE_COLUMNS, None) is None  # not read as decimal text
    assert load(numbers).event(0).args == ["0xf8000010", "0xffffffff"]
    rows[0]["args"] = ["0x10", True]
    boolean = tmp_path / "b.jsonl"
    boolean.write_text("".join(msgspec.json.encode(r).decode() + "\n" for r in rows))
    with pytest.raises(InputError, match=r"b.jsonl:1: .*got `bool`"):
        load(boolean)


def test_read_ahead_asks_for_each_next_range_as_the_current_one_is_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cols = events_to_columns(make_pair(13, threads=2, blocks=10).ref)
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(TraceColumns, "prefetch", lambda _, lo, hi, names: asked.append((lo, hi)))
    ranges = [(0, 5), (5, 9), (9, 20)]
    seen = []
    for k in cols.read_ahead(ranges, ("args",)):
        seen.append((k, list(asked)))
    assert seen == [
        (0, [(0, 5), (5, 9)]),
        (1, [(0, 5), (5, 9), (9, 20)]),
        (2, [(0, 5), (5, 9), (9, 20)]),
    ]
    assert list(cols.read_ahead([], ("args",))) == []
