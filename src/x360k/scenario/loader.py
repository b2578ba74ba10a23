"""Read a scenario YAML file into :class:`~x360k.scenario.schema.Scenario`, line by line.

The file is read with PyYAML's ``compose`` (nodes, not plain data) so every
step, argument and expectation keeps the line it came from; every problem
becomes one :class:`ScenarioError` naming that line. Arguments are checked
against the parameters the export registry declares, so a scenario cannot
pass an argument an export does not take or forget one it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from x360k.clock import SYSTEM_TIME_BASE
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.exports.registry import Export, P, Param, Registry, Returns, UnknownExportError
from x360k.exports.table import all_exports
from x360k.quirks import PROFILES, QUIRK_TABLE
from x360k.scenario.errors import ScenarioError
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
    RepeatStep,
    Routine,
    RunExpect,
    Scenario,
    SelfKThread,
    Step,
    ThreadProgram,
    TraceExpect,
)
from x360k.scenario.values import (
    CONSTANTS,
    DEFAULTS,
    IDENTIFIER,
    INFINITE_WORDS,
    LARGE_RANGE,
    OBJ_CASE_INSENSITIVE,
    OBJ_OPENIF,
    PSEUDO_HANDLES,
    WORD_RANGE,
    in_range,
    parse_duration,
    parse_int_text,
    word,
)
from x360k.scenario.yaml_nodes import NodeReader, did_you_mean, line_of
from x360k.status import BY_NAME, parse_status
from x360k.trace.event import FIELDS, KINDS

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
RUN_EXPECT_KEYS: Final = ("outcome", "objects_alive", "trace")
TRACE_KEYS: Final = ("thread", "fragment", "absent", "profile", "note")
OUTCOMES: Final = ("finished", "wedge", "limit")
OUT_KINDS: Final = frozenset({P.OUT_HANDLE, P.OUT_U32})
#: Trace event fields holding integers (patterns compare them as numbers).
_INT_FIELDS: Final = frozenset(
    {"ordinal", "call_id", "ret_addr", "status", "ret", "handle", "raw_tid"}
    | {"child_tid", "child_raw_tid", "entry", "ts", "offset", "length"}
)
SCRATCH_SIZE: Final = 64


#: ObWin32NamedObjectsDirectory(): the root titles name their objects under.
NAMED_OBJECTS_ROOT: Final = 0xFFFFFFFC


def _root_for(name: str | None) -> Lit:
    """The RootDirectory an attributes entry gets when it names none.

    A relative name gets the named-objects root, as the title library passes
    it (canary ignores roots; the console needs one for a relative name); an
    absolute name (leading backslash) or no name gets 0.
    """
    if name and not name.startswith("\\"):
        return Lit(NAMED_OBJECTS_ROOT)
    return Lit(0)


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


@dataclass(slots=True)
class _Use:
    name: str
    thread: str
    order: int
    line: int


@dataclass(slots=True)
class _Loader(NodeReader):
    registry: Registry
    thread_names: dict[str, int] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    binds: dict[str, list[_Use]] = field(default_factory=dict)
    refs: list[_Use] = field(default_factory=list)
    late_refs: list[_Use] = field(default_factory=list)
    in_thread: str = ""
    order: int = 0

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
                _Use(bind_name, self.in_thread, self.order, line_of(node))
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

    def bind_name(self, node: Node) -> str:
        name = self.value(node)
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
            raise self.error(node, f"a bound name must be a plain identifier, not {name!r}")
        if name in PSEUDO_HANDLES or name.lower() in INFINITE_WORDS:
            raise self.error(node, f"{name!r} is a reserved word; bind another name")
        return name

    # -- arguments ------------------------------------------------------------------------------

    def argument(
        self, ex: Export, param: Param, node: Node | None, entries: dict[str, Node], step: Node
    ) -> ArgSpec:
        kind = param.kind
        if node is None:
            if kind in OUT_KINDS:
                return OutSlot(None)
            if kind is P.IOSB:
                return Buffer(8)
            if param.name == "count":
                arrays = [
                    entries[p.name]
                    for p in ex.params
                    if p.kind in (P.HANDLE_ARRAY, P.OBJECT_ARRAY) and p.name in entries
                ]
                if arrays and isinstance(arrays[0], SequenceNode):
                    return Lit(len(arrays[0].value))
            if param.optional:
                return Lit(0)
            if param.name in DEFAULTS:
                return Lit(DEFAULTS[param.name])
            raise self.error(
                step, f"{ex.name}: missing argument {param.name!r} ({self.describe(param)})"
            )
        what = f"{ex.name} argument {param.name!r}"
        if kind in OUT_KINDS:
            return self.out_argument(node, what)
        if kind is P.HANDLE:
            return self.handle(node, what)
        if kind in (P.U32, P.S32, P.BOOL, P.CONTEXT):
            return self.number(node, param, what)
        if kind is P.ATTRS:
            return self.attributes(node, what)
        if kind is P.ANSI_STRING:
            return self.ansi(node, what)
        if kind in (P.TIMEOUT, P.LARGE_INTEGER):
            return self.large_integer(node, what)
        if kind is P.HANDLE_ARRAY:
            return self.array(node, what, self.handle)
        if kind is P.OBJECT_ARRAY:
            return self.array(node, what, self.pointer)
        if kind is P.ROUTINE:
            return self.routine(node, what)
        if kind is P.BUFFER:
            return self.buffer(node, what)
        if kind is P.IOSB:
            return self.pointer(node, what)
        return self.pointer(node, what)

    @staticmethod
    def describe(param: Param) -> str:
        hints = {
            P.HANDLE: "a bound name, current_thread, current_process or a number",
            P.TIMEOUT: "a duration like 100ms, 0, or infinite",
            P.LARGE_INTEGER: "a duration like -10ms or a 100 ns count",
            P.ROUTINE: "the name of a thread program in this scenario",
            P.ATTRS: "an object name, or null",
            P.ANSI_STRING: "a string",
            P.HANDLE_ARRAY: "a list of handles",
            P.BOOL: "true or false",
        }
        constants = CONSTANTS.get(param.name)
        if constants:
            return f"a number or one of {', '.join(constants)}"
        return hints.get(param.kind, "a number")

    def word(self, node: Node, value: object, what: str) -> Lit | None:
        """A 32-bit literal for an integer (not a bool) or integer text; None for anything else.

        Handle, number and pointer arguments all accept these spellings before their own
        words. A number outside the 32-bit range is an error naming it, never cut to fit.
        """
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            number = parse_int_text(value)
        if number is None:
            return None
        try:
            return Lit(word(number, what))
        except ValueError as exc:
            raise self.error(node, str(exc)) from None

    def checked(self, node: Node, number: int, bounds: tuple[int, int], what: str) -> int:
        """``number`` when it fits ``bounds``, else an error at ``node`` naming the range."""
        try:
            return in_range(number, bounds, what)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None

    def reference(self, node: Node, name: str) -> Ref:
        self.refs.append(_Use(name, self.in_thread, self.order, line_of(node)))
        return Ref(name, line_of(node))

    def out_argument(self, node: Node, what: str) -> ArgSpec:
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, int) and not isinstance(value, bool):
            return Lit(self.checked(node, value, WORD_RANGE, what) & 0xFFFFFFFF)
        return OutSlot(self.bind_name(node))

    def handle(self, node: Node, what: str) -> Lit | Ref:
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, bool):
            raise self.error(node, f"{what} must be a handle, not {value!r}")
        word = self.word(node, value, what)
        if word is not None:
            return word
        if isinstance(value, str):
            if value.lower() in PSEUDO_HANDLES:
                return Lit(PSEUDO_HANDLES[value.lower()])
            if IDENTIFIER.fullmatch(value):
                return self.reference(node, value)
        raise self.error(
            node, f"{what}: {value!r} is not a bound name, a pseudo-handle or a number"
        )

    def number(self, node: Node, param: Param, what: str) -> Lit | Ref:
        constants = CONSTANTS.get(param.name, {})
        if isinstance(node, SequenceNode) and constants:
            total = 0
            for item in node.value:
                word = self.value(item)
                if not isinstance(word, str) or word.lower() not in constants:
                    raise self.error(item, f"{what}: {word!r} is not one of {', '.join(constants)}")
                total |= constants[word.lower()]
            return Lit(total)
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, bool):
            return Lit(int(value))
        word = self.word(node, value, what)
        if word is not None:
            return word
        if isinstance(value, str):
            if value.lower() in constants:
                return Lit(constants[value.lower()])
            if IDENTIFIER.fullmatch(value) and not constants:
                return self.reference(node, value)
            if constants:
                raise self.error(
                    node,
                    f"{what}: {value!r} is not a number or one of "
                    f"{', '.join(constants)}{did_you_mean(value.lower(), list(constants))}",
                )
        raise self.error(node, f"{what} must be a number, not {value!r}")

    def pointer(self, node: Node, what: str) -> Lit | Ref | SelfKThread:
        value = self.value(node)
        if value is None:
            return Lit(0)
        word = self.word(node, value, what)
        if word is not None:
            return word
        if isinstance(value, str):
            if value == "current_thread":
                return SelfKThread()
            if IDENTIFIER.fullmatch(value):
                return self.reference(node, value)
        raise self.error(node, f"{what}: {value!r} is not a bound name or an address")

    def attributes(self, node: Node, what: str) -> ArgSpec:
        if isinstance(node, MappingNode):
            entries = self.mapping(node, what, ("name", "root", "attributes", "openif"))
            name = self.string(entries["name"], "name") if "name" in entries else None
            root = self.handle(entries["root"], "root") if "root" in entries else _root_for(name)
            flags = (
                self.integer(entries["attributes"], "attributes", 0)
                if "attributes" in entries
                else OBJ_CASE_INSENSITIVE
            )
            if "openif" in entries and self.boolean(entries["openif"], "openif"):
                flags |= OBJ_OPENIF
            return Attrs(name, root, flags)
        return self.text_or_pointer(
            node,
            what,
            lambda name: Attrs(name, _root_for(name), OBJ_CASE_INSENSITIVE),
            "an object name, a mapping or null",
        )

    def ansi(self, node: Node, what: str) -> ArgSpec:
        return self.text_or_pointer(node, what, Ansi, "a string or null")

    def text_or_pointer(
        self, node: Node, what: str, wrap: Callable[[str], ArgSpec], accepted: str
    ) -> ArgSpec:
        """Null, text the runner places in guest memory (``wrap``), or a raw guest address."""
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, str):
            return wrap(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return Lit(self.checked(node, value, WORD_RANGE, what) & 0xFFFFFFFF)
        raise self.error(node, f"{what} must be {accepted}")

    def large_integer(self, node: Node, what: str) -> ArgSpec:
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, bool):
            raise self.error(node, f"{what} must be a duration, not {value!r}")
        if isinstance(value, int):
            return LargeInt(self.checked(node, value, LARGE_RANGE, what))
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in INFINITE_WORDS:
                return Lit(0)
            number = parse_int_text(text)
            if number is not None:
                return LargeInt(self.checked(node, number, LARGE_RANGE, what))
            absolute = text.lower().startswith("at ")
            try:
                ticks = abs(parse_duration(text[3:] if absolute else text))
            except ValueError as exc:
                raise self.error(node, f"{what}: {exc}") from None
            if absolute:
                return LargeInt(self.checked(node, SYSTEM_TIME_BASE + ticks, LARGE_RANGE, what))
            return LargeInt(self.checked(node, -ticks, LARGE_RANGE, what))
        raise self.error(node, f"{what} must be a duration like 100ms, not {value!r}")

    def array(self, node: Node, what: str, item: Any) -> ArgSpec:
        if isinstance(node, ScalarNode):
            if self.value(node) is None:
                return Lit(0)
            raise self.error(node, f"{what} must be a list, e.g. [ev1, ev2]")
        items = [item(n, what) for n in self.sequence(node, what)]
        return HandleArray(items)

    def routine(self, node: Node, what: str) -> ArgSpec:
        value = self.value(node)
        if value is None:
            return Lit(0)
        if isinstance(value, int) and not isinstance(value, bool):
            return Lit(self.checked(node, value, WORD_RANGE, what) & 0xFFFFFFFF)
        if isinstance(value, str):
            if value in self.thread_names:
                self.started.add(value)
                return Routine(value)
            raise self.error(
                node,
                f"{what}: no thread program {value!r} in this scenario"
                f"{did_you_mean(value, list(self.thread_names))} "
                f"(threads: {', '.join(self.thread_names)})",
            )
        raise self.error(node, f"{what} must name a thread program, not {value!r}")

    def buffer(self, node: Node, what: str) -> ArgSpec:
        if isinstance(node, MappingNode):
            entries = self.mapping(node, what, ("size", "data"))
            data = self.string(entries["data"], "data").encode() if "data" in entries else b""
            size = self.integer(entries["size"], "size", 0) if "size" in entries else len(data)
            return Buffer(max(size, len(data)), data)
        value = self.value(node)
        if isinstance(value, str):
            if value == "scratch":
                return Buffer(SCRATCH_SIZE)
            if value in OBJECT_TYPE_EXPORTS:
                return DataExport(value)
            return Buffer(len(value.encode()), value.encode())
        return self.pointer(node, what)

    # -- expectations ---------------------------------------------------------------------------

    def per_profile(self, node: Node, parse: Any) -> dict[str, Any]:
        """``X`` for every profile, or ``{canary: X, console: Y}``."""
        if isinstance(node, MappingNode):
            keys = [self.value(k) for k, _ in node.value]
            if keys and all(k in PROFILES for k in keys):
                entries = self.mapping(node, "per-profile values", PROFILES)
                return {p: parse(v) for p, v in entries.items()}
        return {ANY_PROFILE: parse(node)}

    def expected(self, node: Node, status: bool) -> Expected:
        nodes = self.sequence(node, "expect") if isinstance(node, SequenceNode) else [node]
        values: list[int] = []
        refs: list[str] = []
        for item in nodes:
            value = self.value(item)
            if isinstance(value, bool) or value is None:
                raise self.error(item, f"expect: {value!r} is not a status or a number")
            if isinstance(value, int):
                values.append(self.checked(item, value, WORD_RANGE, "expect") & 0xFFFFFFFF)
                continue
            if status:
                values.append(self.status(item, str(value)))
            elif isinstance(value, str) and IDENTIFIER.fullmatch(value):
                refs.append(value)
                # Checked after the call, so the step's own out values count as bound.
                self.late_refs.append(_Use(value, self.in_thread, self.order + 1, line_of(item)))
            else:
                number = parse_int_text(str(value))
                if number is None:
                    raise self.error(item, f"expect: {value!r} is not a number")
                values.append(self.checked(item, number, WORD_RANGE, "expect") & 0xFFFFFFFF)
        return Expected(values, refs)

    def status(self, node: Node, text: str) -> int:
        try:
            return parse_status(text)
        except KeyError:
            upper = text.strip().upper()
            guess = upper if upper.startswith("STATUS_") else "STATUS_" + upper
            raise self.error(
                node, f"unknown status {text!r}{did_you_mean(guess, list(BY_NAME))}"
            ) from None

    def expected_outs(self, ex: Export, binds: dict[str, str], node: Node) -> dict[str, Expected]:
        outs = [p.name for p in ex.params if p.kind in OUT_KINDS]
        allowed = tuple(dict.fromkeys([*binds.values(), *outs]))
        entries = self.mapping(node, "expect_out", allowed)
        by_bind = {v: k for k, v in binds.items()}
        return {
            by_bind.get(key, key): self.expected(value, status=False)
            for key, value in entries.items()
        }

    def run_expect(self, node: Node) -> RunExpect:
        if isinstance(node, ScalarNode):
            only: dict[str, Any] = {ANY_PROFILE: self.outcome(node)}
            return RunExpect(outcome=only, outcome_line=line_of(node))
        entries = self.mapping(node, "expect", RUN_EXPECT_KEYS)
        outcome: dict[str, Any] = {}
        alive: dict[str, Any] = {}
        if "outcome" in entries:
            outcome = self.per_profile(entries["outcome"], self.outcome)
        if "objects_alive" in entries:
            alive = self.per_profile(
                entries["objects_alive"], lambda n: self.integer(n, "objects_alive", 0)
            )
        trace: dict[str, list[TraceExpect]] = {}
        if "trace" in entries:
            self.in_thread = ""
            for item in self.sequence(entries["trace"], "expect trace"):
                profile, expectation = self.trace_expect(item)
                trace.setdefault(profile, []).append(expectation)
        return RunExpect(
            outcome=outcome,
            outcome_line=line_of(entries["outcome"]) if "outcome" in entries else 0,
            objects_alive=alive,
            objects_alive_line=line_of(entries["objects_alive"])
            if "objects_alive" in entries
            else 0,
            trace=trace,
        )

    def outcome(self, node: Node) -> str:
        value = self.string(node, "outcome")
        if value not in OUTCOMES:
            raise self.error(
                node,
                f"unknown outcome {value!r}{did_you_mean(value, OUTCOMES)} "
                f"(expected one of: {', '.join(OUTCOMES)})",
            )
        return value

    def trace_expect(self, node: Node) -> tuple[str, TraceExpect]:
        entries = self.mapping(node, "a trace expectation", TRACE_KEYS)
        if "fragment" not in entries:
            raise self.error(node, "a trace expectation needs 'fragment:' (events in order)")
        thread: str | int = 0
        if "thread" in entries:
            value = self.value(entries["thread"])
            is_number = isinstance(value, int) and not isinstance(value, bool)
            if is_number or (isinstance(value, str) and value in self.thread_names):
                thread = value
            else:
                raise self.error(
                    entries["thread"],
                    f"thread {value!r} is neither a thread program of this scenario"
                    f"{did_you_mean(str(value), list(self.thread_names))} nor a thread number",
                )
        profile = ANY_PROFILE
        if "profile" in entries:
            profile = self.string(entries["profile"], "profile")
            if profile not in PROFILES:
                raise self.error(entries["profile"], f"unknown profile {profile!r}")
        fragment_node = entries["fragment"]
        items = (
            self.sequence(fragment_node, "fragment")
            if isinstance(fragment_node, SequenceNode)
            else [fragment_node]
        )
        if not items:
            raise self.error(fragment_node, "'fragment:' is empty")
        patterns = [self.pattern(item) for item in items]
        absent = self.boolean(entries["absent"], "absent") if "absent" in entries else False
        return profile, TraceExpect(line_of(node), thread, patterns, absent)

    def pattern(self, node: Node) -> EventPattern:
        """``kind [name] [field=value ...]`` (the ``x360k trace show`` form without ``[idx]``)."""
        if isinstance(node, MappingNode):
            entries = self.mapping(node, "an event pattern", ())
            if "kind" not in entries:
                raise self.error(node, "an event pattern needs 'kind:'")
            tokens = [self.string(entries["kind"], "kind")]
            for key, value in entries.items():
                if key != "kind":
                    tokens.append(f"{key}={self.value(value)}")
            text = " ".join(tokens)
        else:
            text = self.string(node, "an event pattern")
            tokens = text.split()
        if not tokens:
            raise self.error(node, "empty event pattern")
        kind = tokens[0]
        if kind not in KINDS:
            raise self.error(node, f"unknown event kind {kind!r}{did_you_mean(kind, KINDS)}")
        fields: dict[str, str | int] = {}
        for position, token in enumerate(tokens[1:]):
            if "=" not in token:
                if position == 0:
                    fields["name"] = token
                    continue
                raise self.error(node, f"expected field=value in event pattern, not {token!r}")
            key, _, raw = token.partition("=")
            param = self.call_param(kind, fields.get("name"), key)
            if param is not None:
                fields[f"arg.{param}"] = self.arg_value(node, raw)
                continue
            if key not in FIELDS or key in ("tid", "idx", "kind"):
                raise self.error(node, f"unknown event field {key!r}{did_you_mean(key, FIELDS)}")
            fields[key] = self.field_value(node, key, raw)
        return EventPattern(text, kind, fields)

    def call_param(self, kind: str, name: str | int | None, key: str) -> int | None:
        """The argument position ``key`` names in a ``kernel.call NAME`` pattern, if it does."""
        if kind != "kernel.call" or not isinstance(name, str):
            return None
        ex = self.registry.find(name)
        if ex is None:
            return None
        for i, param in enumerate(ex.params):
            if param.name == key:
                return i
        return None

    def arg_value(self, node: Node, raw: str) -> str | int:
        number = parse_int_text(raw)
        if number is not None:
            return self.checked(node, number, WORD_RANGE, f"argument value {raw}") & 0xFFFFFFFF
        if raw.lower() in PSEUDO_HANDLES:
            return PSEUDO_HANDLES[raw.lower()]
        if IDENTIFIER.fullmatch(raw):
            self.late_refs.append(_Use(raw, "", 0, line_of(node)))
            return raw
        raise self.error(node, f"argument value {raw!r}: expected a number or a bound name")

    def field_value(self, node: Node, key: str, raw: str) -> str | int:
        if key not in _INT_FIELDS:
            return raw
        number = parse_int_text(raw)
        if number is not None:
            if key in ("status", "ret", "handle"):
                return self.checked(node, number, WORD_RANGE, f"{key}={raw}") & 0xFFFFFFFF
            return number
        upper = raw.upper()
        if key in ("status", "ret") and (
            upper.startswith("STATUS_") or "STATUS_" + upper in BY_NAME
        ):
            return self.status(node, raw)
        if IDENTIFIER.fullmatch(raw):
            self.late_refs.append(_Use(raw, "", 0, line_of(node)))
            return raw
        raise self.error(node, f"{key}={raw}: expected a number or a bound name")

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
