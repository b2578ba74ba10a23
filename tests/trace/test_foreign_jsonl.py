"""JSONL as other emulators write it: hex strings in integer fields, tids that are handles."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from tests.trace.conftest import plain
from x360k.cli.main import cli
from x360k.trace.columns import ARROW_SCHEMA, events_to_batch
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import make_sid
from x360k.trace.int_text import parse_int_text
from x360k.trace.readers import open_trace

FOREIGN = Path(__file__).parent / "fixtures" / "foreign-hex.jsonl"


def _typed_table(path: Path) -> pa.Table:
    events = list(open_trace(path).events())
    return pa.Table.from_batches([events_to_batch(events)], schema=ARROW_SCHEMA)


def test_hex_strings_and_handle_tids_read_as_integers_and_ordinals() -> None:
    reader = open_trace(FOREIGN)
    assert reader.format == "jsonl"
    got = list(reader.events())
    assert len(got) == 18
    assert {e.tid for e in got} == {0, 1}
    assert {(e.tid, e.raw_tid) for e in got} == {(0, 0xF8000008), (1, 0xF8000014)}
    first = got[0]
    assert first.ordinal == 0xD2 and first.ret_addr == 0x82001F3C
    assert got[2].handle == 0xF8000010 and got[2].sid == make_sid(0, 2)
    failed = next(e for e in got if e.kind == "kernel.return" and e.name == "NtOpenFile")
    assert failed.status == 0xC0000034
    assert got[1].args == ["0x7023FC40", "0x00000000", "0x00000001", "0x00000000"]
    # thread.create on the child's own thread, idx 0, with the sid of its handle
    child = next(e for e in got if e.kind == "thread.create")
    assert (child.tid, child.idx, child.sid, child.entry) == (1, 0, make_sid(0, 5), 0x82003A10)


def test_bulk_path_reads_the_same_as_the_typed_path() -> None:
    bulk = open_trace(FOREIGN).table()
    assert plain(bulk).equals(plain(_typed_table(FOREIGN)))
    batches = pa.Table.from_batches(list(open_trace(FOREIGN).batches()), schema=ARROW_SCHEMA)
    assert plain(batches).equals(plain(bulk))


def test_hex_strings_with_ordinal_tids_and_numbers_in_args(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [
        {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "args": [4160749584]},
        {"tid": "1", "idx": "0x0", "kind": "kernel.return", "status": "0Xc0000008", "ret": "12"},
        {"tid": 1, "idx": 1, "kind": "kernel.call", "name": "KeDelayExecutionThread", "args": [-1]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = list(open_trace(path).events())
    assert got[0].args == ["0xf8000010"] and got[0].raw_tid is None
    assert (got[1].tid, got[1].idx, got[1].status, got[1].ret) == (1, 0, 0xC0000008, 12)
    assert got[2].args == ["0xffffffff"]
    assert plain(open_trace(path).table()).equals(plain(_typed_table(path)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"0xZZ"', "field status: '0xZZ' is neither an integer nor 0x-prefixed hex"),
        ('"1.5"', "field status: '1.5' is neither an integer nor 0x-prefixed hex"),
        ('"0x1FFFFFFFF"', "field status: '0x1FFFFFFFF' is out of range (0..4294967295)"),
        ('""', "field status: '' is neither an integer nor 0x-prefixed hex"),
    ],
)
def test_a_value_that_is_no_integer_is_one_error_naming_line_and_field(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    lines = FOREIGN.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"0x00000000"', value)
    path.write_text("".join(lines))
    with pytest.raises(TraceFormatError) as info:
        list(open_trace(path).events())
    assert str(info.value) == f"{path}:4: {message}"
    with pytest.raises(TraceFormatError) as bulk:
        open_trace(path).table()
    assert str(bulk.value) == f"{path}:4: {message}"
    lenient = open_trace(path, lenient=True)
    assert len(list(lenient.events())) == 17 and lenient.report.bad_lines == 1


def test_a_file_numbers_its_threads_one_way(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"tid": 0, "idx": 0, "kind": "marker"}\n'
        '{"tid": "0xF8000010", "idx": 0, "kind": "marker"}\n'
    )
    with pytest.raises(TraceFormatError, match=r"mixed.jsonl:2: field tid: '0xF8000010' is not a"):
        list(open_trace(path).events())


def test_parse_int_text() -> None:
    assert parse_int_text("0xC0000008") == 0xC0000008
    assert parse_int_text("0Xc0000008") == 0xC0000008
    assert parse_int_text("-12") == -12
    for bad in ("", "0x", " 12", "1_000", "-0x5", "0b1", "12.0", "true"):
        with pytest.raises(ValueError, match="neither an integer"):
            parse_int_text(bad)


def test_every_trace_command_reads_the_foreign_file(tmp_path: Path) -> None:
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    shown = runner.invoke(cli, ["trace", "show", str(FOREIGN), "--tid", "0", "--range", "8:9"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.split()[:3] == ["[8]", "kernel.return", "NtOpenFile"]
    assert "status=0xc0000034" in shown.output and "raw_tid=0xf8000008" in shown.output
    stats = runner.invoke(cli, ["trace", "stats", "--json", str(FOREIGN)])
    assert stats.exit_code == 0, stats.output
    summary = json.loads(stats.output)
    assert summary["events"] == 18 and len(summary["threads"]) == 2
    query = "select tid, status from events where name = 'NtOpenFile' and kind = 'kernel.return'"
    sql = runner.invoke(cli, ["trace", "sql", query, str(FOREIGN)])
    assert sql.exit_code == 0, sql.output
    assert sql.output.splitlines() == ["tid\tstatus", f"0\t{0xC0000034}"]
    out = tmp_path / "t.parquet"
    converted = runner.invoke(cli, ["trace", "convert", str(FOREIGN), str(out)])
    assert converted.exit_code == 0 and "18 events" in converted.output, converted.output
    assert plain(open_trace(out).table()).equals(
        plain(_typed_table(FOREIGN).sort_by([("tid", "ascending"), ("idx", "ascending")]))
    )
    perfetto = tmp_path / "p.json"
    exported = runner.invoke(cli, ["trace", "export", str(FOREIGN), "--perfetto", str(perfetto)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(perfetto.read_text())["traceEvents"]


def test_commands_give_one_line_for_a_bad_hex_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = FOREIGN.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"0xF8000010"', '"handle 16"')
    path.write_text("".join(lines))
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    for args in (["show", str(path)], ["stats", str(path)], ["sql", "select 1", str(path)]):
        result = runner.invoke(cli, ["trace", *args])
        assert result.exit_code == 2, (args, result.output)
        want = f"x360k trace {args[0]}: {path}:3: field handle: "
        assert result.output.strip().splitlines()[-1].startswith(want), result.output


def _after_a_call(tmp_path: Path, fields: str) -> Path:
    """bad.jsonl: an NtClose call on line 1, then an event of tid 0, idx 1 and ``fields``."""
    path = tmp_path / "bad.jsonl"
    first = '{"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "args": ["0x10"]}'
    path.write_text(f'{first}\n{{"tid": 0, "idx": 1, {fields}}}\n')
    return path


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [("status", "1.5", "float"), ("ret", "true", "bool"), ("handle", "2.0", "float")],
)
def test_bulk_path_refuses_floats_and_booleans_in_integer_fields(
    tmp_path: Path, field: str, value: str, kind: str
) -> None:
    """DuckDB alone would read 1.5 as 2 and true as 1; every command names the line instead."""
    returned = f'"kind": "kernel.return", "name": "NtClose", "{field}": {value}'
    path = _after_a_call(tmp_path, returned)
    with pytest.raises(TraceFormatError, match=rf"bad.jsonl:2: .*got `{kind}` - at `\$.{field}`"):
        open_trace(path).table()
    with pytest.raises(TraceFormatError, match=r"bad.jsonl:2: "):
        list(open_trace(path).batches())
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    for args in (["sql", "select * from events", str(path)], ["stats", str(path)]):
        result = runner.invoke(cli, ["trace", *args])
        assert result.exit_code == 2, (args, result.output)
        last = result.output.strip().splitlines()
        assert len(last) == 1 and last[0].startswith(f"x360k trace {args[0]}: {path}:2: "), last


@pytest.mark.parametrize("with_header", [True, False])
def test_a_utf8_byte_order_mark_is_read_past(tmp_path: Path, with_header: bool) -> None:
    """PowerShell and .NET write UTF-8 with a BOM: the file reads as without it, everywhere."""
    lines = [
        '{"format":"x360k-trace","schema_version":1,"emulator":"other"}',
        '{"tid":0,"idx":0,"kind":"kernel.call","name":"NtClose","args":["0xF8000010"]}',
        '{"tid":0,"idx":1,"kind":"kernel.return","name":"NtClose","status":"0xC0000008"}',
    ]
    body = "\n".join(lines if with_header else lines[1:]) + "\n"
    plain_file = tmp_path / "plain.jsonl"
    plain_file.write_text(body)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert open_trace(bom).table().to_pylist() == open_trace(plain_file).table().to_pylist()
    assert [e.status for e in open_trace(bom).events()] == [None, 0xC0000008]
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", str(plain_file), str(bom)])
    assert res.exit_code == 0, res.output
    assert "verdict: MATCH" in res.output
    assert runner.invoke(cli, ["trace", "stats", str(bom)]).exit_code == 0


def _signed_rows() -> list[dict[str, object]]:
    """Unsigned fields written signed, as C prints NTSTATUS (a LONG) and pseudo-handles."""
    return [
        {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtWaitForSingleObjectEx"},
        {"tid": 0, "idx": 1, "kind": "kernel.return", "status": -1073741816, "ret": 7},
        {"tid": 0, "idx": 2, "kind": "handle.create", "handle": -2},
        {"tid": 0, "idx": 3, "kind": "kernel.return", "status": "-1", "handle": "-2147483648"},
    ]


def test_signed_values_of_unsigned_fields_read_as_their_twos_complement(tmp_path: Path) -> None:
    path = tmp_path / "signed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _signed_rows()))
    got = list(open_trace(path).events())
    assert (got[1].status, got[1].ret) == (0xC0000008, 7)
    assert got[2].handle == 0xFFFFFFFE
    assert (got[3].status, got[3].handle) == (0xFFFFFFFF, 0x80000000)
    bulk = open_trace(path).table()
    assert plain(bulk).equals(plain(_typed_table(path)))
    batches = pa.Table.from_batches(list(open_trace(path).batches()), schema=ARROW_SCHEMA)
    assert plain(batches).equals(plain(bulk))


@pytest.mark.parametrize(
    ("field", "value", "low_high"),
    [
        ("status", -(1 << 31) - 1, "0..4294967295"),
        ("handle", "-2147483649", "0..4294967295"),
        ("ret", -1, "0..18446744073709551615"),  # only status and handle are written signed
        ("ordinal", -5, "0..4294967295"),
        ("ret_addr", "-2", "0..4294967295"),
    ],
)
def test_a_negative_value_below_the_signed_range_is_still_out_of_range(
    tmp_path: Path, field: str, value: object, low_high: str
) -> None:
    path = tmp_path / "low.jsonl"
    rows = [{"tid": 0, "idx": 0, "kind": "kernel.return", field: value}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for read in (lambda: list(open_trace(path).events()), lambda: open_trace(path).table()):
        with pytest.raises(TraceFormatError, match=rf"low.jsonl:1: field {field}: .*{low_high}"):
            read()


def test_the_bulk_query_itself_reads_signed_values(tmp_path: Path) -> None:
    """Not by falling back to the typed path line by line: DuckDB's cast does it."""
    import duckdb

    from x360k.trace.columns import SIGNED_WRITTEN
    from x360k.trace.int_text import strict_read_json

    path = tmp_path / "signed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _signed_rows()))
    columns = {"idx": "BIGINT", "status": "UINTEGER", "ret": "UBIGINT", "handle": "UBIGINT"}
    query = strict_read_json(columns, "?", SIGNED_WRITTEN)
    rows = duckdb.connect().sql(query, params=[str(path)]).fetchall()
    assert rows == [
        (0, None, None, None),
        (1, 0xC0000008, 7, None),
        (2, None, None, 0xFFFFFFFE),  # the field's width (u32), not the column's (UBIGINT)
        (3, 0xFFFFFFFF, None, 0x80000000),
    ]
    with pytest.raises(duckdb.Error):
        duckdb.connect().sql(strict_read_json(columns, "?"), params=[str(path)]).fetchall()


