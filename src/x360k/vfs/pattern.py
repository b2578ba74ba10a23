"""Directory-listing patterns: ``*`` (any run) and ``?`` (any one character), case-insensitive.

The pattern is a guest string, so matching must not be something a title can
make slow: a backtracking regex takes exponential time on patterns such as
``*a*a*a*a*...b`` against a long name of ``a``. :func:`match_steps` is the
classic two-cursor wildcard match instead: on a mismatch it resumes from the
last ``*`` one character further on, never from an older one, so it takes at
most ``(len(name) + 1) * (len(pattern) + 1)`` steps. Written by hand because
:mod:`fnmatch` compiles to a regex and knows ``[...]`` sets the Xbox does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from x360k.vfs.guest_path import fold


@dataclass(frozen=True, slots=True)
class Pattern:
    """A listing pattern; empty, ``*`` and ``*.*`` match every name (the DOS habit)."""

    text: str
    #: The folded pattern with runs of ``*`` collapsed, or None when it matches everything.
    folded: str | None

    def matches(self, name: str) -> bool:
        return self.folded is None or match_steps(self.folded, fold(name))[0]


def _collapse_stars(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch == "*" and out and out[-1] == "*":
            continue
        out.append(ch)
    return "".join(out)


def compile_pattern(text: str) -> Pattern:
    """Build a :class:`Pattern`; an empty pattern, ``*`` and ``*.*`` match everything."""
    if text in ("", "*", "*.*"):
        return Pattern(text, None)
    folded = _collapse_stars(fold(text))
    return Pattern(text, None if folded == "*" else folded)


def match_steps(pattern: str, name: str) -> tuple[bool, int]:
    """Whether ``name`` matches ``pattern`` (both already folded), and the steps it took.

    The step count is what the tests bound: it never exceeds
    ``(len(name) + 1) * (len(pattern) + 1)``.
    """
    p = n = 0
    star = -1  # index in pattern just after the last '*' seen
    resume = 0  # where in name that '*' currently stops matching
    steps = 0
    plen, nlen = len(pattern), len(name)
    while n < nlen:
        steps += 1
        if p < plen:
            ch = pattern[p]
            if ch == "*":
                p += 1
                star, resume = p, n
                continue
            if ch == "?" or ch == name[n]:
                p += 1
                n += 1
                continue
        if star < 0:
            return False, steps
        resume += 1
        p, n = star, resume
    while p < plen and pattern[p] == "*":
        p += 1
        steps += 1
    return p == plen, steps
