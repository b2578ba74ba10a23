"""Values a file cannot hold in schema v1 are one error line naming file and line (or event).

Out-of-range integers decoded fine into Python ints and failed later, deep in
Arrow, as a traceback; invalid UTF-8 went through Arrow's JSON reader and broke
the diff's dictionary pass. Each must be refused where it is, by every command.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from benchmarks.gen_trace import generate
from click.testing import CliRunner

from x360k.cli.main import cli

GOOD = [
    b'{"tid":0,"idx":0,"kind":"kernel.call","name":"NtClose","ordinal":25,"args":["0x1"]}',
    b'{"tid":0,"idx":1,"kind":"kernel.return","name":"NtClose","ordinal":25,"status":0}',
    b'{"tid":0,"idx":2,"kind":"kernel.call","name":"NtClose","ordinal":25,"args":["0x2"]}',
    b'{"tid":0,"idx":3,"kind":"kernel.return","name":"NtClose","ordinal":25,"ret":7}',
]

COMMANDS = (
    ["trace", "show"],
    ["trace", "stats"],
    ["trace", "sql", "select count(*) from events"],
    ["diff", "REF"],
)


def _run(args: list[str], path: Path, ref: Path, tmp_path: Path) -> tuple[int, str]:
    argv = [str(ref) if a == "REF" else a for a in args] + [str(path)]
    res = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")}).invoke(cli, argv)
    return res.exit_code, res.stderr


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (b'"ordinal":25', b'"ordinal":-5', "field ordinal: -5 is out of range (0..4294967295)"),
        (b'"ordinal":25', b'"ordinal":4294967296', "field ordinal: 4294967296 is out of range"),
        (b'"ret":7', b'"ret":18446744073709551616', "field ret: 18446744073709551616 is out"),
        (b'"idx":3', b'"idx":-3', "tid and idx must not be negative"),
        (b'"name":"NtClose"', b'"name":"Nt\xe9Close"', "Invalid UTF-8"),
    ],
)
def test_a_bad_value_in_jsonl_is_named_by_line(
    tmp_path: Path, old: bytes, new: bytes, why: str
) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_bytes(b"\n".join(GOOD) + b"\n")
    bad = tmp_path / "bad.jsonl"
    line = 3 if old.startswith(b'"ordinal"') or old.startswith(b'"name"') else 4
    lines = list(GOOD)
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    assert lines[line - 1] != GOOD[line - 1]
    bad.write_bytes(b"\n".join(lines) + b"\n")
    for args in COMMANDS:
        code, err = _run(args, bad, ref, tmp_path)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert f"bad.jsonl:{line}:" in err and why in err, (args, err)


def test_invalid_utf8_in_a_large_file_is_named_by_line(tmp_path: Path) -> None:
    """Past the small-file path, DuckDB reads the file: its error becomes ours, line right."""
    ref = generate(40_000, 1, tmp_path / "ref.jsonl", "jsonl")
    lines = ref.read_bytes().split(b"\n")
    at = len(lines) // 2
    lines[at] = lines[at].replace(b'"kind":"', b'"name":"\xe9","kind":"', 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines))
    assert bad.stat().st_size > 4 << 20
    for args in (["trace", "stats"], ["diff", "REF"]):
        code, err = _run(args, bad, ref, tmp_path)
        assert code == 2 and err.count("\n") == 1, (args, err)
        assert f"bad.jsonl:{at + 1}: not a trace event: Invalid UTF-8" in err, (args, err)


def test_an_out_of_range_value_in_foreign_parquet_names_the_event(tmp_path: Path) -> None:
    rows = [
        {"tid": 0, "idx": i, "kind": "kernel.call", "name": "NtClose", "ordinal": 25}
        for i in range(6)
    ]
    ref = tmp_path / "ref.parquet"
    pq.write_table(pa.Table.from_pylist(rows), ref)
    rows[4]["ordinal"] = -5
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows), bad)
    for args in (["trace", "show"], ["diff", "REF"]):
        code, err = _run(args, bad, ref, tmp_path)
        assert code == 2 and err.count("\n") == 1, (args, err)
        assert "bad.parquet: event 4: field ordinal: -5 does not fit schema v1's uint32" in err


def test_two_traces_in_one_file_are_named_as_such(tmp_path: Path) -> None:
    header = b'{"format":"x360k-trace","schema_version":1,"emulator":"x"}'
    one = tmp_path / "one.jsonl"
    one.write_bytes(b"\n".join([header, *GOOD]) + b"\n")
    both = tmp_path / "both.jsonl"
    both.write_bytes(one.read_bytes() * 2)
    for args in COMMANDS:
        code, err = _run(args, both, one, tmp_path)
        assert code == 2, (args, err)
        assert "both.jsonl:6: a second trace header: two traces in one file" in err, (args, err)
