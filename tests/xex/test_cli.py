"""``x360k xex info / imports / pack`` and ``x360k run FILE.xex`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.xex.conftest import GUESTS, packed
from x360k.cli.main import cli

xex2 = pytest.importorskip("xex2")


def test_pack_then_info_and_imports_agree_with_xex2(tmp_path: Path) -> None:
    out = tmp_path / "wedge.xex"
    runner = CliRunner()
    r = runner.invoke(cli, ["xex", "pack", str(GUESTS / "wedge.elf"), "-o", str(out),
                            "--compression", "lzx", "--encryption", "devkit"])  # fmt: skip
    assert r.exit_code == 0, r.output
    theirs = xex2.Xex2.parse(out.read_bytes())
    r = runner.invoke(cli, ["xex", "info", "--json", str(out)])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["entry_point"] == theirs.entry_point
    assert info["load_address"] == theirs.load_address
    assert info["title_id"] == f"{theirs.title_id:08X}"
    assert (info["compression"], info["encryption"], info["key"]) == ("lzx", "aes", "devkit")
    assert info["original_pe_name"] == "wedge.exe"
    r = runner.invoke(cli, ["xex", "imports", "--json", str(out)])
    rows = json.loads(r.output)
    lib = theirs.imports().get(0)
    assert 2 * len(rows) == lib.record_count
    by_name = {row["name"]: row for row in rows}
    assert by_name["NtClose"]["x360k"] is True and by_name["NtClose"]["canary"] is True
    assert by_name["KeCancelTimer"]["canary"] is False
    assert {row["kind"] for row in rows} == {"function"}
    text = runner.invoke(cli, ["xex", "imports", str(out)]).output
    assert "NtClose" in text and "imports, 0 not implemented by x360k" in text


def test_a_corrupt_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xex"
    bad.write_bytes(packed("dup_signal")[:3000])
    r = CliRunner().invoke(cli, ["xex", "info", str(bad)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines == [f"{bad}: header size 0x1000 is past the end of the file, at offset 8"]


def test_run_a_xex(tmp_path: Path) -> None:
    path = tmp_path / "dup_signal.xex"
    path.write_bytes(packed("dup_signal", "basic"))
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 0, r.output
    assert "PASS" in r.output and "dup_signal" in r.output
