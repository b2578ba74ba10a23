"""Directory-listing patterns: ``*`` (any run) and ``?`` (any one character), case-insensitive."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled listing pattern; ``*`` and ``*.*`` match every name (the DOS habit)."""

    text: str
    regex: re.Pattern[str] | None

    def matches(self, name: str) -> bool:
        return self.regex is None or self.regex.fullmatch(name) is not None


def compile_pattern(text: str) -> Pattern:
    """Build a :class:`Pattern`; an empty pattern, ``*`` and ``*.*`` match everything."""
    if text in ("", "*", "*.*"):
        return Pattern(text, None)
    parts = []
    for ch in text:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return Pattern(text, re.compile("".join(parts), re.IGNORECASE | re.DOTALL))
