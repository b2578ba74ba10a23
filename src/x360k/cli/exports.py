"""``x360k exports``: which xboxkrnl exports x360k implements, next to canary's set.

Each row is one export: implemented ones with their declared parameters and
whether the handler is complete or partial; exports canary registers (or the
reference covers) that x360k lacks are listed as absent, so the table doubles
as a to-do list. The reference set is every xboxkrnl export canary answers
(:mod:`x360k.canary_exports`), plus the few the reference covers that canary
leaves unimplemented; the summary counts canary's set per subsystem.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from x360k import canary_exports
from x360k.exports.kernel_variables import KERNEL_VARIABLES
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
    #: False when canary itself leaves it unimplemented.
    canary_implements: bool = True
    #: canary's support: "implemented", "stub", "sketchy" or "absent".
    canary: str = "absent"
    #: The subsystem it is counted under in the summary (canary's category where it has one).
    subsystem: str = ""
    doc: str = ""


class SubsystemRow(msgspec.Struct, kw_only=True):
    """How many of canary's exports in one subsystem x360k has, by state."""

    subsystem: str
    canary: int
    complete: int
    partial: int
    absent: int


#: Subsystems by name prefix, for the exports canary files under no category.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("Rtl", "rtl"), ("XeCrypt", "crypto"), ("XeKeys", "crypto"), ("Ex", "executive"),
    ("Ke", "kernel"), ("Ki", "kernel"), ("Interlocked", "kernel"), ("Kf", "kernel"),
    ("Nt", "nt"), ("Ob", "objects"), ("Io", "io"), ("Hal", "hal"), ("Dbg", "debug"),
    ("Mm", "memory"), ("Xex", "modules"), ("Vd", "video"), ("XMA", "audio"),
    ("XAudio", "audio"), ("Hid", "input"), ("XUsbcam", "input"),
)  # fmt: skip


def _absent(
    ordinal: int, name: str, kind: str, area: str, support: str, category: str
) -> ExportRow:
    """The row of an export x360k does not implement."""
    return ExportRow(
        ordinal=ordinal,
        name=name,
        state="absent",
        params=[],
        returns="",
        kind=kind,
        area=area,
        canary_implements=support != "absent",
        canary=support,
        subsystem=subsystem_of(name, category),
    )


def subsystem_of(name: str, category: str = "none") -> str:
    """canary's category for the export, or one from its name when canary gives none."""
    if category and category != "none":
        return category
    for prefix, subsystem in _PREFIXES:
        if name.startswith(prefix):
            return subsystem
    return "misc"


def export_rows() -> list[ExportRow]:
    """Every implemented export, every export canary registers and every reference one."""
    registry = Registry(all_exports())
    canary = {e.name: e for e in canary_exports.table("xboxkrnl.exe").values()}
    rows: dict[str, ExportRow] = {}

    def canary_of(name: str) -> tuple[str, str]:
        entry = canary.get(name)
        return (entry.support, entry.category) if entry else ("absent", "none")

    for ex in registry:
        ref = BY_NAME.get(ex.name)
        support, category = canary_of(ex.name)
        rows[ex.name] = ExportRow(
            ordinal=ex.ordinal,
            name=ex.name,
            state=ex.completeness.value,
            params=[f"{p.name}:{p.kind.value}{'?' if p.optional else ''}" for p in ex.params],
            returns=ex.returns.value,
            area=ref.area if ref else "",
            in_reference=ref is not None or support != "absent",
            canary_implements=support != "absent",
            canary=support,
            subsystem=subsystem_of(ex.name, category),
            doc=ex.doc,
        )
    for name, (ordinal, type_name) in OBJECT_TYPE_EXPORTS.items():
        support, _category = canary_of(name)
        rows[name] = ExportRow(
            ordinal=ordinal,
            name=name,
            state="complete",
            params=[],
            returns="",
            kind="variable",
            area="object types",
            in_reference=name in BY_NAME or support != "absent",
            canary_implements=support != "absent",
            canary=support,
            subsystem="variables",
            doc=f"the {type_name} object type",
        )
    for var in KERNEL_VARIABLES:
        support, _category = canary_of(var.name)
        rows[var.name] = ExportRow(
            ordinal=var.ordinal,
            name=var.name,
            state="complete",
            params=[],
            returns="",
            kind="variable",
            area="kernel variables",
            in_reference=var.name in BY_NAME or support != "absent",
            canary_implements=support != "absent",
            canary=support,
            subsystem="variables",
            doc=var.doc,
        )
    for entry in canary_exports.kernel_registered():
        if entry.name not in rows:
            ref = BY_NAME.get(entry.name)
            area = ref.area if ref else ""
            rows[entry.name] = _absent(entry.ordinal, entry.name, entry.kind, area, entry.support,
                                       entry.category)  # fmt: skip
    for ref in REFERENCE_EXPORTS:
        if ref.name not in rows:
            support, category = canary_of(ref.name)
            kind = "variable" if ref.variable else "function"
            rows[ref.name] = _absent(ref.ordinal, ref.name, kind, ref.area, support, category)
    return sorted(rows.values(), key=lambda r: r.ordinal)


