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
    "cache": ("x360k.cli.cache", "Show where the columnar cache is, how big, or clear it."),
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

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            near = difflib.get_close_matches(name, list(COMMANDS), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            ctx.fail(f"no such command {name!r}{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = (
    "Columnar cache (used by diff, trace sql, trace convert): $X360K_CACHE if set, else "
    ".x360k-cache/ in the current directory; at most $X360K_CACHE_SIZE bytes (default 2G), "
    "least recently used entries go first. 'x360k cache' shows it, 'x360k cache --clear' "
    "empties it. Shell completion (bash, zsh, fish): "
    'eval "$(_X360K_COMPLETE=bash_source x360k)" (zsh_source, fish_source).'
)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(package_name="x360k", prog_name="x360k")
def cli() -> None:
    """x360k: the Xbox 360 kernel as an emulator sees it, and tools to compare traces."""


def main() -> None:
    """Console-script entry point (also ``python -m x360k``)."""
    # No command multiplies matrices bigger than a few dozen rows, and OpenBLAS
    # starting one thread per core when numpy is imported costs ~50 ms of CPU.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        # Not standalone, so usage errors reach _usage_error; click then *returns* the code
        # of a ctx.exit(n) instead of exiting with it.
        code = cli.main(prog_name="x360k", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("x360k: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _usage_error(exc)
    except BrokenPipeError:
        # Whoever read our output went away (`x360k trace show ... | head`): stop quietly,
        # as Unix tools do, and keep Python from complaining again when it flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)


def _usage_error(exc: click.ClickException) -> None:
    """A bad option or argument: one line (and JSON under ``--json``), exit status 2."""
    from x360k.cli.errors import command_name, emit_error, json_requested

    no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
    if no_args is not None and isinstance(exc, no_args):
        exc.show()  # a bare group: its help, as click would print it
        sys.exit(exc.exit_code)
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    message = exc.format_message()
    if (
        ctx is not None
        and isinstance(exc, click.UsageError)
        and not isinstance(exc, click.BadParameter)
    ):
        message += f" (see '{ctx.command_path} --help')"
    # --json may be given after the bad option, where click has not parsed it yet.
    as_json = json_requested(ctx) or "--json" in sys.argv[1:]
    emit_error(message, command_name(ctx), as_json=as_json, code=exc.exit_code)
    sys.exit(exc.exit_code)
