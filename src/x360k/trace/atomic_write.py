"""Write a file through a temporary name in the same directory, then rename it into place.

A failure half-way (bad input met mid-stream, a full disk) leaves whatever
was at the target before, and is reported against the target's name: the
temporary name is ours, the user never gave it and it is gone by the time
they read the message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links included), or one path before it exists:
    what a command checks so that its output never replaces its input."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def _mode_for(target: Path) -> int:
    """The permissions ``target`` ends with: its own if it exists, else a new file's under the
    umask (``mkstemp`` makes its file private, which a report or a converted trace is not)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(mask)
        return 0o666 & ~mask


def atomic_write(target: Path, write: Callable[[Path], T]) -> T:
    """Call ``write(tmp)``, then rename ``tmp`` over ``target``; returns what ``write`` did."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        result = write(tmp)
        tmp.chmod(_mode_for(target))
        tmp.replace(target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return result
