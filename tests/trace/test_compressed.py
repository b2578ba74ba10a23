"""Compressed traces (gzip, zstd, bz2, lz4, xz) read by every command as the trace inside."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from tests.trace.conftest import plain
from x360k.cli.main import cli
from x360k.trace.compressed import compression_of, decompressed
from x360k.trace.errors import TraceFormatError
from x360k.trace.readers import open_trace

FIXTURES = Path(__file__).parent / "fixtures"
FOREIGN = FIXTURES / "foreign-hex.jsonl"
DIFF_FIXTURES = Path(__file__).parents[1] / "diff" / "fixtures"


def _arrow_codec(codec: str) -> Callable[[bytes], bytes]:
    def compress(data: bytes) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, codec) as out:
            out.write(data)
        return bytes(sink.getvalue().to_pybytes())

    return compress


CODECS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", gzip.compress),
    "bz2": (".bz2", bz2.compress),
    "xz": (".xz", lzma.compress),
    "zstd": (".zst", _arrow_codec("zstd")),
    "lz4": (".lz4", _arrow_codec("lz4")),
}


def _compressed(tmp_path: Path, source: Path, codec: str) -> Path:
    suffix, compress = CODECS[codec]
    out = tmp_path / (source.name + suffix)
    out.write_bytes(compress(source.read_bytes()))
    return out


@pytest.fixture(autouse=True)
def _own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Plain copies go under this test's own temporary directory, to see them removed."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setenv("X360K_CACHE", str(tmp_path / "cache"))
    return scratch


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_each_codec_reads_as_the_plain_file(tmp_path: Path, codec: str) -> None:
    packed = _compressed(tmp_path, FOREIGN, codec)
    assert compression_of(packed) == codec
    assert compression_of(FOREIGN) is None
    with decompressed(packed) as inside:
        assert inside.name == FOREIGN.name  # the codec's suffix dropped, the format's kept
        got = plain(open_trace(inside).table())
    assert got.equals(plain(open_trace(FOREIGN).table()))
    assert not inside.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_plain_file_is_handed_over_as_it_is() -> None:
    with decompressed(FOREIGN) as inside:
        assert inside == FOREIGN


def test_every_trace_command_and_diff_read_a_compressed_trace(tmp_path: Path) -> None:
    packed = _compressed(tmp_path, FOREIGN, "zstd")
    runner = CliRunner()
    for args in (["show"], ["stats", "--json"], ["sql", "select count(*) from events"]):
        got = runner.invoke(cli, ["trace", *args, str(packed)])
        want = runner.invoke(cli, ["trace", *args, str(FOREIGN)])
        assert got.exit_code == 0, got.output
        assert got.stdout == want.stdout
    out = tmp_path / "t.arrow"
    converted = runner.invoke(cli, ["trace", "convert", str(packed), str(out)])
    assert converted.exit_code == 0 and "18 events" in converted.output, converted.output
    perfetto = tmp_path / "p.json"
    exported = runner.invoke(cli, ["trace", "export", str(packed), "--perfetto", str(perfetto)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(perfetto.read_text())["traceEvents"]
    res = runner.invoke(cli, ["diff", str(FOREIGN), str(packed)])
    assert res.exit_code == 0 and "verdict: MATCH" in res.output, res.output
    assert f"candidate: {packed}" in res.output
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_compressed_canary_log_diffs_like_the_plain_one(tmp_path: Path) -> None:
    log = DIFF_FIXTURES / "calls_canary.log"
    full = DIFF_FIXTURES / "calls_x360k.jsonl"
    packed = _compressed(tmp_path, log, "gzip")
    runner = CliRunner()
    got = runner.invoke(cli, ["diff", str(packed), str(full), "--json"])
    want = runner.invoke(cli, ["diff", str(log), str(full), "--json"])
    assert got.exit_code == want.exit_code == 0, got.output
    assert json.loads(got.stdout)["verdict"] == json.loads(want.stdout)["verdict"] == "MATCH"


def test_a_damaged_stream_is_one_line_naming_the_file(tmp_path: Path) -> None:
    packed = _compressed(tmp_path, FOREIGN, "gzip")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[:60])
    damaged = r"cut\.jsonl\.gz: cannot decompress \(gzip\)"
    with pytest.raises(TraceFormatError, match=damaged), decompressed(cut):
        pass
    runner = CliRunner()
    for args in (["trace", "stats", str(cut)], ["diff", str(FOREIGN), str(cut)]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "cut.jsonl.gz: cannot decompress (gzip)" in lines[0]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_bad_line_inside_is_named_in_the_compressed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tid":0,"idx":0,"kind":"kernel.call","name":"NtClose"}\n{"kind":1}\n')
    packed = _compressed(tmp_path, bad, "xz")
    runner = CliRunner()
    for args in (["trace", "show", str(packed)], ["diff", str(FOREIGN), str(packed)]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2
        assert f"{packed} (decompressed):2:" in res.stderr, res.stderr


def test_a_pipe_is_read_as_the_trace_it_carries_compressed_or_not(tmp_path: Path) -> None:
    """``x360k diff ref.jsonl <(emulator ...)``: a FIFO is read once into a plain copy."""
    import os
    import threading

    runner = CliRunner()
    packed = _compressed(tmp_path, FOREIGN, "gzip")
    for source, name in ((FOREIGN, "plain"), (packed, "gz")):
        fifo = tmp_path / f"fifo-{name}"
        os.mkfifo(fifo)
        feeder = threading.Thread(target=lambda s=source, f=fifo: f.write_bytes(s.read_bytes()))
        feeder.start()
        res = runner.invoke(cli, ["diff", str(FOREIGN), str(fifo)])
        feeder.join(timeout=10)
        assert res.exit_code == 0 and "verdict: MATCH" in res.output, res.output
    fifo = tmp_path / "fifo-bad"
    os.mkfifo(fifo)
    bad = b'{"tid":0,"idx":0,"kind":"kernel.call","ordinal":-5}\n'
    feeder = threading.Thread(target=lambda: fifo.write_bytes(bad))
    feeder.start()
    res = runner.invoke(cli, ["trace", "stats", str(fifo)])
    feeder.join(timeout=10)
    assert res.exit_code == 2
    assert f"{fifo} (read from a stream):1: field ordinal: -5 is out of range" in res.stderr
    assert list((tmp_path / "scratch").iterdir()) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_trace_written_in_utf16_or_utf32_reads_as_its_utf8_text(
    tmp_path: Path, encoding: str
) -> None:
    """What Windows PowerShell 5's ``>`` writes: UTF-16 LE with a byte-order mark."""
    text = FOREIGN.read_text(encoding="utf-8").replace("\n", "\r\n")
    mark = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(mark + text.encode(encoding))
    assert compression_of(wide) == ("utf-32" if encoding == "utf-32" else "utf-16")
    assert plain(open_trace(FOREIGN).table()).equals(plain(_read_through_copy(wide)))
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", str(FOREIGN), str(wide)])
    assert res.exit_code == 0 and "verdict: MATCH" in res.output, res.output
    assert list((tmp_path / "scratch").iterdir()) == []


def _read_through_copy(path: Path) -> pa.Table:
    with decompressed(path) as inside:
        return open_trace(inside).table()


def test_broken_utf16_is_one_line_naming_the_file(tmp_path: Path) -> None:
    wide = tmp_path / "cut.jsonl"
    wide.write_bytes(b"\xff\xfe" + FOREIGN.read_text(encoding="utf-8").encode("utf-16-le")[:-1])
    runner = CliRunner()
    for args in (["trace", "show", str(wide)], ["diff", str(FOREIGN), str(wide)]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "cut.jsonl: cannot read as UTF-16: " in lines[0], lines
    assert list((tmp_path / "scratch").iterdir()) == []
