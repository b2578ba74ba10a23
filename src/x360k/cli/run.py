"""``x360k run``: run scenario files (or guest binaries) on the kernel and report.

Each scenario runs once per profile it names (or the one ``--profile``
forces) on a fresh kernel and the deterministic scheduler. The summary says
what happened (threads, calls, handles, objects left alive, virtual time, a
wedge report) and which expectations failed, each with ``file:line``.

Exit status: 0 when every expectation holds, 1 when one fails or a run
wedges unexpectedly, 2 when a scenario file itself is wrong (one line on
stderr: ``file:line: what is wrong``).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final, NoReturn

import click
import msgspec
import xxhash
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from x360k.cli.errors import fail
from x360k.quirks import PROFILES, QUIRK_TABLE
from x360k.scenario.errors import ScenarioError
from x360k.scenario.loader import load_scenario
from x360k.scenario.runner import ScenarioResult, run_scenario
from x360k.scenario.schema import Scenario
from x360k.status import status_name
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.recorder import MemoryRecorder, Recorder
from x360k.trace.text_form import format_event

#: Guest binaries by suffix -> "module:function" of the runner that takes them.
GUEST_RUNNERS: Final[dict[str, str]] = {
    ".elf": "x360k.cpu.runner:run_guest",
    ".xex": "x360k.cpu.runner:run_guest",
}
#: Trace formats ``--trace`` writes, by file suffix.
TRACE_SUFFIXES: Final = (".jsonl", ".arrows", ".arrow", ".feather", ".parquet", ".txt")
#: Seconds a run may take before a progress bar appears.
PROGRESS_AFTER: Final = 1.0


class ErrorEntry(msgspec.Struct, frozen=True):
    file: str
    line: int
    error: str


class RunReport(msgspec.Struct, kw_only=True):
    """``x360k run --json``: every run's result and every file that could not run."""

    results: list[ScenarioResult]
    errors: list[ErrorEntry]
    exit_code: int


# -- trace files ----------------------------------------------------------------------------------


def _header(scenario_name: str, file: str, profile: str, quirks: dict[str, bool]) -> TraceHeader:
    try:
        build = version("x360k")
    except PackageNotFoundError:
        build = ""
    config = f"{profile};" + ";".join(f"{k}={int(v)}" for k, v in sorted(quirks.items()))
    return TraceHeader(
        emulator="x360k",
        emulator_build=build,
        config_hash=xxhash.xxh64_hexdigest(config.encode()),
        thread_id_style="kernel-id",
        extra={"scenario": scenario_name, "file": file, "profile": profile},
    )


@dataclass(slots=True)
class _TraceSink:
    """Where one run's trace goes: a streaming recorder, or events written at the end."""

    path: Path
    header: TraceHeader
    recorder: Recorder | None = None
    gathered: MemoryRecorder | None = None
    finish: Callable[[], None] = field(default=lambda: None)


def _open_sink(path: Path, header: TraceHeader) -> _TraceSink:
    suffix = path.suffix.lower()
    sink = _TraceSink(path, header)
    if suffix == ".jsonl":
        from x360k.trace.jsonl_writer import JsonlWriter

        writer = JsonlWriter(path, header, lines_per_write=256)
        sink.recorder = writer
        sink.finish = writer.close
    elif suffix == ".arrows":
        from x360k.trace.arrow_writer import ArrowStreamWriter

        stream = ArrowStreamWriter(path, header)
        sink.recorder = stream
        sink.finish = stream.close
    else:
        gathered = MemoryRecorder()
        sink.recorder = gathered
        sink.gathered = gathered
        sink.finish = lambda: _write_gathered(path, header, gathered)
    return sink


def _write_gathered(path: Path, header: TraceHeader, gathered: MemoryRecorder) -> None:
    """Write a trace gathered in memory beside ``path``, then rename it into place.

    A kill or an error mid-write leaves the previous file at ``path`` whole (these
    formats are written in one go, unlike the streamed JSONL and Arrow stream).
    """
    from x360k.trace.atomic_write import atomic_write

    suffix = path.suffix.lower()
    atomic_write(path, lambda tmp: _write_gathered_as(tmp, suffix, header, gathered))


def _write_gathered_as(
    path: Path, suffix: str, header: TraceHeader, gathered: MemoryRecorder
) -> None:
    if suffix == ".txt":
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for event in gathered.events:
                out.write(format_event(event, with_tid=True) + "\n")
        return
    import pyarrow as pa

    from x360k.trace.columns import events_to_batch, schema_with_header

    table = pa.Table.from_batches([events_to_batch(gathered.events)])
    if suffix in (".arrow", ".feather"):
        from x360k.trace.arrow_writer import write_arrow_file

        write_arrow_file(table, path, header)
    else:
        from x360k.trace.cache import write_parquet

        write_parquet(table.replace_schema_metadata(schema_with_header(header).metadata), path)