def subsystem_rows(rows: list[ExportRow]) -> list[SubsystemRow]:
    """Per subsystem, canary's exports and how many of them x360k has complete or partial."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.canary == "absent":
            continue
        c = counts.setdefault(r.subsystem, dict.fromkeys(STATES, 0))
        c[r.state] += 1
    return [
        SubsystemRow(
            subsystem=name,
            canary=sum(c.values()),
            complete=c["complete"],
            partial=c["partial"],
            absent=c["absent"],
        )
        for name, c in sorted(counts.items())
    ]


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
@click.option(
    "--summary",
    is_flag=True,
    help="Show only the count per subsystem of canary's exports x360k has complete.",
)
def command(as_json: bool, state: tuple[str, ...], pattern: str | None, summary: bool) -> None:
    """List the xboxkrnl exports x360k implements, with ordinal and parameters.

    Every export Xenia canary registers is listed; those x360k lacks are
    'absent'. A '?' after a parameter marks it optional (may be null); --json
    gives each parameter's kind too. The table ends with how many of canary's
    exports x360k has complete, per subsystem (--summary shows only that).
    """
    rows = export_rows()
    if state:
        rows = [r for r in rows if r.state in state]
    if pattern:
        rows = [r for r in rows if pattern.lower() in r.name.lower()]
    subsystems = subsystem_rows(rows)
    if as_json:
        payload: Any = subsystems if summary else rows
        sys.stdout.write(msgspec.json.encode(payload).decode() + "\n")
        return
    console = _console()
    if not summary:
        console.print(_export_table(rows))
        counts = {s: sum(1 for r in rows if r.state == s) for s in STATES}
        console.print(
            f"{len(rows)} exports: {counts['complete']} complete, {counts['partial']} partial, "
            f"{counts['absent']} absent"
        )
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("subsystem", "canary", "complete", "partial", "absent"):
        table.add_column(column, justify="left" if column == "subsystem" else "right")
    for sub in subsystems:
        table.add_row(
            sub.subsystem, str(sub.canary), str(sub.complete), str(sub.partial), str(sub.absent)
        )
    console.print(table)
    total = sum(sub.canary for sub in subsystems)
    done = sum(sub.complete for sub in subsystems)
    console.print(f"canary registers {total} of these exports; x360k has {done} complete")


def _export_table(rows: list[ExportRow]) -> Table:
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
            notes.append("not in canary's set")
        if not r.canary_implements:
            notes.append("canary: unimplemented")
        elif r.canary in ("stub", "sketchy"):
            notes.append(f"canary: {r.canary}")
        note = f" [dim]({'; '.join(notes)})[/]" if notes else ""
        table.add_row(
            f"0x{r.ordinal:03X} {r.ordinal:>4}",
            r.name,
            f"[{styles[r.state]}]{r.state}[/]",
            f"{params}{note}",
        )
    return table
