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
        text = query.strip()
        if text.lower().startswith("0x") and len(text) > 10:
            number = int(text, 16) if all(c in "0123456789abcdefABCDEF" for c in text[2:]) else None
            if number is not None and number >> 32 in (0, 0xFFFFFFFF):
                text = f"0x{number & 0xFFFFFFFF:08X}"
        try:
            answers.append(describe(text))
        except KeyError as exc:
            click.echo(f"x360k status: {exc.args[0]}", err=True)
            sys.exit(2)
    if as_json:
        sys.stdout.write(msgspec.json.encode(answers).decode() + "\n")
        return
    console = Console(highlight=False)
    styles = {"success": "green", "informational": "cyan", "warning": "yellow", "error": "red"}
    for a in answers:
        also = f" [dim](also {', '.join(a.aliases)})[/]" if a.aliases else ""
        console.print(f"{a.hex}  {a.name}  [{styles[a.severity]}]{a.severity}[/]{also}")
