"""The one error type every trace reader raises for bad input.

A user who feeds a damaged or foreign file to any ``x360k trace`` command sees
exactly one line naming the file, the line (or event index) and the problem;
the CLI prints ``str(error)`` and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class TraceFormatError(ValueError):
    """Bad trace input: where it is and what is wrong with it."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        event: int | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.event = event
        self.message = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``file:line: message``, or ``file: event N: message`` for columnar input."""
        if self.line is not None:
            return f"{self.path}:{self.line}: {self.message}"
        if self.event is not None:
            return f"{self.path}: event {self.event}: {self.message}"
        return f"{self.path}: {self.message}"

    def __str__(self) -> str:
        return self.one_line()
