"""unknown_fields: the fields of another emulator's JSONL that no reader keeps."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.trace.extra_fields import SAMPLE_LINES, unknown_fields

_HEADER = '{"format":"x360k-trace","schema_version":1,"emulator":"other","extra_key":1}\n'


def _write(path: Path, rows: list[dict[str, object]], header: bool = True) -> Path:
    body = "".join(json.dumps(r) + "\r\n" for r in rows)
    path.write_text((_HEADER if header else "") + body, encoding="utf-8")
    return path


def test_fields_beyond_the_schema_are_named_in_first_seen_order(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "pc": "0x82000000"},
        {"tid": 0, "idx": 1, "kind": "kernel.return", "status": 0, "thread_name": "main"},
        {"tid": 0, "idx": 2, "kind": "marker", "text": "x", "pc": 1},
    ]
    # the header's own keys are no event's fields
    assert unknown_fields(_write(tmp_path / "t.jsonl", rows)) == (["pc", "thread_name"], 3)
    assert unknown_fields(_write(tmp_path / "n.jsonl", rows, header=False))[0] == [
        "pc",
        "thread_name",
    ]


def test_a_trace_of_schema_fields_only_has_none(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"tid": 0, "idx": i, "kind": "marker"} for i in range(5)]
    assert unknown_fields(_write(tmp_path / "t.jsonl", rows)) == ([], 5)


def test_the_sample_is_bounded_and_bad_lines_are_left_to_the_readers(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"tid": 0, "idx": i, "kind": "marker"} for i in range(SAMPLE_LINES)
    ]
    rows.append({"tid": 0, "idx": SAMPLE_LINES, "kind": "marker", "late": 1})
    path = _write(tmp_path / "t.jsonl", rows)
    assert unknown_fields(path) == ([], SAMPLE_LINES)
    path.write_text('not json\n{"tid": 0, "idx": 0, "kind": "marker", "pc": 2}\n')
    assert unknown_fields(path) == (["pc"], 1)


def test_the_diff_says_which_fields_it_did_not_compare(tmp_path: Path) -> None:
    ours = [{"tid": 0, "idx": 0, "kind": "kernel.call", "name": "NtClose", "args": ["0x10"]}]
    theirs = [dict(ours[0], pc="0x82000000")]
    ref, cand = _write(tmp_path / "r.jsonl", ours), _write(tmp_path / "c.jsonl", theirs)
    runner = CliRunner(env={"X360K_CACHE": str(tmp_path / "cache")})
    result = runner.invoke(cli, ["diff", str(ref), str(cand)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "not in the trace schema" in line]
    assert notes == [
        f"note: candidate {cand}: fields not in the trace schema, not compared: pc "
        "(seen in the first 1 event)"
    ]
    as_json = runner.invoke(cli, ["diff", "--json", str(ref), str(cand)])
    assert "fields not in the trace schema, not compared: pc" in as_json.output