def _trace_path(base: Path, scenario: str, profile: str, runs: int, profiles: int) -> Path:
    """``--trace FILE`` for one run is FILE; for several, FILE's stem gets the run's names."""
    if runs == 1:
        return base
    parts = [base.stem, Path(scenario).stem]
    if profiles > 1:
        parts.append(profile)
    return base.with_name(".".join(parts) + base.suffix)


# -- options --------------------------------------------------------------------------------------


def _parse_quirks(values: tuple[str, ...]) -> dict[str, bool]:
    known = [q.name for q in QUIRK_TABLE]
    out: dict[str, bool] = {}
    for item in values:
        name, sep, state = item.partition("=")
        if not sep:
            state = "on"
        if name not in known:
            import difflib

            near = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise click.UsageError(f"--quirk {item}: unknown quirk {name!r}{hint}")
        lowered = state.strip().lower()
        if lowered not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
            raise click.UsageError(f"--quirk {item}: the state must be on or off")
        out[name] = lowered in ("on", "true", "1", "yes")
    return out


def _fail_usage(message: str) -> NoReturn:
    fail("run", message)


def _print_quirks() -> None:
    """``--quirk list``: every quirk, what each profile does, so no doc file is needed."""
    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    for q in QUIRK_TABLE:
        console.print(f"[bold]{q.name}[/] [dim]({escape(q.area)})[/]")
        console.print(f"    canary:  {escape(q.canary)}")
        console.print(f"    console: {escape(q.console)}")


# -- progress -------------------------------------------------------------------------------------


