"""Run a guest executable on a fresh kernel: what ``x360k run GUEST.elf`` calls.

:func:`execute_guest` loads the ELF, starts its entry point as the main
thread and runs the kernel's scheduler; it returns everything about the run
(kernel, image, result or fault) for tests and tools. :func:`run_guest` wraps
that in the scenario runner's :class:`ScenarioResult`, so the CLI prints a
guest run with the same summary, trace and wedge report as a scenario. A
guest's ``.x360k`` metadata (see ``guests/xboxkrnl.h``) supplies its name,
description and expected outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from x360k.cpu.elf import ElfError
from x360k.cpu.fault import FaultReport, GuestFault
from x360k.cpu.loader import GuestImage, load_image
from x360k.cpu.recent_events import RecentEvents
from x360k.cpu.runtime import CpuRuntime
from x360k.exports.formatting import debug_output
from x360k.kernel import Kernel, RunResult
from x360k.kernel_workers import is_kernel_object, worker_label
from x360k.quirks import Profile
from x360k.trace.recorder import MemoryRecorder, Recorder, TeeRecorder

#: Calls a guest run may make unless told otherwise (as for scenarios).
DEFAULT_MAX_CALLS: Final = 1_000_000


class GuestLoadError(ValueError):
    """The guest file cannot be read or loaded; the message names the file and the problem."""


@dataclass(slots=True)
class GuestRun:
    """One guest run: the kernel afterwards, the image, and how it ended."""

    kernel: Kernel
    runtime: CpuRuntime
    image: GuestImage
    result: RunResult | None
    fault: FaultReport | None
    trace: MemoryRecorder | None
    #: Object serials up to this one were made by the kernel at start-up.
    startup_serial: int = 0

    def objects_alive(self) -> list[Any]:
        """Objects the guest made that are still alive."""
        live = self.kernel.table.live_objects
        return [
            obj
            for serial, obj in live.items()
            if serial > self.startup_serial and not is_kernel_object(obj)
        ]

    @property
    def outcome(self) -> str:
        if self.fault is not None:
            return "fault"
        assert self.result is not None
        return self.result.outcome


def execute_guest(
    path: str | Path,
    *,
    profile: Profile = "canary",
    quirks: Mapping[str, bool] | None = None,
    recorder: Recorder | None = None,
    keep_trace: bool = True,
    max_calls: int | None = DEFAULT_MAX_CALLS,
    max_time: int | None = None,
    title: str | Path | None = None,
    pokes: Mapping[str, int] | None = None,
    wait_events: bool = False,
    serve_in_hook: bool = True,
) -> GuestRun:
    """Load and run the guest at ``path``.

    ``title`` is the host folder the guest sees as ``game:`` (default: the
    folder holding the executable, read-only). ``pokes`` writes 32-bit values
    to the guest's global symbols before it starts (tests and benchmarks use
    it to pick a variant or a size). ``keep_trace`` keeps every event in
    memory (``GuestRun.trace``); ``recorder`` receives them too.
    ``serve_in_hook=False`` makes every kernel call leave unicorn (the
    reference behaviour; slower, same trace).
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise GuestLoadError(f"{file}: cannot read: {exc.strerror or exc}") from None
    memory_trace = MemoryRecorder() if keep_trace else None
    sinks = [r for r in (memory_trace, recorder) if r is not None]
    # With no trace at all the kernel records nothing (its fast path); a fault report then
    # lists the thread's last calls instead of the last events.
    ring = RecentEvents() if sinks else None
    sink: Recorder | None = TeeRecorder(ring, *sinks) if ring is not None else None
    kernel = Kernel(profile, quirks=quirks, recorder=sink, wait_events=wait_events)
    startup = max(kernel.table.live_objects, default=0)
    image = _load(kernel, data, file)
    _poke(kernel, image, file, pokes or {})
    from x360k.vfs.mount import mount

    mount(kernel, title if title is not None else file.resolve().parent)
    runtime = CpuRuntime(kernel, image, serve_in_hook=serve_in_hook)
    runtime.recent = ring.events if ring is not None else None
    runtime.start_main(image.entry)
    try:
        result = kernel.run(max_calls=max_calls, max_time=max_time)
    except GuestFault as fault:
        return GuestRun(kernel, runtime, image, None, fault.report, memory_trace, startup)
    return GuestRun(kernel, runtime, image, result, None, memory_trace, startup)


