"""``x360k exports`` against the registry and the reference's ordinal list."""

from __future__ import annotations

import json

from click.testing import CliRunner

from x360k.cli.main import cli
from x360k.exports.reference_list import KNOWN_ORDINALS, REFERENCE_EXPORTS
from x360k.exports.table import all_exports


def rows() -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["exports", "--json"])
    assert result.exit_code == 0
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def test_every_implemented_export_and_every_reference_export_is_listed() -> None:
    by_name = {r["name"]: r for r in rows()}
    for ex in all_exports():
        row = by_name[ex.name]
        assert row["ordinal"] == ex.ordinal
        assert row["state"] == ex.completeness.value
        assert len(row["params"]) == len(ex.params)  # type: ignore[arg-type]
    implemented = {ex.name for ex in all_exports()}
    for ref in REFERENCE_EXPORTS:
        row = by_name[ref.name]
        assert row["ordinal"] == ref.ordinal
        if ref.name not in implemented and not ref.variable:
            assert row["state"] == "absent"
    assert by_name["NtDuplicateObject"]["params"] == [
        "source_handle:handle",
        "target_handle:out_handle?",
        "options:u32",
    ]


def test_declared_ordinals_agree_with_the_checked_table() -> None:
    for ex in all_exports():
        if ex.name in KNOWN_ORDINALS:
            assert ex.ordinal == KNOWN_ORDINALS[ex.name], ex.name


def test_reference_list_has_unique_names_and_ordinals() -> None:
    assert len({r.name for r in REFERENCE_EXPORTS}) == len(REFERENCE_EXPORTS)
    assert len({r.ordinal for r in REFERENCE_EXPORTS}) == len(REFERENCE_EXPORTS)


def test_state_filter_and_text_table() -> None:
    absent = CliRunner().invoke(cli, ["exports", "--json", "--state", "absent"])
    assert {r["state"] for r in json.loads(absent.stdout)} <= {"absent"}
    text = CliRunner().invoke(cli, ["exports", "--name", "duplicate"])
    assert text.exit_code == 0
    assert "NtDuplicateObject" in text.stdout and "0x0DA" in text.stdout


def test_piped_output_is_one_row_per_line() -> None:
    """Piped (not a terminal), no row is folded at 80 columns and no line ends in spaces."""
    from click.testing import CliRunner

    from x360k.cli.exports import command as exports_command
    from x360k.cli.exports import export_rows

    result = CliRunner().invoke(exports_command, [])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    rows = export_rows()
    assert len(lines) == len(rows) + 2  # header, one line per export, the total
    assert any(len(line) > 80 for line in lines)
    assert all(line == line.rstrip() for line in lines)
    for row, line in zip(rows, lines[1:], strict=False):
        assert row.name in line


def test_every_export_canary_registers_is_a_row_with_canary_support() -> None:
    from x360k import canary_exports

    by_name = {r["name"]: r for r in rows()}
    registered = canary_exports.kernel_registered()
    # 267 declared functions (one of them, KeSaveFloatingPointState, inside `#if 0`, so not
    # compiled), 10 string shims, 24 variables
    assert len(registered) == 300
    implemented = {ex.name for ex in all_exports()}
    for entry in registered:
        row = by_name[entry.name]
        assert row["ordinal"] == entry.ordinal
        assert row["canary"] == entry.support
        assert row["kind"] == entry.kind
        if entry.name not in implemented and entry.kind == "function":
            assert row["state"] == "absent"
    # Reference exports canary leaves unimplemented stay listed, marked so.
    assert by_name["RtlUnwind"]["canary_implements"] is False


def test_summary_counts_canarys_set_per_subsystem() -> None:
    result = CliRunner().invoke(cli, ["exports", "--summary", "--json"])
    assert result.exit_code == 0
    subsystems = json.loads(result.stdout)
    assert sum(s["canary"] for s in subsystems) == 300
    for s in subsystems:
        assert s["complete"] + s["partial"] + s["absent"] == s["canary"]
    by_name = {s["subsystem"]: s for s in subsystems}
    listed = [r for r in rows() if r["subsystem"] == "threading" and r["canary"] != "absent"]
    assert by_name["threading"]["canary"] == len(listed)
    assert by_name["threading"]["complete"] == sum(r["state"] == "complete" for r in listed)
    text = CliRunner().invoke(cli, ["exports", "--summary"])
    assert "canary registers 300 of these exports" in text.stdout


def test_the_table_generator_drops_what_if_0_switches_off() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "gen_canary_exports.py"
    spec = importlib.util.spec_from_file_location("gen_canary_exports", path)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    source = "\n".join([
        "A", "#if 0", "B", "#if X", "C", "#endif", "#else", "D", "#endif",
        "#ifdef WIN", "E", "#else", "F", "#endif", "#if 0 // off", "G", "#endif", "H",
    ])  # fmt: skip
    assert gen.live_source(source).split("\n") == ["A", "D", "E", "F", "H"]


def test_every_export_canary_registers_is_complete() -> None:
    """Issue 13's bar: nothing canary answers is absent or partial in x360k."""
    missing = [
        (r["name"], r["state"])
        for r in rows()
        if r["canary"] != "absent" and r["state"] != "complete"
    ]
    assert missing == []
    text = CliRunner().invoke(cli, ["exports", "--summary"]).stdout
    assert "x360k has 300 complete" in text
