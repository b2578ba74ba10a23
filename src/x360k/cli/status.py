"""``x360k status``: NTSTATUS lookup both ways (name -> value, value -> name).

Accepts names with or without ``STATUS_``, any case, the numbered families
(``WAIT_3``, ``ABANDONED_WAIT_1``) and numbers in hex or decimal, including
the sign-extended 64-bit form a PowerPC r3 shows (``0xFFFFFFFFC0000008``).
"""

from __future__ import annotations

import difflib
import sys

import click
import msgspec
from rich.console import Console

from x360k.cli.errors import fail
from x360k.status import BY_NAME, parse_status, status_name


class StatusInfo(msgspec.Struct, kw_only=True):
    query: str
    value: int
    hex: str
    name: str
    #: success, informational, warning or error (the top two bits).
    severity: str
    nt_success: bool
    #: Other names for the same value (STATUS_SUCCESS / STATUS_WAIT_0).
    aliases: list[str]


SEVERITY = ("success", "informational", "warning", "error")


def _in_range(query: str) -> str:
    """``query`` with a number written as 32 bits; ValueError when it fits in none.

    Accepted: 0..0xFFFFFFFF, the sign-extended 64-bit form a PowerPC r3 shows
    (``0xFFFFFFFFC0000008``) and negative numbers down to -0x80000000. Anything
    else is refused, never cut to 32 bits.
    """
    text = query.strip()
    try:
        number = int(text, 0)
    except ValueError:
        return text
    if 0 <= number <= 0xFFFFFFFF:
        return f"0x{number:08X}"
    if -(1 << 31) <= number < 0 or number >> 31 == 0x1FFFFFFFF:
        return f"0x{number & 0xFFFFFFFF:08X}"
    shown = text if len(text) <= 24 else text[:20] + "..."
    raise ValueError(
        f"{shown} is out of range for an NTSTATUS: 0 .. 0xFFFFFFFF (or its sign-extended "
        "64-bit form 0xFFFFFFFF80000000 .. 0xFFFFFFFFFFFFFFFF, or -0x80000000 .. -1)"
    )


def describe(query: str) -> StatusInfo:
    """The status a query names; ``KeyError`` with a hint when it names none."""
    try:
        value = parse_status(query)
    except KeyError:
        upper = query.strip().upper()
        guess = upper if upper.startswith("STATUS_") else "STATUS_" + upper
        near = difflib.get_close_matches(guess, list(BY_NAME), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise KeyError(f"{query!r} is not an NTSTATUS name or number{hint}") from None
    name = status_name(value)
    aliases = [n for n, v in BY_NAME.items() if v == value and n != name]
    return StatusInfo(
        query=query,
        value=value,
        hex=f"0x{value:08X}",
        name=name,
        severity=SEVERITY[value >> 30],
        # NT_SUCCESS: the status read as a signed 32-bit value is not negative.
        nt_success=value < 0x80000000,
        aliases=aliases,
    )


@click.command("status")
@click.argument("queries", nargs=-1, required=False, metavar="NAME_OR_VALUE...")
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON on stdout.")
@click.option("--list", "list_all", is_flag=True, help="List every NTSTATUS x360k knows.")
def command(queries: tuple[str, ...], as_json: bool, list_all: bool) -> None:
    """Look up NTSTATUS values: names give values, values give names.

    Examples: 'x360k status STATUS_INVALID_HANDLE', 'x360k status invalid_handle',
    'x360k status 0xC0000008', 'x360k status 0x102', 'x360k status WAIT_3'.
    """
    if list_all:
        queries = queries + tuple(sorted(BY_NAME, key=lambda n: (BY_NAME[n], n)))
    if not queries:
        click.echo("x360k status: give a status name or value (or --list)", err=True)
        sys.exit(2)
    answers: list[StatusInfo] = []
    for query in queries:
        try:
            answers.append(describe(_in_range(query)))
        except (KeyError, ValueError) as exc:
            fail("status", exc.args[0])
    if as_json:
        sys.stdout.write(msgspec.json.encode(answers).decode() + "\n")
        return
    console = Console(highlight=False)
    styles = {"success": "green", "informational": "cyan", "warning": "yellow", "error": "red"}
    for a in answers:
        also = f" [dim](also {', '.join(a.aliases)})[/]" if a.aliases else ""
        console.print(f"{a.hex}  {a.name}  [{styles[a.severity]}]{a.severity}[/]{also}")
