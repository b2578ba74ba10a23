"""Xenia canary's export tables, as facts: every ordinal, its name, kind, support and log tags.

One table serves three readers that once kept copies of their own: naming a
title's imports (``x360k xex imports``), telling a canary log's call lines
from its messages, and the reference set ``x360k exports`` measures x360k
against. ``canary_exports.json`` beside this module is written by
``tools/gen_canary_exports.py`` from canary's source; nothing here is guessed.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Final, Literal, NamedTuple

Support = Literal["implemented", "stub", "sketchy", "absent"]
#: The table's libraries, and the module name traces use for each.
MODULES: Final[dict[str, str]] = {"xboxkrnl.exe": "xboxkrnl", "xam.xex": "xam", "xbdm.xex": "xbdm"}


class CanaryEntry(NamedTuple):
    """One ordinal of one library's export table."""

    library: str
    ordinal: int
    name: str
    #: "function" or "variable".
    kind: str
    support: Support
    #: kImportant: logged at canary's info level, so kept at its default log level.
    important: bool
    #: kHighFrequency: logged only with ``log_high_frequency_kernel_calls``.
    high_frequency: bool
    #: A string shim canary registers by hand; its export wrapper never logs it.
    shim: bool
    #: The subsystem canary files the handler under ("threading", "memory", "video"...;
    #: "none" when canary gives none), "strings" for a shim, "variables" for a variable.
    category: str

    @property
    def module(self) -> str:
        return MODULES[self.library]

    @property
    def registered(self) -> bool:
        """Whether canary answers it at all (a handler, a stub, a shim or a mapped variable)."""
        return self.support != "absent"

    @property
    def declared(self) -> bool:
        """A function canary's export wrapper handles, and so logs as a call."""
        return self.kind == "function" and self.registered and not self.shim


@cache
def canary_commit() -> str:
    return str(_raw()["canary_commit"])


@cache
def _raw() -> dict[str, object]:
    text = resources.files("x360k").joinpath("canary_exports.json").read_text()
    data: dict[str, object] = json.loads(text)
    return data


@cache
def table(library: str) -> dict[int, CanaryEntry]:
    """One library's entries by ordinal (library as in the table: ``xboxkrnl.exe``...)."""
    libraries = _raw()["libraries"]
    assert isinstance(libraries, dict)
    rows: dict[str, list[str]] = libraries.get(library, {})
    return {
        int(ordinal): CanaryEntry(
            library, int(ordinal), name, kind, support,  # type: ignore[arg-type]
            "i" in tags, "h" in tags, "s" in tags, category,
        )
        for ordinal, (name, kind, support, tags, category) in rows.items()
    }  # fmt: skip


def libraries() -> tuple[str, ...]:
    return tuple(MODULES)


def kernel_registered() -> list[CanaryEntry]:
    """Every xboxkrnl export canary answers: the set ``x360k exports`` measures against."""
    return [e for e in table("xboxkrnl.exe").values() if e.registered]
