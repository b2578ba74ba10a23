"""A rich progress bar on stderr for long work, shown only once the work takes a while.

Short commands print no bar at all (nothing flickers in a quick
``x360k trace stats``); a bar appears once ``after`` seconds have passed,
only when stderr is a terminal, and it is removed when the work ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class LateBar:
    """A bar that starts on the first update after ``after`` seconds."""

    def __init__(self, label: str, total: int | None, *, enabled: bool, after: float) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.after = after
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            if time.monotonic() - self.started < self.after:
                return
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        self.progress.update(self.task, completed=done)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@contextmanager
def late_bar(
    label: str, total: int | None, *, enabled: bool, after: float = 1.0
) -> Iterator[Callable[[int], None]]:
    """``with late_bar("stats", rows, enabled=tty) as update: ... update(done)``."""
    bar = LateBar(label, total, enabled=enabled, after=after)
    try:
        yield bar.update
    finally:
        bar.stop()
