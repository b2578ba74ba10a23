"""The state a scenario file's reader keeps while it walks the file: names bound and used.

Shared by the argument and expectation readers (:mod:`x360k.scenario.arguments`,
:mod:`x360k.scenario.expectations`) and the loader that combines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from yaml.nodes import Node

from x360k.exports.registry import P, Registry
from x360k.scenario.values import IDENTIFIER, INFINITE_WORDS, PSEUDO_HANDLES, in_range
from x360k.scenario.yaml_nodes import NodeReader

OUT_KINDS: Final = frozenset({P.OUT_HANDLE, P.OUT_U32})
#: Trace event fields holding integers (patterns compare them as numbers).


@dataclass(slots=True)
class Use:
    """A bound name used (or bound) by a step: which thread, in what order, on which line."""

    name: str
    thread: str
    order: int
    line: int


@dataclass(slots=True)
class ScenarioReader(NodeReader):
    """A reader of one scenario file: the registry it checks calls against, and what it saw."""

    registry: Registry
    thread_names: dict[str, int] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    binds: dict[str, list[Use]] = field(default_factory=dict)
    refs: list[Use] = field(default_factory=list)
    late_refs: list[Use] = field(default_factory=list)
    in_thread: str = ""
    order: int = 0

    def checked(self, node: Node, number: int, bounds: tuple[int, int], what: str) -> int:
        """``number`` when it fits ``bounds``, else an error at ``node`` naming the range."""
        try:
            return in_range(number, bounds, what)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None

    def bind_name(self, node: Node) -> str:
        name = self.value(node)
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
            raise self.error(node, f"a bound name must be a plain identifier, not {name!r}")
        if name in PSEUDO_HANDLES or name.lower() in INFINITE_WORDS:
            raise self.error(node, f"{name!r} is a reserved word; bind another name")
        return name
