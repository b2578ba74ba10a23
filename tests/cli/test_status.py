"""``x360k status``: NTSTATUS names to values and back."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from x360k.cli.main import cli


@pytest.mark.parametrize(
    ("query", "hex_value", "name"),
    [
        ("STATUS_INVALID_HANDLE", "0xC0000008", "STATUS_INVALID_HANDLE"),
        ("invalid_handle", "0xC0000008", "STATUS_INVALID_HANDLE"),
        ("0xc0000008", "0xC0000008", "STATUS_INVALID_HANDLE"),
        ("0xFFFFFFFFC0000008", "0xC0000008", "STATUS_INVALID_HANDLE"),
        ("258", "0x00000102", "STATUS_TIMEOUT"),
        ("WAIT_3", "0x00000003", "STATUS_WAIT_3"),
        ("0x81", "0x00000081", "STATUS_ABANDONED_WAIT_1"),
        ("STATUS_OBJECT_NAME_EXISTS", "0x40000000", "STATUS_OBJECT_NAME_EXISTS"),
    ],
)
def test_lookup_both_ways(query: str, hex_value: str, name: str) -> None:
    result = CliRunner().invoke(cli, ["status", "--json", query])
    assert result.exit_code == 0
    (answer,) = json.loads(result.stdout)
    assert (answer["hex"], answer["name"]) == (hex_value, name)


def test_severity_and_aliases() -> None:
    result = CliRunner().invoke(cli, ["status", "--json", "0", "0x40000000", "0x80000005"])
    answers = json.loads(result.stdout)
    assert answers[0]["aliases"] == ["STATUS_WAIT_0"] and answers[0]["nt_success"]
    assert answers[1]["severity"] == "informational" and answers[1]["nt_success"]
    assert answers[2]["severity"] == "warning" and not answers[2]["nt_success"]


def test_unknown_name_exits_2_with_a_suggestion() -> None:
    result = CliRunner().invoke(cli, ["status", "STATUS_INVALID_HANDEL"])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "x360k status: 'STATUS_INVALID_HANDEL' is not an NTSTATUS name or number; "
        "did you mean STATUS_INVALID_HANDLE"
    )


def test_text_output_and_list() -> None:
    result = CliRunner().invoke(cli, ["status", "0x102"])
    assert result.stdout.split()[:2] == ["0x00000102", "STATUS_TIMEOUT"]
    listed = CliRunner().invoke(cli, ["status", "--list"])
    assert listed.exit_code == 0 and "STATUS_MUTANT_NOT_OWNED" in listed.stdout
