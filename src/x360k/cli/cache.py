"""``x360k cache``: where the columnar cache is, how big it is, and ``--clear``.

The cache holds sorted Arrow copies of traces that ``diff``, ``trace sql``
and ``trace convert`` read, named by the hash of the source bytes, so the
next read of the same trace is a memory map. It lives in ``$X360K_CACHE``
(default ``.x360k-cache/`` in the current directory) and is kept under
``$X360K_CACHE_SIZE`` by least-recently-used eviction
(:mod:`x360k.trace.cache_store`).
"""

from __future__ import annotations

import sys

import click
import msgspec

from x360k.cli.errors import fail
from x360k.trace import cache_store


class CacheEntry(msgspec.Struct, kw_only=True):
    name: str
    bytes: int
    #: Seconds since last use.
    idle_seconds: float


class CacheReport(msgspec.Struct, kw_only=True):
    """``x360k cache --json``."""

    directory: str
    exists: bool
    entries: int
    bytes: int
    limit_bytes: int
    cleared: int = 0
    freed_bytes: int = 0
    listing: list[CacheEntry] = msgspec.field(default_factory=list)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@click.command("cache")
@click.option("--clear", is_flag=True, help="Remove every cache entry.")
@click.option(
    "--list", "show_list", is_flag=True, help="List the entries, least recently used first."
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON on stdout.")
def command(clear: bool, show_list: bool, as_json: bool) -> None:
    """Show where the columnar cache is and how big it is; --clear empties it.

    Location: $X360K_CACHE, else .x360k-cache/ in the current directory. Size
    bound: $X360K_CACHE_SIZE (bytes or 500M, 2G, ...; default 2G); the least
    recently used entries are removed first when a new one would pass it.
    Only files named like cache entries are ever counted or removed.
    """
    directory = cache_store.cache_dir()
    try:
        limit = cache_store.size_limit()
    except ValueError as exc:
        fail("cache", str(exc))
    found = cache_store.entries(directory)
    report = CacheReport(
        directory=str(directory),
        exists=directory.is_dir(),
        entries=len(found),
        bytes=sum(e.size for e in found),
        limit_bytes=limit,
    )
    if show_list:
        report.listing = [
            CacheEntry(name=e.path.name, bytes=e.size, idle_seconds=round(cache_store.age(e), 1))
            for e in found
        ]
    if clear:
        gone = cache_store.clear(directory)
        report.cleared = len(gone)
        report.freed_bytes = sum(e.size for e in gone)
        left = cache_store.entries(directory)
        report.entries, report.bytes = len(left), sum(e.size for e in left)
        report.exists = directory.is_dir()
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    state = "" if report.exists else " (does not exist yet)"
    click.echo(f"cache: {report.directory}{state}")
    if clear:
        click.echo(f"cleared {report.cleared} entries, {_size(report.freed_bytes)} freed")
    click.echo(
        f"{report.entries} entries, {_size(report.bytes)} of at most {_size(limit)} "
        "($X360K_CACHE_SIZE)"
    )
    for entry in report.listing:
        click.echo(f"  {entry.name}  {_size(entry.bytes)}  idle {entry.idle_seconds:.0f} s")
