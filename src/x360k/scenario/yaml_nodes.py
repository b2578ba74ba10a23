"""Walking a composed YAML tree: typed reads of its nodes, each failure naming the node's line.

The scenario loader reads nodes, not plain data, so that every problem it
finds can say which line of the file it is on.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from x360k.scenario.errors import ScenarioError
from x360k.scenario.values import parse_int_text


def line_of(node: Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """'; did you mean X?' for the nearest choices, or ''."""
    near = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(near)}?" if near else ""


@dataclass(slots=True)
class NodeReader:
    """Typed reads of the nodes of one file; every refusal is a :class:`ScenarioError`."""

    file: str
    constructor: SafeConstructor = field(default_factory=SafeConstructor, kw_only=True)

    def error(self, node: Node | int, message: str) -> ScenarioError:
        return ScenarioError(self.file, node if isinstance(node, int) else line_of(node), message)

    def value(self, node: Node) -> Any:
        """A scalar node's plain value (int, bool, str, None, float)."""
        if not isinstance(node, ScalarNode):
            raise self.error(node, "expected a single value here, not a list or mapping")
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """A mapping node's entries by key, refusing duplicate and (if given) unknown keys."""
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping (key: value lines)")
        out: dict[str, Node] = {}
        keys: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, f"keys in {what} must be names, not {key!r}")
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            if allowed and key not in allowed:
                raise self.error(
                    key_node,
                    f"unknown key {key!r} in {what}{did_you_mean(key, allowed)} "
                    f"(expected one of: {', '.join(allowed)})",
                )
            out[key] = value_node
            keys[key] = key_node
        return out

    def key_nodes(self, node: MappingNode) -> dict[str, Node]:
        return {str(self.value(k)): k for k, _ in node.value}

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"{what} must be a list (lines starting with '- ')")
        return list(node.value)

    def string(self, node: Node, what: str) -> str:
        value = self.value(node)
        if not isinstance(value, str):
            raise self.error(node, f"{what} must be text, not {value!r}")
        return value

    def integer(self, node: Node, what: str, minimum: int | None = None) -> int:
        value = self.value(node)
        if isinstance(value, str):
            parsed = parse_int_text(value)
            value = parsed if parsed is not None else value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, f"{what} must be a whole number, not {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(node, f"{what} must be at least {minimum}, not {value}")
        return value

    def boolean(self, node: Node, what: str) -> bool:
        value = self.value(node)
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        raise self.error(node, f"{what} must be true or false, not {value!r}")
