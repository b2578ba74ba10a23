"""Symbolic-link objects."""

from __future__ import annotations

from x360k.objects.symlink import SymbolicLink


def test_symlink_object() -> None:
    s = SymbolicLink("game:", "\\Device\\Cdrom0")
    assert not s.WAITABLE and s.path == "game:" and "Cdrom0" in s.describe()
