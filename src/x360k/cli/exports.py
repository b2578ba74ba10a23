"""``x360k exports``: which xboxkrnl exports x360k implements, next to the reference's list.

Each row is one export: implemented ones with their declared parameters and
whether the handler is complete or partial; exports the reference covers
that x360k lacks are listed as absent, so the table doubles as a to-do list.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.exports.reference_list import BY_NAME, REFERENCE_EXPORTS
from x360k.exports.registry import Registry
from x360k.exports.table import all_exports

STATES = ("complete", "partial", "absent")


class ExportRow(msgspec.Struct, kw_only=True):
    ordinal: int
    name: str
    state: str
    params: list[str]
    returns: str
    #: "function" or "variable".
    kind: str = "function"
    area: str = ""
    in_reference: bool = True
    #: False when the reference says canary itself leaves it unimplemented.
    canary_implements: bool = True
    doc: str = ""


def export_rows() -> list[ExportRow]:
    """Every implemented export and every reference export, by ordinal."""
    registry = Registry(all_exports())
    rows: dict[str, ExportRow] = {}
    for ex in registry:
        ref = BY_NAME.get(ex.name)
        rows[ex.name] = ExportRow(
            ordinal=ex.ordinal,
            name=ex.name,
            state=ex.completeness.value,
            params=[f"{p.name}:{p.kind.value}{'?' if p.optional else ''}" for p in ex.params],
            returns=ex.returns.value,
            area=ref.area if ref else "",
            in_reference=ref is not None,
            canary_implements=ref.canary if ref else True,
            doc=ex.doc,
        )
    for name, (ordinal, type_name) in OBJECT_TYPE_EXPORTS.items():
        rows[name] = ExportRow(
            ordinal=ordinal,
            name=name,
            state="complete",
            params=[],
            returns="",
            kind="variable",
            area="object types",
            in_reference=name in BY_NAME,
            doc=f"the {type_name} object type",
        )
    for ref in REFERENCE_EXPORTS:
        if ref.name not in rows:
            rows[ref.name] = ExportRow(
                ordinal=ref.ordinal,
                name=ref.name,
                state="absent",
                params=[],
                returns="",
                kind="variable" if ref.variable else "function",
                area=ref.area,
                canary_implements=ref.canary,
            )
    return sorted(rows.values(), key=lambda r: r.ordinal)


#: Width given to the table when stdout is not a terminal: wide enough that no row wraps.
PIPE_WIDTH = 1000


def _console() -> Console:
    """A terminal-wide console, or, when piped, one row per line with no trailing spaces.

    Piped output is for grep, cut and sort: a row folded at 80 columns would
    split one export over several lines.
    """
    if sys.stdout.isatty():
        return Console(highlight=False)
    stream: Any = _Stripped(sys.stdout)
    return Console(highlight=False, width=PIPE_WIDTH, file=stream)


class _Stripped:
    """A text stream that drops trailing spaces from each line it is given."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self.out.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out.write(self.pending.rstrip())
            self.pending = ""
        self.out.flush()


@click.command("exports")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
@click.option(
    "--state",
    type=click.Choice(STATES),
    multiple=True,
    help="Show only exports in this state (repeatable): complete, partial or absent.",
)
@click.option("--name", "pattern", default=None, help="Show only names containing this text.")
def command(as_json: bool, state: tuple[str, ...], pattern: str | None) -> None:
    """List the xboxkrnl exports x360k implements, with ordinal and parameters.

    Exports the reference covers but x360k does not implement are listed as
    'absent'. A '?' after a parameter marks it optional (may be null); --json
    gives each parameter's kind too.
    """
    rows = export_rows()
    if state:
        rows = [r for r in rows if r.state in state]
    if pattern:
        rows = [r for r in rows if pattern.lower() in r.name.lower()]
    if as_json:
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ordinal", justify="right", no_wrap=True)
    table.add_column("export", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("parameters", overflow="fold")
    styles = {"complete": "green", "partial": "yellow", "absent": "red"}
    for r in rows:
        names = [p.split(":")[0] + ("?" if p.endswith("?") else "") for p in r.params]
        params = ", ".join(names) if r.kind == "function" else "(variable)"
        notes = []
        if not r.in_reference:
            notes.append("not in reference list")
        if not r.canary_implements:
            notes.append("canary: unimplemented")
        note = f" [dim]({'; '.join(notes)})[/]" if notes else ""
        table.add_row(
            f"0x{r.ordinal:03X} {r.ordinal:>4}",
            r.name,
            f"[{styles[r.state]}]{r.state}[/]",
            f"{params}{note}",
        )
    console = _console()
    console.print(table)
    counts = {s: sum(1 for r in rows if r.state == s) for s in STATES}
    console.print(
        f"{len(rows)} exports: {counts['complete']} complete, {counts['partial']} partial, "
        f"{counts['absent']} absent"
    )
