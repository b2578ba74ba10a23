"""Reading a call step's arguments, each by the kind of parameter the registry declares.

Handles, numbers (with their named constants), pointers, object attributes,
strings, timeouts and durations, arrays, routines and buffers: each spelling a
scenario may use becomes an :class:`~x360k.scenario.schema.ArgSpec` the runner
turns into guest values, and each bad one an error naming its line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from x360k.clock import SYSTEM_TIME_BASE
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.exports.registry import Export, P, Param
from x360k.scenario.reader_state import OUT_KINDS, ScenarioReader, Use
from x360k.scenario.schema import (
    Ansi,
    ArgSpec,
    Attrs,
    Buffer,
    DataExport,
    HandleArray,
    LargeInt,
    Lit,
    OutSlot,
    Ref,
    Routine,
    SelfKThread,
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
    parse_duration,
    parse_int_text,
    word,
)
from x360k.scenario.yaml_nodes import did_you_mean, line_of

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


class ArgumentReader(ScenarioReader):
    """The argument half of the scenario reader."""

    __slots__ = ()

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

    def reference(self, node: Node, name: str) -> Ref:
        self.refs.append(Use(name, self.in_thread, self.order, line_of(node)))
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
                self.checked(
                    entries["attributes"],
                    self.integer(entries["attributes"], "attributes", 0),
                    (0, 0xFFFFFFFF),
                    "attributes",
                )
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
            size = len(data)
            if "size" in entries:
                number = self.integer(entries["size"], "size", 0)
                size = self.checked(entries["size"], number, (0, 0xFFFFFFFF), "size")
            return Buffer(max(size, len(data)), data)
        value = self.value(node)
        if isinstance(value, str):
            if value == "scratch":
                return Buffer(SCRATCH_SIZE)
            if value in OBJECT_TYPE_EXPORTS:
                return DataExport(value)
            return Buffer(len(value.encode()), value.encode())
        return self.pointer(node, what)
