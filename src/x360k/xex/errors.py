"""The one error a XEX2 file that cannot be read raises, and how it prints.

Every problem with a file (truncated, corrupt, an unsupported variant, a key
that does not decrypt it) is a :class:`XexError` naming what is wrong and the
file offset where it was found, so a tool prints one line
``FILE: what, at offset N`` and never a traceback.
"""

from __future__ import annotations


class XexError(ValueError):
    """A XEX2 file x360k cannot read; ``offset`` is the file offset where that was found."""

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(f"{what}, at offset {offset}")
        self.what = what
        self.offset = offset

    def line(self, file: str) -> str:
        """The one line a tool prints: ``FILE: what, at offset N``."""
        return f"{file}: {self}"
