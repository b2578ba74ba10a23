"""The seed's text form: ``[idx] kind name key=value ...``, one event per line.

This is how people have read and pasted traces (``[102553] handle.create
sid=df686b147b291902``), so ``x360k trace show`` prints it and this module
reads it back. Values are bare when they can be (numbers in decimal, the
32-bit guest quantities in ``0x`` hex, plain words), JSON-quoted strings or
JSON arrays otherwise, and lists of plain words comma separated. A file holds
one thread (``tid`` comes from the caller, default 0) unless lines carry
``tid=N``. Blank lines and lines starting with ``#`` are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec

from x360k.trace.errors import TraceFormatError
from x360k.trace.event import FIELDS, KIND_CODE, TraceEvent
from x360k.trace.reader import LineReader

#: Fields shown in hex (32-bit guest quantities).
HEX_FIELDS: Final[frozenset[str]] = frozenset(
    {"ret_addr", "status", "ret", "handle", "raw_tid", "child_raw_tid", "entry"}
)
_LIST_FIELDS: Final = frozenset({"args", "objects"})
_STR_FIELDS: Final = frozenset(
    {"name", "module", "sid", "object_type", "checksum", "path", "text", "kind"}
)
_INT_FIELDS: Final = frozenset(FIELDS) - _LIST_FIELDS - _STR_FIELDS
_BARE: Final = re.compile(r"[A-Za-z0-9_.:/\\@$+\-]+")
_LINE: Final = re.compile(r"\s*\[(\d+)\]\s+(\S+)(.*)")
_TOKEN: Final = re.compile(
    r"""\s*(\w+)=("(?:[^"\\]|\\.)*"|\[(?:"(?:[^"\\]|\\.)*"|[^\]"])*\]|\S*)|\s*(\S+)"""
)


def _word(value: str) -> str:
    return value if _BARE.fullmatch(value) else msgspec.json.encode(value).decode()


def _value(name: str, value: Any) -> str:
    if name in _LIST_FIELDS:
        items: list[str] = value
        if items and all(_BARE.fullmatch(i) for i in items):
            return ",".join(items)
        return msgspec.json.encode(items).decode()
    if isinstance(value, int):
        return f"0x{value:08x}" if name in HEX_FIELDS else str(value)
    return _word(str(value))


def format_event(event: TraceEvent, *, with_tid: bool = False) -> str:
    """One event in the seed's display form; every set field appears."""
    head = f"[{event.idx}] {event.kind}"
    parts = [head]
    if event.name is not None and _BARE.fullmatch(event.name):
        parts.append(event.name)
    if with_tid:
        parts.append(f"tid={event.tid}")
    for name in FIELDS[3:]:
        value = getattr(event, name)
        if value is None or (name == "name" and _BARE.fullmatch(value)):
            continue
        parts.append(f"{name}={_value(name, value)}")
    return " ".join(parts)


def _parse_value(name: str, raw: str) -> Any:
    if name in _INT_FIELDS:
        return int(raw, 0)
    if name in _LIST_FIELDS:
        if raw.startswith("["):
            return msgspec.json.decode(raw, type=list[str])
        return raw.split(",") if raw else []
    if raw.startswith('"'):
        return msgspec.json.decode(raw, type=str)
    return raw


def parse_line(line: str, default_tid: int = 0) -> TraceEvent | None:
    """The event on one line, ``None`` for a blank or comment line; ``ValueError`` if bad."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    match = _LINE.fullmatch(stripped)
    if match is None:
        raise ValueError("expected '[idx] kind ...'")
    idx, kind, rest = int(match.group(1)), match.group(2), match.group(3)
    if kind not in KIND_CODE:
        raise ValueError(f"unknown kind {kind!r}")
    fields: dict[str, Any] = {"tid": default_tid, "idx": idx, "kind": kind}
    for position, token in enumerate(_TOKEN.finditer(rest)):
        if token.group(1) is not None:
            key, raw = token.group(1), token.group(2)
            if key not in FIELDS or key in ("idx", "kind"):
                raise ValueError(f"unknown field {key!r}")
            try:
                fields[key] = _parse_value(key, raw)
            except (ValueError, msgspec.DecodeError) as exc:
                raise ValueError(f"bad value for {key}: {raw!r} ({exc})") from None
        elif token.group(3) is not None:
            if position == 0 and "name" not in fields:
                fields["name"] = token.group(3)
            else:
                raise ValueError(f"unexpected {token.group(3)!r}")
    return TraceEvent(**fields)


class TextReader(LineReader):
    """A trace in the seed's text form."""

    format = "text"

    def __init__(self, path: str | Path, *, lenient: bool = False, tid: int = 0) -> None:
        super().__init__(path, lenient=lenient)
        self.tid = tid

    def events(self) -> Iterator[TraceEvent]:
        try:
            stream = self.path.open("r", encoding="utf-8", errors="strict", newline="")
        except OSError as exc:
            raise TraceFormatError(self.path, exc.strerror or str(exc)) from None
        with stream:
            lineno = 0
            try:
                for lineno, line in enumerate(stream, 1):
                    complete = line.endswith("\n")
                    try:
                        event = parse_line(line, self.tid)
                    except ValueError as exc:
                        if not complete:
                            self.report.partial_last_line = True
                            return
                        if not self.lenient:
                            raise TraceFormatError(self.path, str(exc), line=lineno) from None
                        self.report.bad_lines += 1
                        continue
                    if event is not None:
                        yield event
            except UnicodeDecodeError as exc:
                raise TraceFormatError(
                    self.path, f"not UTF-8 text: {exc.reason}", line=lineno + 1
                ) from None
