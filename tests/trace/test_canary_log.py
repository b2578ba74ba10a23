"""Canary's own log, in fixtures written the way canary's logger and export shims write it."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
from click.testing import CliRunner

from tests.trace.conftest import plain
from x360k.cli.main import cli
from x360k.trace.canary_args import parse_args, split_args
from x360k.trace.canary_log import (
    CANARY_EXPORTS,
    HIGH_FREQUENCY_EXPORTS,
    CanaryLogReader,
)
from x360k.trace.columns import ARROW_SCHEMA, events_to_batch
from x360k.trace.readers import open_trace

FIXTURES = Path(__file__).parent / "fixtures"
DEBUG_LOG = FIXTURES / "canary.log"


def test_calls_are_export_lines_at_level_i_or_d() -> None:
    reader = open_trace(DEBUG_LOG)
    assert reader.format == "canary-log"
    got = list(reader.events())
    assert [(e.tid, e.idx, e.name) for e in got] == [
        (0, 0, "RtlInitializeCriticalSection"),
        (0, 1, "NtAllocateVirtualMemory"),
        (0, 2, "ExGetXConfigSetting"),
        (0, 3, "NtCreateEvent"),
        (0, 4, "ExCreateThread"),
        (1, 0, "RtlInitAnsiString"),
        (0, 5, "NtCreateFile"),
        (0, 6, "VdInitializeRingBuffer"),
        (0, 7, "NetDll_shutdown"),
        (1, 1, "XamUserGetXUID"),
        (1, 2, "XGetAVPack"),
        (1, 3, "ObDereferenceObject"),
        (0, 8, "NtClose"),
        (0, 9, "DbgBreakPoint"),
    ]
    # w> / !> lines, handler messages (XamApp, SetThreadName, sprintf) and xam app
    # messages (XMPStop) are not calls
    assert reader.report.ignored_lines == 27 - 14
    assert "4 call-shaped line(s) name no export canary declares" in reader.report.summary()
    assert {(e.tid, e.raw_tid) for e in got} == {(0, 0xF8000008), (1, 0xF800000C)}


def test_module_and_ordinal_come_from_canarys_tables() -> None:
    got = {e.name: e for e in open_trace(DEBUG_LOG).events()}
    assert (got["NtClose"].module, got["NtClose"].ordinal) == ("xboxkrnl", 0xCF)
    for name in ("XamUserGetXUID", "XGetAVPack", "NetDll_shutdown"):
        assert got[name].module == "xam", name
    assert got["XamUserGetXUID"].ordinal == 522


def test_arguments_are_normalised_by_their_printed_type() -> None:
    got = {e.name: e for e in open_trace(DEBUG_LOG).events()}
    # word_t prints four hex digits
    assert got["ExGetXConfigSetting"].args == [
        "0x00000003",
        "0x0000000a",
        "0x7005fb30",
        "0x00000004",
        "0x7005fb34(00000000)",
    ]
    # int_t prints signed decimal: 32-bit two's complement; 1000 is decimal, not word_t hex
    assert got["VdInitializeRingBuffer"].args == ["0x1ffff000", "0xfffffff4"]
    assert got["NetDll_shutdown"].args == ["0x00000001", "0x00000040", "0x000003e8"]
    # the PPC context is no guest argument
    assert got["ObDereferenceObject"].args == ["0x828e5c00"]
    assert got["XGetAVPack"].args == []


def test_pointees_stay_after_their_argument_as_printed() -> None:
    got = {e.name: e for e in open_trace(DEBUG_LOG).events()}
    alloc = got["NtAllocateVirtualMemory"]
    assert alloc.args[:3] == ["0x7005fb44(00000000)", "0x7005fb48(00010000)", "0x00002000"]
    assert got["XamUserGetXUID"].args[2] == "0x7006fa40(0000000000000000)"
    assert got["RtlInitAnsiString"].args == [
        "0x7006fb80",
        "0x820140e4(\\Device\\Harddisk0\\Partition1)",
    ]
    assert all(e.text is None for e in got.values())
    header = open_trace(DEBUG_LOG).header
    assert header is not None and header.extra["pointees"] == "args"


def test_an_unbalanced_parenthesis_in_a_name_does_not_stop_the_read() -> None:
    got = {e.name: e for e in open_trace(DEBUG_LOG).events()}
    create = got["NtCreateFile"]
    assert create.args == [
        "0x7005fa00(00000000)",
        "0x80100080",
        "0x7005fa10(00000000,game:\\Save (1,00000040)",
        "0x7005fa20",
        "0x00000000",
        "0x00000080",
        "0x00000007",
        "0x00000001",
        "0x00000060",
    ]
    assert "NtClose" in got  # lines after it are read


def test_split_args_handles_pointees_with_separators() -> None:
    assert split_args("7005FB00(82001000, 00000000), 00000001") == [
        ("7005FB00", "82001000, 00000000"),
        ("00000001", None),
    ]
    assert split_args("820140E4(a(b), 00000001") == [("820140E4", "a(b"), ("00000001", None)]
    assert split_args("820140E4(Hello, world)") == [("820140E4", "Hello, world")]
    assert parse_args("X", "7005FA90(1.5), 1.5") == ["0x7005fa90(1.5)", "1.5"]


def test_high_frequency_list_is_canarys_whole_set() -> None:
    assert len(HIGH_FREQUENCY_EXPORTS) == 72
    xma = {n for n in HIGH_FREQUENCY_EXPORTS if n.startswith(("XMA", "XAudio"))}
    assert len(xma) == 23
    for name in ("XamInputGetState", "XNotifyGetNext", "KeSetEvent", "NtWaitForSingleObjectEx"):
        assert name in HIGH_FREQUENCY_EXPORTS
    assert CANARY_EXPORTS["XamInputGetState"].module == "xam"
    header = open_trace(DEBUG_LOG).header
    assert header is not None
    assert set(header.masked_exports) == HIGH_FREQUENCY_EXPORTS
    assert header.recorded_kinds == ["kernel.call"] and header.recorded_exports is None


def test_high_frequency_calls_in_the_log_mean_they_were_logged() -> None:
    path = FIXTURES / "canary-high-frequency.log"
    reader = open_trace(path)
    assert reader.header is not None and reader.header.masked_exports == []
    names = [e.name for e in reader.events()]
    assert "XamInputGetState" in names and "XMASetLoopData" in names
    told = CanaryLogReader(path, high_frequency_logged=False)
    assert told.header.masked_exports == sorted(HIGH_FREQUENCY_EXPORTS)


def test_a_log_without_calls_says_so() -> None:
    path = FIXTURES / "canary-default-level.log"
    reader = open_trace(path)
    assert reader.header is not None
    assert reader.header.recorded_kinds == []
    assert "kernel.call" in reader.header.masked_kinds
    assert reader.header.extra["calls"].startswith("none")
    assert list(reader.events()) == []
    assert "no kernel-call lines" in reader.report.summary()
    table = open_trace(path).table()
    assert table.num_rows == 0
    assert b'"recorded_kinds":[]' in (table.schema.metadata or {})[b"x360k.header"]


def test_an_info_level_log_records_only_important_exports(tmp_path: Path) -> None:
    path = tmp_path / "info.log"
    path.write_text(
        "i> 00001F40 Log level: 2\n"
        "i> F8000008 XThread::Execute thid 1 (handle=F8000008, 'XThread0000', native=00002A10)\n"
        "i> F8000008 DbgBreakPoint()\n"
    )
    reader = open_trace(path)
    assert [e.name for e in reader.events()] == ["DbgBreakPoint"]
    header = reader.header
    assert header is not None and header.recorded_exports is not None
    assert "DbgBreakPoint" in header.recorded_exports and "NtClose" not in header.recorded_exports


def test_table_matches_events_and_survives_a_torn_last_line(tmp_path: Path) -> None:
    events = list(open_trace(DEBUG_LOG).events())
    typed = pa.Table.from_batches([events_to_batch(events)], schema=ARROW_SCHEMA)
    assert plain(open_trace(DEBUG_LOG).table()).equals(plain(typed))
    torn = tmp_path / "torn.log"
    torn.write_bytes(DEBUG_LOG.read_bytes() + b"d> F8000008 NtCreateEvent(7005FB40(000")
    reader = open_trace(torn)
    assert len(list(reader.events())) == len(events)
    assert reader.report.partial_last_line


def test_trace_commands_read_the_log(tmp_path: Path) -> None:
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    shown = runner.invoke(cli, ["trace", "show", str(DEBUG_LOG), "--tid", "1"])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if line.startswith("[")]
    assert lines[1].startswith("[1] kernel.call XamUserGetXUID module=xam ordinal=522")
    query = "select module, count(*) as n from events group by module order by module"
    sql = runner.invoke(cli, ["trace", "sql", query, str(DEBUG_LOG)])
    assert sql.exit_code == 0, sql.output
    assert sql.output.splitlines() == ["module\tn", "xam\t3", "xboxkrnl\t11"]


def test_the_columnar_parse_agrees_with_parse_args_line_by_line(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = []
    for _ in range(400):
        args = []
        for _ in range(rng.randint(0, 6)):
            value = f"{rng.getrandbits(32):08X}"
            pick = rng.random()
            if pick < 0.3:
                value += f"({rng.getrandbits(32):08X})"
            elif pick < 0.4:
                value += f"({rng.getrandbits(64):016X})"
            elif pick < 0.45:
                value += '(\\Device\\Harddisk0\\Partition1, é")'
            elif pick < 0.5:
                value = f"{rng.getrandbits(16):04X}"
            elif pick < 0.55:
                value = str(rng.randint(-100, 100))
            args.append(value)
        lines.append(
            f"d> {0xF8000008 + 4 * rng.randint(0, 3):08X} NtCreateEvent({', '.join(args)})"
        )
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = list(CanaryLogReader(path).events())
    assert len(events) == len(lines)
    for line, event in zip(lines, events, strict=True):
        assert event.args == parse_args("NtCreateEvent", line[line.index("(") + 1 : -1]), line


def test_crlf_line_ends_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "windows.log"
    path.write_bytes(
        b"i> 00001F40 Log level: 3\r\n"
        b"d> F8000008 RtlInitAnsiString(7006FB80, 820140E4(caf\xe9 \xff))\r\n"
        b"d> F8000008 NtClose(F8000010)\r\n"
    )
    got = list(open_trace(path).events())
    assert [e.name for e in got] == ["RtlInitAnsiString", "NtClose"]
    assert got[1].args == ["0xf8000010"]
    assert got[0].args == ["0x7006fb80", "0x820140e4(caf\ufffd \ufffd)"]


def test_which_lines_are_calls_agrees_with_the_line_pattern(tmp_path: Path) -> None:
    """The numpy check of each line's fixed parts picks what ``_CALL_LINE`` matches."""
    import re

    call_line = re.compile(r"^[id]> [0-9A-Fa-f]{8} ([A-Za-z_][A-Za-z0-9_]*)\(.*\)\r?$")
    rng = random.Random(3)
    names = ["NtClose", "RtlInitAnsiString", "XamUserGetXUID", "NotAnExport", "_x1", "9bad", ""]
    variants = [
        "d> F8000008 {n}({a})",
        "i> 0000abcd {n}({a})",
        "w> F8000008 {n}({a})",
        "d> F800000G {n}({a})",
        "d>  F8000008 {n}({a})",
        "d> F8000008 {n} ({a})",
        "d> F8000008 {n}({a}",
        "d> F8000008 {n}({a}) ",
        "d> F8000008 {n}({a})\r",
        "d> F8000008 {n}({a})\r\r",
        "d> F8000008 {n}",
        "d> F8000008 {n})",
        "d> F8000008 GPU: {n}({a})",
        "d> F8000008 {n}é({a})",
        "d> F8000008 {n}(é{a})",
        "d> F8000008 {n}(({a}))",
        "d> F8000008 ()",
        "d> F8000008",
        "",
        "x",
    ]
    lines = []
    for _ in range(3000):
        args = ", ".join(f"{rng.getrandbits(32):08X}" for _ in range(rng.randint(0, 3)))
        lines.append(rng.choice(variants).format(n=rng.choice(names), a=args))
    path = tmp_path / "shapes.log"
    path.write_bytes("\n".join(lines).encode() + b"\n")
    reader = CanaryLogReader(path)
    got = [(e.raw_tid, e.name) for e in reader.events()]
    want, unknown = [], 0
    for line in lines:
        m = call_line.match(line)
        if m is None:
            continue
        if m[1] in CANARY_EXPORTS:
            want.append((int(line[3:11], 16), m[1]))
        else:
            unknown += 1
    assert got == want
    assert reader.report.ignored_lines == len(lines) - len(want)
    assert f"{unknown} call-shaped line(s) name no export" in reader.report.summary()
    table = CanaryLogReader(path).table()
    assert table.column("name").to_pylist() == [n for _, n in want]
