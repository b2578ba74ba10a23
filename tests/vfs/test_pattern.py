"""Listing patterns: right answers, and never more than name x pattern steps on hostile input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.vfs.pattern import compile_pattern, match_steps

#: 29 characters, the shape of the pattern that kept a backtracking regex busy for 12 s.
HOSTILE = "*a" * 14 + "b"


def _reference(pattern: str, name: str) -> bool:
    """Textbook dynamic programme: table[i][j] = pattern[:i] matches name[:j]."""
    table = [[False] * (len(name) + 1) for _ in range(len(pattern) + 1)]
    table[0][0] = True
    for i, ch in enumerate(pattern, 1):
        table[i][0] = table[i - 1][0] and ch == "*"
        for j in range(1, len(name) + 1):
            if ch == "*":
                table[i][j] = table[i - 1][j] or table[i][j - 1]
            else:
                table[i][j] = table[i - 1][j - 1] and ch in ("?", name[j - 1])
    return table[-1][-1]


def test_the_reported_pattern_is_bounded() -> None:
    assert len(HOSTILE) == 29
    name = "a" * 255
    matched, steps = match_steps(HOSTILE, name)
    assert not matched
    assert steps <= (len(name) + 1) * (len(HOSTILE) + 1)
    assert not compile_pattern(HOSTILE).matches(name.upper())


def test_adversarial_shapes_are_bounded() -> None:
    for pattern in ("*a" * 120 + "b", "?*" * 100 + "x", "*" * 500 + "a?" * 100, "a*" * 127):
        for name in ("a" * 255, "ab" * 127, "A" * 254 + "c"):
            matched, steps = match_steps(compile_pattern(pattern).folded or "*", name.lower())
            assert steps <= (len(name) + 1) * (len(pattern) + 1)
            assert matched == _reference(pattern.lower(), name.lower())


def test_dos_habits_and_case() -> None:
    assert compile_pattern("*.*").matches("noext")
    assert compile_pattern("").matches("x")
    assert compile_pattern("**").matches("")
    assert compile_pattern("*.TXT").matches("alpha.txt")
    assert compile_pattern("a?c").matches("AbC")
    assert not compile_pattern("a?c").matches("ac")
    assert compile_pattern("[a]").matches("[A]")  # no sets: brackets are plain characters
    assert not compile_pattern("[a]").matches("a")


@settings(max_examples=300, deadline=None)
@given(st.text("ab*?", max_size=10), st.text("abAB", max_size=12))
def test_agrees_with_the_reference(pattern: str, name: str) -> None:
    got = compile_pattern(pattern).matches(name)
    if pattern in ("", "*.*"):
        assert got
    else:
        assert got == _reference(pattern.lower(), name.lower())
