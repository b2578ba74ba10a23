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
    # The linker keeps only the stubs wedge calls, so its import table is exactly these.
    assert set(by_name) == {"ExCreateThread", "NtCreateEvent", "NtDuplicateObject",
                            "NtSetEvent", "NtWaitForSingleObjectEx"}  # fmt: skip
    assert by_name["NtSetEvent"]["x360k"] is True
    assert by_name["NtSetEvent"]["canary"] == "implemented"
    assert {row["kind"] for row in rows} == {"function"}
    text = runner.invoke(cli, ["xex", "imports", str(out)]).output
    assert "NtSetEvent" in text and "5 imports, 0 not implemented by x360k" in text


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


def test_canary_table_agrees_with_the_reference_list() -> None:
    from x360k.exports.reference_list import REFERENCE_EXPORTS, TABLE_CHECKED
    from x360k.xex.import_names import describe

    for ref in (*REFERENCE_EXPORTS, *TABLE_CHECKED):
        info = describe("xboxkrnl.exe", ref.ordinal)
        assert info.name == ref.name
        assert (info.canary != "absent") == ref.canary, ref.name
    assert describe("xam.xex", 464).name == "XamSetCurrentTitleDash"
    assert describe("xbdm.xex", 1).name == "DmAllocatePool"
    assert describe("xbdm.xex", 1).canary == "implemented"
    assert describe("xgraphics.xex", 1).canary is None


def test_run_a_xex_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "default.bin"
    path.write_bytes(packed("wedge", "lzx"))
    r = CliRunner().invoke(cli, ["run", str(path)])
    assert r.exit_code == 0, r.output
    assert "wedge" in r.output


def test_info_shows_resources_tls_and_stack_as_xex2_reads_them(tmp_path: Path) -> None:
    import struct

    from x360k.xex.headers import RESOURCE_INFO
    from x360k.xex.reader import read_xex
    from x360k.xex.writer import XexSpec, build_xex

    xex = read_xex(packed("compute"))
    resources = struct.pack(">I8sII", 20, b"5833364B", xex.base + 0x100, 0x40)
    spec = XexSpec(bytes(xex.image), xex.base, xex.entry, tls=(8, xex.base + 0x100, 16, 16),
                   stack_size=0x40000, extra_headers={RESOURCE_INFO: resources})  # fmt: skip
    path = tmp_path / "res.xex"
    path.write_bytes(build_xex(spec))
    theirs = xex2.Xex2.parse(path.read_bytes())
    info = json.loads(CliRunner().invoke(cli, ["xex", "info", "--json", str(path)]).output)
    res = theirs.resources()
    assert res.len == len(info["resources"]) == 1
    assert (res.get(0).name, res.get(0).address, res.get(0).size) == tuple(
        info["resources"][0][k] for k in ("name", "address", "size")
    )
    assert info["tls"] == {"slot_count": 8, "raw_data_address": xex.base + 0x100,
                           "data_size": 16, "raw_data_size": 16}  # fmt: skip
    assert info["default_stack_size"] == 0x40000
    # xex2 0.4.0 finds no default stack (or heap, or cache) size header under canary's key
    # 0x00020200 (nor 0x00020201), though it counts the header; pinned so a fix shows here.
    with pytest.raises(RuntimeError, match="no DefaultStackSize optional header"):
        _ = theirs.default_stack_size
    text = CliRunner().invoke(cli, ["xex", "info", str(path)]).output
    assert "resource 5833364B" in text and "8 slots" in text


def test_pack_never_writes_over_the_elf_it_packs(tmp_path: Path) -> None:
    elf = tmp_path / "title.xex"  # an ELF named .xex: the default target is the file itself
    elf.write_bytes((GUESTS / "wedge.elf").read_bytes())
    before = elf.read_bytes()
    runner = CliRunner()
    for args in (["xex", "pack", str(elf)], ["xex", "pack", str(elf), "-o", str(elf)]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 2
        assert "is the ELF being packed; pack never writes over its input" in r.stderr
    assert elf.read_bytes() == before
