"""Canary's character check, the sandbox's name rules, and listing patterns."""

from __future__ import annotations

import pytest

from x360k.vfs.guest_path import (
    Refused,
    component_problem,
    name_is_valid,
    split_relative,
    strip_dos_prefix,
)
from x360k.vfs.pattern import compile_pattern


def test_canary_character_check() -> None:
    assert name_is_valid(b"game:\\Data\\a b_c-1.(x)[y]{z}~!@#$%^&'")
    for bad in b'"+,;<=>|*?':
        assert not name_is_valid(b"game:\\a" + bytes([bad]))
    assert not name_is_valid(b"a\x00b") and not name_is_valid(b"a\x7fb")
    assert not name_is_valid(b"\x1f") and not name_is_valid(b"\xc3\xa9")


def test_dos_prefix() -> None:
    assert strip_dos_prefix("\\??\\game:\\x") == "game:\\x"
    assert strip_dos_prefix("game:\\??\\x") == "game:\\??\\x"


@pytest.mark.parametrize(
    "name",
    [".", "..", "...", "..x", "a/b", "a:b", "x.", "x ", " x", "CON", "nul.txt", "com1", "a" * 256,
     "%2e", "a%5Cb", "\x01"],
)  # fmt: skip
def test_refused_components(name: str) -> None:
    assert component_problem(name) is not None
    with pytest.raises(Refused):
        split_relative("p", "\\" + name)


def test_accepted_components_and_separators() -> None:
    assert component_problem("a.b.c") is None and component_problem("a" * 255) is None
    assert component_problem("100%") is None and component_problem("conx") is None
    assert split_relative("p", "") == ()
    assert split_relative("p", "\\") == ()
    assert split_relative("p", "\\a\\\\b\\") == ("a", "b")
    with pytest.raises(Refused):
        split_relative("p", "x\\a")  # the device name continues: not this device
    with pytest.raises(Refused):
        split_relative("p" * 1025, "\\a")


def test_patterns() -> None:
    p = compile_pattern("*.TXT")
    assert p.matches("a.txt") and p.matches(".txt") and not p.matches("a.txt2")
    q = compile_pattern("a?c")
    assert q.matches("ABC") and not q.matches("ac") and not q.matches("abbc")
    assert compile_pattern("").matches("x") and compile_pattern("*.*").matches("noext")
    assert compile_pattern("a.b").matches("A.B") and not compile_pattern("a.b").matches("axb")
    assert compile_pattern("[x]").matches("[X]")
