"""Reading what a scenario expects: statuses and out values per step, outcomes, trace fragments.

Expectations may differ per profile (``{canary: X, console: Y}``); event
patterns use the ``x360k trace show`` form and are checked against the trace
schema and the export registry (argument names of ``kernel.call`` patterns).
"""

from __future__ import annotations

from typing import Any, Final

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from x360k.exports.registry import Export
from x360k.quirks import PROFILES
from x360k.scenario.reader_state import OUT_KINDS, ScenarioReader, Use
from x360k.scenario.schema import (
    ANY_PROFILE,
    EventPattern,
    Expected,
    RunExpect,
    TraceExpect,
)
from x360k.scenario.values import (
    IDENTIFIER,
    PSEUDO_HANDLES,
    WORD_RANGE,
    parse_int_text,
)
from x360k.scenario.yaml_nodes import did_you_mean, line_of
from x360k.status import BY_NAME, parse_status
from x360k.trace.event import FIELDS, KINDS

RUN_EXPECT_KEYS: Final = ("outcome", "objects_alive", "trace")
TRACE_KEYS: Final = ("thread", "fragment", "absent", "profile", "note")
OUTCOMES: Final = ("finished", "wedge", "limit")
#: Trace event fields holding integers (patterns compare them as numbers).
_INT_FIELDS: Final = frozenset(
    {"ordinal", "call_id", "ret_addr", "status", "ret", "handle", "raw_tid"}
    | {"child_tid", "child_raw_tid", "entry", "ts", "offset", "length"}
)


class ExpectationReader(ScenarioReader):
    """The expectation half of the scenario reader."""

    __slots__ = ()

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
                self.late_refs.append(Use(value, self.in_thread, self.order + 1, line_of(item)))
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
            self.late_refs.append(Use(raw, "", 0, line_of(node)))
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
            self.late_refs.append(Use(raw, "", 0, line_of(node)))
            return raw
        raise self.error(node, f"{key}={raw}: expected a number or a bound name")
