"""Run a loaded scenario on a fresh kernel and check its expectations.

Each thread program becomes a generator program for the deterministic
scheduler: the main thread's starts at once, the others when an
ExCreateThread step names them as ``start_address`` (they are registered as
scripted routines). Before each call the runner builds the guest memory the
arguments point to (strings, OBJECT_ATTRIBUTES, timeouts, handle arrays, out
slots); after it, it reads the out slots into the names the step binds and
checks the step's expectations. Failures are collected, never raised: a run
always ends with a full :class:`ScenarioResult`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import msgspec

from x360k.cpu.fault import GuestFault
from x360k.exports.formatting import debug_output
from x360k.exports.registry import Returns
from x360k.kernel import Kernel, RunResult
from x360k.kernel_workers import is_kernel_object, worker_label
from x360k.objects.thread import Program, Thread
from x360k.scenario.errors import ScenarioError
from x360k.scenario.loader import iter_calls
from x360k.scenario.schema import (
    ANY_PROFILE,
    Ansi,
    ArgSpec,
    Attrs,
    Buffer,
    CallStep,
    DataExport,
    EventPattern,
    Expected,
    HandleArray,
    LargeInt,
    Lit,
    OutSlot,
    Ref,
    Routine,
    Scenario,
    SelfKThread,
    Step,
    ThreadProgram,
    TraceExpect,
    for_profile,
)
from x360k.status import status_name
from x360k.trace.event import TraceEvent
from x360k.trace.recorder import MemoryRecorder, Recorder, TeeRecorder
from x360k.trace.text_form import format_event
from x360k.wedge import WedgeReport

#: Calls a run may make when neither the scenario nor the caller sets a limit.
DEFAULT_MAX_CALLS: Final = 1_000_000
#: How many events pass between two progress callbacks.
PROGRESS_EVERY: Final = 4096


class Failure(msgspec.Struct, frozen=True):
    """One expectation that did not hold, at the line that states it."""

    file: str
    line: int
    message: str

    def render(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ThreadSummary(msgspec.Struct, frozen=True):
    tid: int
    program: str
    thread_id: int
    state: str
    exit_code: int | None
    calls: int


class ScenarioResult(msgspec.Struct, kw_only=True):
    """Everything ``x360k run`` reports about one run of one scenario."""

    file: str
    name: str
    description: str
    profile: str
    outcome: str
    expected_outcome: str
    ok: bool
    calls: int
    clock: int
    threads: list[ThreadSummary]
    handles_created: int
    handles_destroyed: int
    objects_alive: int
    objects_alive_types: dict[str, int]
    failures: list[Failure]
    warnings: list[str]
    wedge: WedgeReport | None = None
    trace_file: str | None = None
    #: (thread ordinal, text) of each DbgPrint, in call order: what a debugger would show.
    debug_output: list[tuple[int, str]] = msgspec.field(default_factory=list)


class _ProgressRecorder:
    """Passes events on and calls ``tick(calls, clock)`` every few thousand of them."""

    def __init__(self, inner: Recorder, kernel: Kernel, tick: Callable[[int, int], None]) -> None:
        self.inner = inner
        self.kernel = kernel
        self.tick = tick
        self.count = 0

    def record(self, event: TraceEvent) -> None:
        self.inner.record(event)
        self.count += 1
        if self.count % PROGRESS_EVERY == 0:
            self.tick(self.kernel.calls, self.kernel.clock)

    def close(self) -> None:
        self.inner.close()


@dataclass(slots=True)
class _Failures:
    """Failures by line: the first message and how often the line failed (loops repeat)."""

    file: str
    first: dict[int, str] = field(default_factory=dict)
    times: Counter[int] = field(default_factory=Counter)

    def add(self, line: int, message: str) -> None:
        self.first.setdefault(line, message)
        self.times[line] += 1

    def render(self) -> list[Failure]:
        out = []
        for line, message in self.first.items():
            n = self.times[line]
            out.append(Failure(self.file, line, message + (f" ({n} times)" if n > 1 else "")))
        return out


def run_scenario(
    scenario: Scenario,
    *,
    profile: str | None = None,
    quirks: dict[str, bool] | None = None,
    recorder: Recorder | None = None,
    max_calls: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScenarioResult:
    """Run ``scenario`` once under ``profile`` (default: its first) and check it.

    ``recorder`` also receives every trace event (a file writer); ``progress``
    is called now and then with (calls, virtual clock). Raises
    :class:`ScenarioError` only for what the file cannot show statically: a
    name another thread had not bound yet when a step needed it.
    """
    return _Run(scenario, profile or scenario.profiles[0], quirks or {}).run(
        recorder, max_calls, progress
    )


class _Run:
    def __init__(self, scenario: Scenario, profile: str, quirks: dict[str, bool]) -> None:
        self.scenario = scenario
        self.profile = profile
        self.memory_trace = MemoryRecorder()
        merged = {**scenario.quirks, **quirks}
        self.k = Kernel(
            profile,  # type: ignore[arg-type]
            quirks=merged,
            recorder=self.memory_trace,
            wait_events=scenario.wait_events,
        )
        self.startup_serial = max(self.k.table.live_objects, default=0)
        self.bindings: dict[str, int] = {}
        self.bound_at: dict[str, tuple[str, int]] = {}
        self.program_of: dict[int, str] = {0: scenario.main.name}
        self.step_line: dict[int, int] = {}
        self.reached: set[int] = set()
        self.failures = _Failures(scenario.file)
        self.routines: dict[str, int] = {}
        for program in scenario.threads[1:]:
            self.routines[program.name] = self.k.register_routine(self._factory(program))

    def _factory(self, program: ThreadProgram) -> Callable[[Thread, tuple[int, ...]], Program]:
        def start(thread: Thread, args: tuple[int, ...]) -> Program:
            # A routine run on a thread that already has a program (an APC, a DPC) leaves
            # the thread named after the program it started with.
            self.program_of.setdefault(thread.ordinal, program.name)
            return self._program(program, thread)

        return start

    # -- running --------------------------------------------------------------------------------

    def run(
        self,
        recorder: Recorder | None,
        max_calls: int | None,
        progress: Callable[[int, int], None] | None,
    ) -> ScenarioResult:
        sink: Recorder = self.memory_trace
        if recorder is not None:
            sink = TeeRecorder(self.memory_trace, recorder)
        if progress is not None:
            sink = _ProgressRecorder(sink, self.k, progress)
        self.k.recorder = sink
        k = self.k
        k.start_main(self._program(self.scenario.main, k.main_thread))
        limit = max_calls or self.scenario.max_calls or DEFAULT_MAX_CALLS
        try:
            result = k.run(max_calls=limit, max_time=self.scenario.max_time)
        except GuestFault as fault:
            # x360k stopped the run where the kernel would use freed memory (kernel_stop).
            line = self.step_line.get(fault.report.tid, self.scenario.main.line)
            self.failures.add(line, fault.report.reason)
            result = RunResult("fault", k.calls, k.clock)
        if progress is not None:
            progress(k.calls, k.clock)
        return self._result(result)

    def _program(self, program: ThreadProgram, t: Thread) -> Program:
        yield from self._steps(program.steps, t)
        return 0

    def _steps(self, steps: list[Step], t: Thread) -> Iterator[tuple[str | int, tuple[int, ...]]]:
        for step in steps:
            if isinstance(step, CallStep):
                yield from self._call(step, t)
            else:
                for _ in range(step.count):
                    yield from self._steps(step.steps, t)

    def _call(self, step: CallStep, t: Thread) -> Iterator[tuple[str | int, tuple[int, ...]]]:
        outs: dict[str, int] = {}
        params = self.k.exports.get(step.export).params
        args = []
        for param, spec in zip(params, step.args, strict=True):
            try:
                value = self._build(spec, t, step)
            except MemoryError as exc:  # the scenario asked for more guest memory than exists
                raise ScenarioError(
                    self.scenario.file, step.line, f"{step.export} {param.name}: {exc}"
                ) from None
            if isinstance(spec, OutSlot):
                outs[param.name] = value
            args.append(value)
        self.step_line[t.ordinal] = step.line
        r3 = yield (step.export, tuple(args))
        r3 = (r3 or 0) & 0xFFFFFFFF
        written = {name: self.k.memory.read_u32(ptr) for name, ptr in outs.items()}
        who = self.program_of.get(t.ordinal, str(t.ordinal))
        for param_name, bind in step.binds.items():
            if param_name in written:
                self.bindings[bind] = written[param_name]
                self.bound_at[bind] = (who, step.line)
        self._check_step(step, r3, written)

    def _build(self, spec: ArgSpec, t: Thread, step: CallStep) -> int:
        mem = self.k.memory
        if isinstance(spec, Lit):
            return spec.value
        if isinstance(spec, Ref):
            return self._lookup(spec.name, spec.line)
        if isinstance(spec, OutSlot):
            return mem.alloc(4, 4)
        if isinstance(spec, Attrs):
            root = self._build(spec.root, t, step)
            return mem.new_object_attributes(spec.name, root=root, attributes=spec.attributes)
        if isinstance(spec, Ansi):
            return mem.new_ansi_string(spec.text)
        if isinstance(spec, LargeInt):
            ptr = mem.alloc(8, 8)
            mem.write_s64(ptr, spec.value)
            return ptr
        if isinstance(spec, HandleArray):
            ptr = mem.alloc(max(4 * len(spec.items), 4), 4)
            for i, item in enumerate(spec.items):
                mem.write_u32(ptr + 4 * i, self._build(item, t, step))
            return ptr
        if isinstance(spec, Buffer):
            ptr = mem.alloc(max(spec.size, 1), 8)
            mem.write_bytes(ptr, spec.data)
            return ptr
        if isinstance(spec, Routine):
            return self.routines.get(spec.thread, 0)
        if isinstance(spec, DataExport):
            return self.k.data_exports[spec.name]
        if isinstance(spec, SelfKThread):
            return t.kthread
        raise AssertionError(f"unhandled argument spec {spec!r}")

    def _lookup(self, name: str, line: int) -> int:
        value = self.bindings.get(name)
        if value is None:
            raise ScenarioError(
                self.scenario.file,
                line,
                f"{name!r} is not bound yet when this step runs (another thread binds it later; "
                "make this thread wait for it first)",
            )
        return value

    # -- expectations ---------------------------------------------------------------------------

    def _accepts(self, expected: Expected, value: int) -> bool:
        if value in expected.values:
            return True
        return any(self.bindings.get(ref) == value for ref in expected.refs)

    def _show_expected(self, expected: Expected, status: bool) -> str:
        shown = [self._show(v, status) for v in expected.values]
        shown += [f"{ref} (= {self._show_ref(ref)})" for ref in expected.refs]
        return " or ".join(shown)

    def _show_ref(self, ref: str) -> str:
        value = self.bindings.get(ref)
        return "unbound" if value is None else f"0x{value:08X}"

    @staticmethod
    def _show(value: int, status: bool) -> str:
        if status:
            name = status_name(value)
            return name if name.startswith("0x") else f"{name} (0x{value:08X})"
        return f"0x{value:08X}" if value > 0xFFFF else str(value)

    def _check_step(self, step: CallStep, r3: int, written: dict[str, int]) -> None:
        expected = for_profile(step.expect, self.profile)
        if expected is not None:
            self.reached.add(step.expect_line)
            if not self._accepts(expected, r3):
                status = step.returns == Returns.STATUS.value
                self.failures.add(
                    step.expect_line,
                    f"{step.export} returned {self._show(r3, status)}, expected "
                    f"{self._show_expected(expected, status)}",
                )
        outs = for_profile(step.expect_out, self.profile)
        if outs is not None:
            self.reached.add(step.expect_out_line)
            for param_name, want in outs.items():
                got = written.get(param_name)
                if got is None:
                    self.failures.add(
                        step.expect_out_line, f"{step.export}: {param_name} was not written"
                    )
                elif not self._accepts(want, got):
                    label = step.binds.get(param_name, param_name)
                    self.failures.add(
                        step.expect_out_line,
                        f"{step.export} wrote {label} = {self._show(got, False)}, expected "
                        f"{self._show_expected(want, False)}",
                    )

    def _unreached(self, outcome: str) -> None:
        for program in self.scenario.threads:
            for step in iter_calls(program.steps):
                lines = []
                if for_profile(step.expect, self.profile) is not None:
                    lines.append(step.expect_line)
                if for_profile(step.expect_out, self.profile) is not None:
                    lines.append(step.expect_out_line)
                for line in lines:
                    if line not in self.reached:
                        self.failures.add(
                            line,
                            f"{step.export} (thread {program.name!r}) never returned here, so "
                            f"this expectation was not checked (run ended: {outcome})",
                        )

    def _check_run(self, result: RunResult, alive: int, alive_types: dict[str, int]) -> str:
        ex = self.scenario.expect
        expected_outcome = for_profile(ex.outcome, self.profile) or "finished"
        if result.outcome != expected_outcome:
            if result.outcome == "wedge" and result.wedge is not None:
                for blocked in result.wedge.blocked:
                    line = self.step_line.get(blocked.tid, self.scenario.main.line)
                    who = self.program_of.get(blocked.tid, "?")
                    self.failures.add(
                        line,
                        f"unexpected wedge: thread {who!r} (tid {blocked.tid}) is blocked here "
                        f"forever (expected outcome: {expected_outcome})",
                    )
            else:
                self.failures.add(
                    ex.outcome_line or 1,
                    f"run ended with outcome {result.outcome!r} after {result.calls} calls, "
                    f"expected {expected_outcome!r}",
                )
        want_alive = for_profile(ex.objects_alive, self.profile)
        if want_alive is not None and want_alive != alive:
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(alive_types.items())) or "none"
            self.failures.add(
                ex.objects_alive_line,
                f"{alive} object(s) alive at the end ({kinds}), expected {want_alive}",
            )
        for profile in (ANY_PROFILE, self.profile):
            for expectation in ex.trace.get(profile, []):
                message = self._check_trace(expectation)
                if message is not None:
                    self.failures.add(expectation.line, message)
        return expected_outcome

    # -- trace fragments ------------------------------------------------------------------------

    def _tids(self, thread: str | int) -> list[int]:
        if isinstance(thread, int):
            return [thread]
        return sorted(tid for tid, name in self.program_of.items() if name == thread)

    def _matches(self, event: TraceEvent, pattern: EventPattern) -> bool:
        if event.kind != pattern.kind:
            return False
        for key, want in pattern.fields.items():
            if key.startswith("arg."):
                position = int(key[4:])
                args = event.args or []
                if position >= len(args):
                    return False
                wanted = self.bindings.get(want) if isinstance(want, str) else want
                if wanted is None or int(args[position], 16) != wanted:
                    return False
                continue
            got = getattr(event, key)
            if key in ("args", "objects"):
                got = ",".join(got or [])
            if isinstance(want, str) and isinstance(got, int):
                bound = self.bindings.get(want)
                if bound is None or (got & 0xFFFFFFFF) != bound:
                    return False
            elif isinstance(want, int) and isinstance(got, int):
                if key in ("status", "ret", "handle"):
                    got &= 0xFFFFFFFF
                if got != want:
                    return False
            elif got != want:
                return False
        return True

    def _check_trace(self, expectation: TraceExpect) -> str | None:
        tids = self._tids(expectation.thread)
        where = (
            f"thread {expectation.thread!r}"
            if isinstance(expectation.thread, str)
            else f"tid {expectation.thread}"
        )
        patterns = expectation.fragment
        best: tuple[int, int, int] = (-1, 0, 0)  # matched length, tid, position
        for tid in tids:
            events = self.memory_trace.thread(tid)
            for start in range(len(events)):
                n = 0
                while (
                    n < len(patterns)
                    and start + n < len(events)
                    and self._matches(events[start + n], patterns[n])
                ):
                    n += 1
                if n == len(patterns):
                    if expectation.absent:
                        return (
                            f"trace fragment expected absent but found in {where} (tid {tid}) "
                            f"at [{events[start].idx}]"
                        )
                    return None
                if n > best[0]:
                    best = (n, tid, start)
        if expectation.absent:
            return None
        if not tids:
            return f"trace fragment not found: {where} never ran"
        n, tid, start = best
        events = self.memory_trace.thread(tid)
        if n <= 0:
            return f"trace fragment not found in {where}: no event matches {patterns[0].text!r}"
        got = events[start + n] if start + n < len(events) else None
        shown = format_event(got) if got is not None else "the end of the thread"
        return (
            f"trace fragment not found in {where}: the longest match (tid {tid}, from "
            f"[{events[start].idx}]) stops at {patterns[n].text!r}; the trace has {shown}"
        )

    # -- result ---------------------------------------------------------------------------------

    def _result(self, result: RunResult) -> ScenarioResult:
        k = self.k
        alive_objects = [
            obj
            for serial, obj in k.table.live_objects.items()
            if serial > self.startup_serial and not is_kernel_object(obj)
        ]
        alive_types = dict(Counter(obj.TYPE for obj in alive_objects))
        expected_outcome = self._check_run(result, len(alive_objects), alive_types)
        self._unreached(result.outcome)
        kinds = Counter(e.kind for e in self.memory_trace.events)
        calls = Counter(e.tid for e in self.memory_trace.events if e.kind == "kernel.call")
        threads = [
            ThreadSummary(
                tid=t.ordinal,
                program=self.program_of.get(t.ordinal) or worker_label(k, t) or "?",
                thread_id=t.thread_id,
                state=t.state.value,
                exit_code=t.exit_code,
                calls=calls[t.ordinal],
            )
            for t in k.threads
        ]
        failures = sorted(self.failures.render(), key=lambda f: f.line)
        return ScenarioResult(
            file=self.scenario.file,
            name=self.scenario.name,
            description=self.scenario.description,
            profile=self.profile,
            outcome=result.outcome,
            expected_outcome=expected_outcome,
            ok=not failures,
            calls=result.calls,
            clock=result.clock,
            threads=threads,
            handles_created=kinds["handle.create"],
            handles_destroyed=kinds["handle.destroy"],
            objects_alive=len(alive_objects),
            objects_alive_types=alive_types,
            failures=failures,
            warnings=list(self.scenario.warnings),
            wedge=result.wedge,
            debug_output=list(debug_output(k)),
        )