class _Progress:
    """A transient rich progress line on stderr, shown only once a run takes over a second."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None

    def tick(self, calls: int, clock: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.monotonic() - self.started < PROGRESS_AFTER:
                return
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[calls]:,} calls"),
                TextColumn("virtual {task.fields[vtime]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=None, calls=0, vtime="")
        self.progress.update(self.task, calls=calls, vtime=_virtual_time(clock))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _virtual_time(ticks: int) -> str:
    ms = ticks / 10_000
    return f"{ms / 1000:.3f} s" if ms >= 1000 else f"{ms:.3f} ms"


# -- output ---------------------------------------------------------------------------------------


def _print_result(
    out: Console, result: ScenarioResult, describe: bool, verbose: bool, trace: list[str]
) -> None:
    mark = "[bold green]PASS[/]" if result.ok else "[bold red]FAIL[/]"
    out.print(
        f"{mark} {escape(result.file)} [dim]·[/] {result.profile} [dim]·[/] {escape(result.name)}"
    )
    if describe and result.description:
        for line in result.description.splitlines():
            out.print(f"     [dim]{escape(line)}[/]")
    outcome = result.outcome
    if outcome != result.expected_outcome:
        outcome = f"[red]{outcome}[/] (expected {result.expected_outcome})"
    elif outcome == "wedge":
        outcome = "[yellow]wedge[/] (as expected)"
    alive = ", ".join(f"{n} {t}" for t, n in sorted(result.objects_alive_types.items()))
    out.print(
        f"     {outcome} [dim]·[/] {_plural(len(result.threads), 'thread')} [dim]·[/] "
        f"{_plural(result.calls, 'call')} [dim]·[/] handles +{result.handles_created} "
        f"−{result.handles_destroyed} [dim]·[/] {_plural(result.objects_alive, 'object')} alive"
        f"{f' ({alive})' if alive else ''} [dim]·[/] virtual time {_virtual_time(result.clock)}"
    )
    if verbose:
        for t in result.threads:
            end = f"exit {t.exit_code}" if t.exit_code is not None else t.state
            out.print(
                f"     [dim]thread {t.tid}[/] {escape(t.program)} [dim](id {t.thread_id})[/] "
                f"{_plural(t.calls, 'call')}, {end}"
            )
        for tid, text in result.debug_output:
            out.print(f"     [dim]thread {tid} DbgPrint:[/] {escape(text)}")
    for warning in result.warnings:
        out.print(f"     [yellow]warning:[/] {escape(warning)}")
    if result.wedge is not None:
        style = "yellow" if result.expected_outcome == "wedge" else "red"
        for line in result.wedge.render_text().splitlines():
            out.print(f"     [{style}]{escape(line)}[/]")
    for failure in result.failures:
        out.print(f"     [red]✗ {escape(failure.render())}[/]")
    if result.trace_file:
        out.print(f"     [dim]trace written to {escape(result.trace_file)}[/]")
    for line in trace:
        out.print(f"     [dim]{escape(line)}[/]")


def _compact(event: TraceEvent) -> str:
    """An event in the ``trace show`` form without the fields a reader rarely needs here."""
    shown = msgspec.structs.replace(
        event, module=None, ordinal=None, call_id=None, raw_tid=None, ret_addr=None, ts=None
    )
    text = format_event(shown)
    if event.status is not None:
        text = text.replace(f"status=0x{event.status:08x}", f"status={status_name(event.status)}")
    return text


def _trace_lines(gathered: MemoryRecorder, result: ScenarioResult) -> list[str]:
    lines: list[str] = []
    for t in result.threads:
        events = gathered.thread(t.tid)
        if not events:
            continue
        lines.append(f"-- thread {t.tid} ({t.program}) --")
        lines += [_compact(e) for e in events]
    return lines


# -- the command ----------------------------------------------------------------------------------


def _guest_kind(path: Path) -> str | None:
    """The GUEST_RUNNERS key for a guest binary (by suffix, or ELF/XEX2 magic under any name)."""
    suffix = path.suffix.lower()
    if suffix in GUEST_RUNNERS:
        return suffix
    try:
        with path.open("rb") as stream:
            magic = stream.read(4)
    except OSError:
        return None
    return {b"\x7fELF": ".elf", b"XEX2": ".xex"}.get(magic)


def _run_guest(path: Path, **options: Any) -> ScenarioResult:
    target = GUEST_RUNNERS[_guest_kind(path) or ".elf"]
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        runner = getattr(module, func_name)
    except (ImportError, AttributeError):
        raise ScenarioError(
            str(path),
            0,
            f"running {path.suffix} guest binaries needs {target.replace(':', '.')}, which this "
            "build of x360k does not have yet",
        ) from None
    result: ScenarioResult = runner(path, **options)
    return result


@click.command("run")
@click.argument("scenarios", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--profile",
    type=click.Choice([*PROFILES, "both"]),
    default=None,
    help="Kernel profile to run under: canary (the emulator's behaviour), console (the real "
    "kernel's) or both. Default: the profiles each scenario names (else canary).",
)
@click.option(
    "--quirk",
    "quirk_items",
    multiple=True,
    metavar="NAME=on|off",
    help="Switch one canary-vs-console quirk on or off over the profile (repeatable). "
    "'--quirk list' prints every quirk's name and what it changes.",
)
@click.option(
    "--trace",
    "trace_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the trace to FILE; the format follows the suffix: .jsonl, .arrows (Arrow "
    "stream), .arrow/.feather (Arrow file), .parquet or .txt (the 'x360k trace show' form). "
    "With several runs each gets FILE's stem plus the scenario (and profile) name.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option(
    "--max-calls",
    type=click.IntRange(min=1),
    default=None,
    help="Stop a run after this many export calls (outcome 'limit'; default: the scenario's "
    "max_calls, else 1,000,000).",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Also print each scenario's description and threads."
)
@click.option(
    "--show-trace", is_flag=True, help="Also print every thread's trace events after its summary."
)
def command(
    scenarios: tuple[Path, ...],
    profile: str | None,
    quirk_items: tuple[str, ...],
    trace_file: Path | None,
    as_json: bool,
    max_calls: int | None,
    verbose: bool,
    show_trace: bool,
) -> None:
    """Run SCENARIO files and check their expectations.

    A scenario is YAML: 'name:', 'profiles: [canary, console]', 'threads:' (the
    first is the main thread; each is a list of steps like '- call: NtCreateEvent'
    with the export's arguments by name, 'out: NAME' to bind what it returns and
    'expect: STATUS_SUCCESS') and 'expect: {outcome: finished|wedge|limit}'.
    A mistake in a file is reported as file:line with what the loader expected.

    A file ending in .elf is a PowerPC guest binary, run on unicorn.

    Exit status 0 when every expectation holds, 1 when one fails or a run wedges
    unexpectedly, 2 when a scenario file is wrong.
    """
    if "list" in quirk_items:
        _print_quirks()
        return
    if not scenarios:
        _fail_usage("give at least one SCENARIO file (a .yaml scenario or a .elf guest binary)")
    try:
        quirks = _parse_quirks(quirk_items)
    except click.UsageError as exc:
        _fail_usage(exc.message)
        return
    if trace_file is not None and trace_file.suffix.lower() not in TRACE_SUFFIXES:
        _fail_usage(
            f"--trace {trace_file}: unknown trace format {trace_file.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(TRACE_SUFFIXES)}"
        )
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    errors: list[ErrorEntry] = []
    loaded: list[Scenario | Path] = []
    for path in scenarios:
        if _guest_kind(path) is not None:
            loaded.append(path)
            continue
        try:
            loaded.append(load_scenario(path))
        except ScenarioError as exc:
            errors.append(ErrorEntry(exc.file, exc.line, str(exc)))
            err.print(escape(str(exc)))  # on stderr with or without --json (cli.errors)

    plan: list[tuple[Scenario | Path, str]] = []
    for item in loaded:
        default = ["canary"] if isinstance(item, Path) else item.profiles
        names = list(PROFILES) if profile == "both" else [profile] if profile else default
        if isinstance(item, Path):
            plan += [(item, p) for p in names]
            continue
        plan += [(item, p) for p in names]

    if trace_file is not None:  # before anything is written: a trace never replaces an input
        from x360k.trace.atomic_write import same_file

        profiles_in_plan = len({p for _, p in plan})
        for item, run_profile in plan:
            file = str(item) if isinstance(item, Path) else item.file
            target = _trace_path(trace_file, file, run_profile, len(plan), profiles_in_plan)
            if any(same_file(target, Path(given)) for given in scenarios):
                _fail_usage(f"--trace {target}: is a file being run; a trace never writes over it")

    if verbose and not as_json and len(plan) > 1:
        out.print(
            f"[bold]Running {_plural(len(plan), 'scenario run')}[/] "
            "Profile canary = Xenia canary's kernel, console = the real Xbox 360 kernel."
        )
    results: list[ScenarioResult] = []
    described: set[str] = set()
    for item, run_profile in plan:
        file = str(item) if isinstance(item, Path) else item.file
        sink: _TraceSink | None = None
        if trace_file is not None:
            name = item.stem if isinstance(item, Path) else item.name
            profiles_in_plan = len({p for _, p in plan})
            path = _trace_path(trace_file, file, run_profile, len(plan), profiles_in_plan)
            merged = {} if isinstance(item, Path) else dict(item.quirks)
            merged.update(quirks)
            try:
                sink = _open_sink(path, _header(name, file, run_profile, merged))
            except OSError as exc:
                _fail_usage(f"--trace {path}: {exc.strerror or exc}")
        shown = MemoryRecorder() if show_trace else None
        recorders = [r for r in (sink.recorder if sink else None, shown) if r is not None]
        recorder: Recorder | None = None
        if len(recorders) == 1:
            recorder = recorders[0]
        elif recorders:
            from x360k.trace.recorder import TeeRecorder

            recorder = TeeRecorder(*recorders)
        progress = _Progress(f"{Path(file).name} ({run_profile})", err.is_terminal and not as_json)
        try:
            if isinstance(item, Path):
                result = _run_guest(
                    item,
                    profile=run_profile,
                    quirks=quirks,
                    recorder=recorder,
                    max_calls=max_calls,
                )
            else:
                result = run_scenario(
                    item,
                    profile=run_profile,
                    quirks=quirks,
                    recorder=recorder,
                    max_calls=max_calls,
                    progress=progress.tick,
                )
        except ScenarioError as exc:
            errors.append(ErrorEntry(exc.file, exc.line, str(exc)))
            err.print(escape(str(exc)))  # on stderr with or without --json (cli.errors)
            continue
        finally:
            progress.stop()
            if sink is not None:
                try:
                    sink.finish()
                except OSError as exc:
                    _fail_usage(f"--trace {sink.path}: {exc.strerror or exc}")
        if sink is not None:
            result.trace_file = str(sink.path)
        results.append(result)
        if not as_json:
            lines = _trace_lines(shown, result) if shown is not None else []
            _print_result(out, result, verbose and file not in described, verbose, lines)
            described.add(file)

    failed = sum(1 for r in results if not r.ok)
    exit_code = 2 if errors else 1 if failed else 0
    if as_json:
        report = RunReport(results=results, errors=errors, exit_code=exit_code)
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    elif len(plan) + len(errors) > 1:
        parts = [f"{len(results) - failed} passed"]
        if failed:
            parts.append(f"[red]{failed} failed[/]")
        if errors:
            parts.append(f"[red]{len(errors)} could not run[/]")
        out.print(f"{_plural(len(results) + len(errors), 'run')}: " + ", ".join(parts))
        if verbose:
            out.print(
                "[dim]See one run's events with: x360k run --show-trace --profile console "
                "FILE.yaml; save them with --trace FILE.jsonl[/]"
            )
    sys.exit(exit_code)
