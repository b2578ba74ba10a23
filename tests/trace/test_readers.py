"""Readers: truncation, error lines, lenient mode, the canary log, sniffing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from x360k.trace.arrow_writer import ArrowStreamWriter
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.readers import open_trace, sniff_format

FIXTURES = Path(__file__).parent / "fixtures"


def _events(n: int) -> list[TraceEvent]:
    return [
        TraceEvent(tid=i % 3, idx=i // 3, kind="kernel.call", name="NtClose", args=["0x1"])
        for i in range(n)
    ]


def _jsonl(path: Path, events: list[TraceEvent]) -> Path:
    with JsonlWriter(path, TraceHeader(emulator="t")) as writer:
        for event in events:
            writer.record(event)
    return path


def test_jsonl_partial_last_line_is_reported_not_fatal(tmp_path: Path) -> None:
    events = _events(10)
    path = _jsonl(tmp_path / "t.jsonl", events)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 9])  # tear the last line
    reader = open_trace(path)
    assert list(reader.events()) == events[:-1]
    assert reader.report.partial_last_line
    bulk = open_trace(path)
    assert bulk.table().num_rows == 9
    assert bulk.report.partial_last_line


def test_jsonl_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", _events(5))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"tid": 0, "idx": "x", "kind": "marker"}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(TraceFormatError) as info:
        list(open_trace(path).events())
    assert str(info.value).startswith(f"{path}:4: ")
    assert "idx" in str(info.value)
    with pytest.raises(TraceFormatError, match=":4: "):
        open_trace(path).table()
    lenient = open_trace(path, lenient=True)
    assert len(list(lenient.events())) == 4
    assert lenient.report.bad_lines == 1


def test_jsonl_unknown_kind_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"tid": 0, "idx": 0, "kind": "handle.creat"}\n')
    with pytest.raises(TraceFormatError, match=r"t.jsonl:1: unknown kind 'handle.creat'"):
        list(open_trace(path).events())


def test_truncated_arrow_stream_reads_up_to_the_break(tmp_path: Path) -> None:
    events = _events(50)
    path = tmp_path / "t.arrows"
    with ArrowStreamWriter(path, batch_rows=10) as writer:
        for event in events:
            writer.record(event)
    data = path.read_bytes()
    cut = tmp_path / "cut.arrows"
    cut.write_bytes(data[: len(data) - 200])
    reader = open_trace(cut)
    got = list(reader.events())
    assert reader.report.truncated
    assert 0 < len(got) < 50
    assert got == events[: len(got)]
    assert len(got) % 10 == 0


def test_text_error_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("[1] import.call NtClose\n[2] kernel.call NtClose status=zz\n")
    with pytest.raises(TraceFormatError, match=r"t.txt:2: bad value for status"):
        list(open_trace(path).events())
    seed = tmp_path / "seed.txt"
    seed.write_text(
        "[102551] import.call NtDuplicateObject\n[102552] kernel.call NtDuplicateObject\n"
        "[102553] handle.create sid=df686b147b291902\n[102554] kernel.return NtDuplicateObject\n"
    )
    got = list(open_trace(seed).events())
    assert [e.kind for e in got] == ["import.call", "kernel.call", "handle.create", "kernel.return"]
    assert got[2].sid == "df686b147b291902" and got[2].idx == 102553


def test_columnar_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(TraceFormatError, match=r"t.parquet: not a Parquet file"):
        open_trace(path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01hello")
    with pytest.raises(TraceFormatError, match="not a trace"):
        open_trace(junk)


def test_sniffing(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.data", _events(2))
    assert sniff_format(path) == "jsonl"
    log = tmp_path / "x.txt"
    shutil.copy(FIXTURES / "canary.log", log)
    assert sniff_format(log) == "canary-log"