@pytest.mark.parametrize(
    ("item", "got"),
    [('{"v": "0x10"}', "object"), ("true", "bool"), ("1.5", "float"), ("null", "null")],
)
def test_an_args_item_that_is_no_string_or_integer_is_refused_on_every_path(
    tmp_path: Path, item: str, got: str
) -> None:
    """DuckDB alone would read it as its JSON text; the typed path names it, for every command."""
    path = _after_a_call(tmp_path, f'"kind": "kernel.call", "name": "NtClose", "args": [{item}]')
    for read in (
        lambda: list(open_trace(path).events()),
        lambda: open_trace(path).table(),
        lambda: list(open_trace(path).batches()),
    ):
        with pytest.raises(TraceFormatError, match=rf"bad.jsonl:2: .*got `{got}`"):
            read()
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    for args in (["trace", "stats", str(path)], ["diff", str(path), str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{path}:2: " in result.output.strip().splitlines()[-1], result.output


def test_strings_that_look_like_other_json_values_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    row = {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "X", "args": ["true", "{", "12"]}
    path.write_text(json.dumps(row) + "\n")
    assert next(iter(open_trace(path).events())).args == ["true", "{", "12"]
    assert open_trace(path).table().column("args").to_pylist() == [["true", "{", "12"]]


@pytest.mark.parametrize("indent", [None, 2])
def test_a_json_array_of_events_is_told_how_to_become_json_lines(
    tmp_path: Path, indent: int | None
) -> None:
    path = tmp_path / "events.json"
    rows = [{"tid": 0, "idx": i, "kind": "marker", "text": "x"} for i in range(3)]
    path.write_text(json.dumps(rows, indent=indent))
    with pytest.raises(TraceFormatError, match=r"events.json:1: a JSON array of events"):
        list(open_trace(path).events())
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    for args in (["trace", "stats", str(path)], ["diff", str(path), str(path)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "jq -c '.[]'" in result.output.strip().splitlines()[-1], result.output
