"""Guest path text: canary's character check, the ``\\??\\`` prefix, and sandbox splitting.

Two different gates live here. :func:`name_is_valid` is canary's own check on
the raw ANSI bytes a title passes (it answers STATUS_OBJECT_NAME_INVALID).
:func:`split_relative` is x360k's sandbox rule on the part of a path that is
left inside a device after links are resolved: anything that could name a
place other than a plain child of a plain child (``..``, ``.``, ``/``, drive or
stream colons, over-long or host-reserved names) is refused with
:class:`Refused`, which exports report as a missing path.
"""

from __future__ import annotations

import re
from typing import Final

#: Bytes canary refuses anywhere in a path, besides control characters and bytes >= 0x7F.
FORBIDDEN_BYTES: Final = frozenset(b'"+,;<=>|*?')
DOS_DEVICES_PREFIX: Final = "\\??\\"
SEPARATOR: Final = "\\"
#: Longest single name the sandbox accepts (the host's NAME_MAX on common file systems).
MAX_COMPONENT: Final = 255
#: Longest whole path (after link resolution) the sandbox accepts.
MAX_PATH: Final = 1024
#: A %XX escape: harmless to us (never decoded) but a sign of a path built to fool a decoder.
_PERCENT_ESCAPE: Final = re.compile(r"%[0-9A-Fa-f]{2}")
#: Any byte :func:`name_is_valid` refuses (control, >= 0x7F, or one of FORBIDDEN_BYTES).
_INVALID_BYTE: Final = re.compile(rb'[^\x20-\x7e]|["+,;<=>|*?]')
#: Names a Windows host would treat as devices whatever the folder; refused everywhere.
_RESERVED: Final = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


class Refused(Exception):
    """A guest path the sandbox will not follow; exports answer it as a missing path."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path!r}: {why}")
        self.path = path
        self.why = why


def name_is_valid(raw: bytes) -> bool:
    """Canary's check on an object name: printable ASCII without ``"+,;<=>|*?``."""
    return _INVALID_BYTE.search(raw) is None


def decode(raw: bytes) -> str:
    """Guest path bytes as text (only called on names that passed :func:`name_is_valid`)."""
    return raw.decode("ascii")


def strip_dos_prefix(path: str) -> str:
    """Drop one leading ``\\??\\`` (the DOS-devices directory titles sometimes spell out)."""
    return path[len(DOS_DEVICES_PREFIX) :] if path.startswith(DOS_DEVICES_PREFIX) else path


def fold(name: str) -> str:
    """The case-insensitive key the Xbox compares names by (ASCII letters only fold)."""
    return name.lower()


def component_problem(name: str) -> str | None:
    """Why ``name`` cannot be one element of a path inside a device, or None if it can."""
    if name in (".", ".."):
        return "dot component"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_COMPONENT:
        return "name longer than 255 bytes"
    for ch in name:
        code = ord(ch)
        if code < 0x20 or code >= 0x7F:
            return "control or non-ASCII character"
        if ch in '/:"+,;<=>|*?':
            return f"character {ch!r} not allowed in a name"
    if name.endswith((".", " ")) or name.startswith((" ", "..")):
        return "leading space or dots, or trailing dot/space"
    if _PERCENT_ESCAPE.search(name):
        return "percent-encoded byte"
    if fold(name.split(".", 1)[0]) in _RESERVED:
        return "host-reserved device name"
    return None


def split_relative(path: str, rest: str) -> tuple[str, ...]:
    """The names of a path inside a device, each checked; raises :class:`Refused`.

    ``rest`` is what follows the device path (it starts with a separator or is
    empty). Runs of separators count as one, so ``a\\\\b`` is ``a\\b``; a
    trailing separator is allowed (``game:\\`` is the root).
    """
    if len(path) > MAX_PATH:
        raise Refused(path, "path longer than 1024 bytes")
    if rest and not rest.startswith(SEPARATOR):
        raise Refused(path, "device name followed by more name")
    names = tuple(part for part in rest.split(SEPARATOR) if part)
    for name in names:
        why = component_problem(name)
        if why is not None:
            raise Refused(path, why)
    return names
