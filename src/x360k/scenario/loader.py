"""Read a scenario YAML file into :class:`~x360k.scenario.schema.Scenario`, line by line.

The file is read with PyYAML's ``compose`` (nodes, not plain data) so every
step, argument and expectation keeps the line it came from; every problem
becomes one :class:`ScenarioError` naming that line. Arguments are checked
against the parameters the export registry declares, so a scenario cannot
pass an argument an export does not take or forget one it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from x360k.exports.registry import Export, Registry, Returns, UnknownExportError
from x360k.exports.table import all_exports
from x360k.quirks import PROFILES, QUIRK_TABLE
from x360k.scenario.arguments import ArgumentReader
from x360k.scenario.errors import ScenarioError
from x360k.scenario.expectations import ExpectationReader
from x360k.scenario.reader_state import OUT_KINDS, Use
from x360k.scenario.schema import (
    ArgSpec,
    CallStep,
    Expected,
    OutSlot,
    RepeatStep,
    RunExpect,
    Scenario,
    Step,
    ThreadProgram,
)
from x360k.scenario.values import (
    IDENTIFIER,
    parse_duration,
)
from x360k.scenario.yaml_nodes import did_you_mean, line_of

TOP_KEYS: Final = (
    "name",
    "description",
    "profile",
    "profiles",
    "quirks",
    "max_calls",
    "max_time",
    "wait_events",
    "threads",
    "expect",
)
STEP_KEYS: Final = ("call", "out", "expect", "expect_out", "note")
REPEAT_KEYS: Final = ("repeat", "steps", "note")


def load_scenario(path: str | Path, registry: Registry | None = None) -> Scenario:
    """Load and check a scenario file; raises :class:`ScenarioError` (file:line: what)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(file, 0, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(file, 1, f"not UTF-8 text ({exc.reason})") from None
    return parse_scenario(text, file, registry)


def parse_scenario(text: str, file: str, registry: Registry | None = None) -> Scenario:
    """Check and decode scenario YAML ``text``; ``file`` is the name errors carry."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError(file, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, 1, f"not valid YAML: {exc}") from None
    if root is None:
        raise ScenarioError(file, 1, "empty file: a scenario needs at least 'threads:'")
    return _Loader(file, registry or Registry(all_exports())).scenario(root)


class _Loader(ArgumentReader, ExpectationReader):
    """The whole reader: the top level, threads and steps, and the bound-name checks."""

    __slots__ = ()

    # -- top level ------------------------------------------------------------------------------

    def scenario(self, root: Node) -> Scenario:
        top = self.mapping(root, "the scenario", TOP_KEYS)
        if "threads" not in top:
            raise self.error(root, "a scenario needs 'threads:' (the first one is the main thread)")
        profiles = self.profiles(top)
        quirks = self.quirks(top["quirks"]) if "quirks" in top else {}
        threads_node = top["threads"]
        entries = self.mapping(threads_node, "threads", ())
        if not entries:
            raise self.error(threads_node, "'threads:' is empty: give at least the main thread")
        key_nodes = self.key_nodes(threads_node)  # type: ignore[arg-type]
        for name, key_node in key_nodes.items():
            if not IDENTIFIER.fullmatch(name):
                raise self.error(key_node, f"thread name {name!r} must be a plain identifier")
            self.thread_names[name] = line_of(key_node)
        threads = [
            ThreadProgram(name, line_of(key_nodes[name]), self.thread(name, node))
            for name, node in entries.items()
        ]
        expect = self.run_expect(top["expect"]) if "expect" in top else RunExpect()
        self.check_refs()
        main = threads[0].name
        warnings = [
            f"{self.file}:{t.line}: thread {t.name!r} is never started (name it as the "
            f"start_address of an ExCreateThread step)"
            for t in threads[1:]
            if t.name not in self.started
        ]
        if main in self.started:
            warnings.append(
                f"{self.file}:{threads[0].line}: thread {main!r} is the main thread and is also "
                "started by ExCreateThread: each start runs its steps again"
            )
        name = self.string(top["name"], "name") if "name" in top else Path(self.file).stem
        description = (
            self.string(top["description"], "description").strip() if "description" in top else ""
        )
        return Scenario(
            file=self.file,
            name=name,
            description=description,
            profiles=profiles,
            quirks=quirks,
            threads=threads,
            expect=expect,
            max_calls=(
                self.integer(top["max_calls"], "max_calls", 1) if "max_calls" in top else None
            ),
            max_time=self.duration(top["max_time"], "max_time") if "max_time" in top else None,
            wait_events=self.boolean(top["wait_events"], "wait_events")
            if "wait_events" in top
            else False,
            warnings=warnings,
        )

    def profiles(self, top: dict[str, Node]) -> list[str]:
        if "profile" in top and "profiles" in top:
            raise self.error(top["profiles"], "give 'profile:' or 'profiles:', not both")
        if "profile" in top:
            nodes = [top["profile"]]
        elif "profiles" in top:
            nodes = self.sequence(top["profiles"], "profiles")
        else:
            return ["canary"]
        out: list[str] = []
        for node in nodes:
            profile = self.string(node, "a profile")
            if profile not in PROFILES:
                raise self.error(
                    node,
                    f"unknown profile {profile!r}{did_you_mean(profile, PROFILES)} "
                    f"(expected one of: {', '.join(PROFILES)})",
                )
            if profile not in out:
                out.append(profile)
        if not out:
            raise self.error(top["profiles"], "'profiles:' is empty")
        return out

    def quirks(self, node: Node) -> dict[str, bool]:
        known = [q.name for q in QUIRK_TABLE]
        entries = self.mapping(node, "quirks", ())
        keys = self.key_nodes(node)  # type: ignore[arg-type]
        out: dict[str, bool] = {}
        for name, value in entries.items():
            if name not in known:
                raise self.error(keys[name], f"unknown quirk {name!r}{did_you_mean(name, known)}")
            out[name] = self.boolean(value, f"quirk {name}")
        return out

    def duration(self, node: Node, what: str) -> int:
        value = self.value(node)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return abs(parse_duration(value))
            except ValueError as exc:
                raise self.error(node, f"{what}: {exc}") from None
        raise self.error(node, f"{what} must be a duration like 100ms, not {value!r}")

    # -- threads and steps ----------------------------------------------------------------------

    def thread(self, name: str, node: Node) -> list[Step]:
        self.in_thread = name
        self.order = 0
        if isinstance(node, ScalarNode) and self.value(node) is None:
            return []
        return [self.step(s) for s in self.sequence(node, f"thread {name!r}")]

    def step(self, node: Node) -> Step:
        if not isinstance(node, MappingNode):
            raise self.error(node, "a step must be a mapping starting with 'call: EXPORT'")
        keys = [str(self.value(k)) for k, _ in node.value]
        if "repeat" in keys:
            entries = self.mapping(node, "a repeat step", REPEAT_KEYS)
            count = self.integer(entries["repeat"], "repeat", 0)
            if "steps" not in entries:
                raise self.error(node, "'repeat: N' needs 'steps:' (the list to repeat)")
            steps = [self.step(s) for s in self.sequence(entries["steps"], "steps")]
            return RepeatStep(count, line_of(node), steps)
        if "call" not in keys:
            raise self.error(node, "a step needs 'call: EXPORT' (or 'repeat: N' with 'steps:')")
        return self.call(node)

    def export(self, node: Node) -> Export:
        key = self.value(node)
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise self.error(node, f"'call:' must name an export, not {key!r}")
        try:
            return self.registry.get(key)
        except UnknownExportError as exc:
            raise self.error(node, str(exc)) from None

    def call(self, node: MappingNode) -> CallStep:
        self.order += 1
        entries: dict[str, Node] = {}
        key_nodes: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, f"step keys must be names, not {key!r}")
            if key in entries:
                raise self.error(key_node, f"duplicate key {key!r} in this step")
            entries[key] = value_node
            key_nodes[key] = key_node
        ex = self.export(entries["call"])
        params = {p.name: p for p in ex.params}
        for key, key_node in key_nodes.items():
            if key not in STEP_KEYS and key not in params:
                names = ", ".join(params) or "none"
                raise self.error(
                    key_node,
                    f"{ex.name} has no argument {key!r}{did_you_mean(key, list(params))} "
                    f"(its arguments: {names})",
                )
        binds = self.out_binds(ex, entries.get("out"))
        args: list[ArgSpec] = []
        for param in ex.params:
            given = entries.get(param.name)
            if given is not None and param.name in binds:
                raise self.error(
                    given, f"{param.name!r} is given both here and in 'out:'; use one of them"
                )
            spec = self.argument(ex, param, given, entries, node)
            if isinstance(spec, OutSlot) and spec.bind is not None:
                binds[param.name] = spec.bind
            if param.name in binds:
                spec = OutSlot(binds[param.name])
            args.append(spec)
        for bind_name in binds.values():
            self.binds.setdefault(bind_name, []).append(
                Use(bind_name, self.in_thread, self.order, line_of(node))
            )
        expect: dict[str, Expected] = {}
        expect_line = 0
        if "expect" in entries:
            if ex.returns is Returns.VOID:
                raise self.error(entries["expect"], f"{ex.name} returns nothing to expect")
            expect = self.per_profile(
                entries["expect"], lambda n: self.expected(n, ex.returns is Returns.STATUS)
            )
            expect_line = line_of(entries["expect"])
        expect_out: dict[str, dict[str, Expected]] = {}
        expect_out_line = 0
        if "expect_out" in entries:
            expect_out = self.per_profile(
                entries["expect_out"], lambda n: self.expected_outs(ex, binds, n)
            )
            expect_out_line = line_of(entries["expect_out"])
        return CallStep(
            export=ex.name,
            line=line_of(node),
            args=args,
            binds=binds,
            returns=ex.returns.value,
            expect=expect,
            expect_line=expect_line,
            expect_out=expect_out,
            expect_out_line=expect_out_line,
        )

    def out_binds(self, ex: Export, node: Node | None) -> dict[str, str]:
        outs = [p.name for p in ex.params if p.kind in OUT_KINDS]
        if node is None:
            return {}
        if not outs:
            raise self.error(node, f"{ex.name} writes no out parameter to bind")
        if isinstance(node, ScalarNode):
            return {outs[0]: self.bind_name(node)}
        entries = self.mapping(node, "'out:'", tuple(outs))
        return {param: self.bind_name(value) for param, value in entries.items()}

    # -- bound names ----------------------------------------------------------------------------

    def check_refs(self) -> None:
        """Names never bound, or bound only later in the same thread, are errors now.

        A name bound by another thread is accepted here and checked when the step
        runs: whether that thread has bound it by then depends on the schedule.
        """
        for use in [*self.refs, *self.late_refs]:
            binds = self.binds.get(use.name)
            if not binds:
                raise self.error(
                    use.line,
                    f"{use.name!r} is used but never bound (bind it with 'out: {use.name}' on an "
                    f"earlier step){did_you_mean(use.name, list(self.binds))}",
                )
            if not use.thread:
                continue
            if any(b.thread != use.thread or b.order < use.order for b in binds):
                continue
            raise self.error(
                use.line,
                f"{use.name!r} is used before it is bound (it is bound at line {binds[0].line})",
            )


def iter_calls(steps: list[Step]) -> Iterator[CallStep]:
    """Every call step, repeats flattened once (for listings and checks)."""
    for step in steps:
        if isinstance(step, RepeatStep):
            yield from iter_calls(step.steps)
        else:
            yield step
