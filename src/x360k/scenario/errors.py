"""The one error a scenario file can raise: where it is wrong and what is wrong.

Everything that can be wrong with a scenario, whether found while loading
(unknown export, missing argument, bad status name) or while running (a name
a step needs is not bound yet), is reported as ``file:line: message`` so the
command line prints one line and exits 2.
"""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario file is wrong; ``str()`` is ``file:line: what is wrong``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message
