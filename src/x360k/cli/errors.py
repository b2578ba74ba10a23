"""One rule for errors on every ``x360k`` command, with or without ``--json``.

An error is one line on stderr, ``x360k COMMAND: what is wrong`` (naming file,
line or event where known), and exit status 2. When the command was given
``--json``, stdout also carries one JSON object, ``{"error": ..., "command":
..., "exit_code": 2}``, so a script reading stdout always gets a JSON document
whether the command succeeded or not.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final, NoReturn

import click
import msgspec

#: First bytes of files people pass as traces by mistake, and what they are.
_GUEST_MAGIC: Final = (
    (b"\x7fELF", "an ELF executable, a guest binary: run it with 'x360k run FILE'"),
    (b"XEX2", "an XEX2 executable (a guest binary, not a trace)"),
)


class ErrorReport(msgspec.Struct, kw_only=True):
    """What ``--json`` prints on stdout when a command fails."""

    error: str
    command: str
    exit_code: int


def json_requested(ctx: click.Context | None = None) -> bool:
    """Whether the running command (or a group above it) was given ``--json``."""
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return False


def command_name(ctx: click.Context | None = None) -> str:
    """``trace show`` for ``x360k trace show``: the path below the top group."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return ""
    return " ".join(ctx.command_path.split()[1:])


def emit_error(message: str, command: str, *, as_json: bool, code: int = 2) -> None:
    """Print the error line (and the JSON document under ``--json``) without exiting."""
    prefix = f"x360k {command}: " if command else "x360k: "
    click.echo(prefix + message, err=True)
    if as_json:
        report = ErrorReport(error=message, command=command, exit_code=code)
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        sys.stdout.flush()


def fail(command: str | None, message: str, *, code: int = 2) -> NoReturn:
    """End the current command with one error line (and JSON under ``--json``)."""
    name = command_name() if command is None else command
    emit_error(message, name, as_json=json_requested(), code=code)
    sys.exit(code)


def guest_binary_hint(path: str | Path) -> str:
    """``"; it is an ELF executable ..."`` when ``path`` is a guest binary, else ``""``."""
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(4)
    except OSError:
        return ""
    for magic, what in _GUEST_MAGIC:
        if head.startswith(magic):
            return f"; it is {what}"
    return ""
