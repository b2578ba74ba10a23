"""The columnar cache directory: where it is, what is in it, and keeping it bounded.

Every entry is one file named by the hash of the trace it was made from
(``v1r2-<xxh3-128>.arrow`` from :mod:`x360k.trace.cache`, ``diff-v*-....arrow``
from the diff tool). An entry's modification time is its last use: a hit
touches it, so evicting the oldest first is least-recently-used eviction.
After each new entry the directory is cut back to its size bound,
``$X360K_CACHE_SIZE`` (bytes, or with a K/M/G/T suffix; default 2G), never
removing the entry just written. Only files named like entries (and our own
leftover ``*.tmp``) are ever counted or removed, so pointing ``$X360K_CACHE``
at a directory with other files in it cannot lose them.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CACHE_ENV: Final = "X360K_CACHE"
SIZE_ENV: Final = "X360K_CACHE_SIZE"
DEFAULT_LIMIT: Final = 2 << 30
_ENTRY: Final = re.compile(
    r"(diff-)?v\d+(r\d+)?-[0-9a-f]{16,64}(-[A-Za-z0-9_-]+)?\.arrow(\..+\.tmp)?"
)
_UNITS: Final = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)


def cache_dir() -> Path:
    """``$X360K_CACHE``, or ``.x360k-cache`` in the current directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.cwd() / ".x360k-cache"


def parse_size(text: str) -> int:
    """``2G`` -> 2147483648; ValueError naming the text when it is no size."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size like 500M, 2G or 1073741824")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def size_limit() -> int:
    """The bound from ``$X360K_CACHE_SIZE``, else 2 GiB; a bad value is an error, not ignored."""
    raw = os.environ.get(SIZE_ENV)
    if not raw:
        return DEFAULT_LIMIT
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise ValueError(f"${SIZE_ENV}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Entry:
    """One cache file."""

    path: Path
    size: int
    last_used: float


def entries(directory: Path | None = None) -> list[Entry]:
    """The cache's entries, least recently used first (empty when there is no cache)."""
    directory = directory if directory is not None else cache_dir()
    found: list[Entry] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not _ENTRY.fullmatch(name):
            continue
        path = directory / name
        try:
            info = path.stat()
        except OSError:
            continue
        found.append(Entry(path, info.st_size, info.st_mtime))
    found.sort(key=lambda e: (e.last_used, e.path.name))
    return found


def touch(path: Path) -> None:
    """Mark an entry as just used (a cache hit)."""
    with contextlib.suppress(OSError):  # a read-only cache still answers, in no order
        os.utime(path)


def evict(directory: Path, limit: int, keep: Path | None = None) -> list[Entry]:
    """Remove least recently used entries until the total is at most ``limit``.

    ``keep`` (the entry just written) is never removed, even when it alone is
    over the bound. Returns what was removed.
    """
    current = entries(directory)
    total = sum(e.size for e in current)
    removed: list[Entry] = []
    for entry in current:
        if total <= limit:
            break
        if keep is not None and entry.path.name == keep.name:
            continue
        try:
            entry.path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            continue
        total -= entry.size
        removed.append(entry)
    return removed


def clear(directory: Path | None = None) -> list[Entry]:
    """Remove every entry (and the directory when nothing else is left in it)."""
    directory = directory if directory is not None else cache_dir()
    gone = [e for e in entries(directory) if _unlink(e.path)]
    with contextlib.suppress(OSError):  # other files in it, or already gone
        directory.rmdir()
    return gone


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def age(entry: Entry) -> float:
    """Seconds since the entry was last used."""
    return max(0.0, time.time() - entry.last_used)
