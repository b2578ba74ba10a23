"""Entry point of the ``x360k`` command: a click group whose commands live in sibling modules.

Each command module exposes ``command`` (a click command or group). They are
imported only when named on the command line, so ``x360k status`` does not pay
for pyarrow or unicorn.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

#: command name -> (module, one-line help shown in ``x360k --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("x360k.cli.run", "Run scenario files or guest ELF binaries on the kernel."),
    "diff": ("x360k.cli.diff", "Find where two traces part ways, per guest thread."),
    "trace": ("x360k.cli.trace", "Show, summarise, convert, export and query trace files."),
    "exports": ("x360k.cli.exports", "List the xboxkrnl exports x360k implements."),
    "status": ("x360k.cli.status", "Look up an NTSTATUS by name or value."),
    "xex": ("x360k.cli.xex", "Inspect XEX2 executables; package guest ELFs as XEX2 titles."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="x360k")
def cli() -> None:
    """x360k: the Xbox 360 kernel as an emulator sees it, and tools to compare traces."""


def main() -> None:
    """Console-script entry point."""
    try:
        cli()
    except BrokenPipeError:
        # Whoever read our output went away (`x360k trace show ... | head`): stop quietly,
        # as Unix tools do, and keep Python from complaining again when it flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