def _load(kernel: Kernel, data: bytes, file: Path) -> GuestImage:
    """An ELF or (by its magic) a XEX2, mapped into the kernel's memory."""
    if data[:4] == b"XEX2":
        from x360k.xex.errors import XexError
        from x360k.xex.guest_loader import give_main_stack, install_tls, load_xex_image
        from x360k.xex.module_info import publish

        exports = {ex.ordinal: ex.name for ex in kernel.exports}
        try:
            loaded = load_xex_image(kernel.memory, data, file.name, exports, kernel.data_exports)
        except XexError as exc:
            raise GuestLoadError(f"{file}: {exc}") from None
        if loaded.stack_size is not None:  # the main thread's stack, as the XEX says
            give_main_stack(kernel, loaded.stack_size)
        if loaded.tls is not None and loaded.image.tls:
            install_tls(kernel, loaded.xex.image, loaded.image.base, loaded.tls)
        try:
            publish(kernel, data, loaded.xex, file.name)  # the header, for the loader exports
        except XexError as exc:
            raise GuestLoadError(f"{file}: {exc}") from None
        return loaded.image
    from x360k.exports.kernel_variables import variable_addresses
    from x360k.exports.module_table import describe_title

    if data[:4] != b"\x7fELF":
        start = f"it starts {data[:4].hex(' ')}" if data else "it is empty"
        raise GuestLoadError(
            f"{file}: neither a XEX2 nor an ELF executable ({start}; "
            "a XEX2 starts 58 45 58 32, an ELF 7f 45 4c 46)"
        )
    try:
        image = load_image(kernel.memory, data, file.name, variable_addresses(kernel))
    except ElfError as exc:
        raise GuestLoadError(f"{file}: {exc}") from None

    # The loader exports answer from a synthesised module (header, loader entry).
    describe_title(kernel, file.name, image.base, image.entry, image.end - image.base)
    return image


def _poke(kernel: Kernel, image: GuestImage, file: Path, pokes: Mapping[str, int]) -> None:
    by_name = {s.name: s.value for s in image.symbols}
    for name, value in pokes.items():
        if name not in by_name:
            raise GuestLoadError(f"{file}: no symbol {name!r} to set")
        kernel.memory.write_u32(by_name[name], value)


def run_guest(
    path: str | Path,
    *,
    profile: str | None = None,
    quirks: Mapping[str, bool] | None = None,
    recorder: Recorder | None = None,
    max_calls: int | None = None,
    **_options: Any,
) -> Any:
    """Run a guest for ``x360k run``: returns a :class:`ScenarioResult`.

    Raises :class:`ScenarioError` (file, line 0, message) when the file cannot
    be loaded, which the CLI reports as one line with exit status 2.
    """
    from x360k.scenario.errors import ScenarioError
    from x360k.scenario.runner import Failure, ScenarioResult, ThreadSummary

    run_profile: Profile = "console" if profile == "console" else "canary"
    try:
        run = execute_guest(
            path,
            profile=run_profile,
            quirks=quirks,
            recorder=recorder,
            max_calls=max_calls or DEFAULT_MAX_CALLS,
        )
    except GuestLoadError as exc:
        # ScenarioError puts "file:0: " in front itself; the load error already names the file.
        message = str(exc).removeprefix(f"{Path(path)}: ")
        raise ScenarioError(str(path), 0, message) from None
    k, image, trace = run.kernel, run.image, run.trace
    assert trace is not None
    meta = image.meta
    expected = meta.get("outcome", "finished")
    failures: list[Any] = []
    warnings: list[str] = []
    if run.fault is not None:
        (warnings if expected == "fault" else failures).append(run.fault.render_text())
    if run.outcome != expected:
        failures.append(f"run ended with outcome {run.outcome!r}, expected {expected!r}")
    kinds = Counter(e.kind for e in trace.events)
    calls = Counter(e.tid for e in trace.events if e.kind == "kernel.call")
    alive = run.objects_alive()
    threads = [
        ThreadSummary(
            tid=t.ordinal,
            program=worker_label(k, t)
            or ((image.symbolize(t.start_address) or "?") if t.ordinal else "_start"),
            thread_id=t.thread_id,
            state=t.state.value,
            exit_code=t.exit_code,
            calls=calls[t.ordinal],
        )
        for t in k.threads
    ]
    result = run.result
    return ScenarioResult(
        file=str(path),
        name=meta.get("name", Path(path).stem),
        description=meta.get("description", ""),
        profile=run_profile,
        outcome=run.outcome,
        expected_outcome=expected,
        ok=not failures,
        calls=k.calls,
        clock=k.clock,
        threads=threads,
        handles_created=kinds["handle.create"],
        handles_destroyed=kinds["handle.destroy"],
        objects_alive=len(alive),
        objects_alive_types=dict(Counter(obj.TYPE for obj in alive)),
        failures=[Failure(str(path), 0, message) for message in failures],
        warnings=warnings,
        wedge=None if result is None else result.wedge,
        debug_output=list(debug_output(k)),
    )
