"""The header record that opens every schema v1 trace.

A trace is only comparable with another when both sides say what they
recorded and what they left out; the header carries that, plus enough about
the producer (emulator, build, configuration and guest image hashes) to tell
two traces of different programs or settings apart before diffing them.
JSONL traces carry it as their first line, columnar files as JSON in the
schema metadata under :data:`HEADER_METADATA_KEY`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from x360k.trace.event import KINDS, SCHEMA_VERSION

#: The value of ``format`` that marks a JSON object as a trace header.
HEADER_FORMAT: Final = "x360k-trace"
#: The byte-order mark some tools put before UTF-8 text; read past, never an error.
UTF8_BOM: Final = b"\xef\xbb\xbf"
#: Key of the header JSON in Arrow / Parquet schema metadata.
HEADER_METADATA_KEY: Final = b"x360k.header"

#: Accepted ``thread_id_style`` values: what ``raw_tid`` numbers are.
THREAD_ID_STYLES: Final[tuple[str, ...]] = (
    "handle",  # the guest thread's kernel handle (canary: 0xF80000xx)
    "kernel-id",  # the guest-visible thread id (KTHREAD ThreadId)
    "host",  # a host OS thread id
    "ordinal",  # same as tid: the writer has nothing better
    "none",  # raw_tid is never written
)


class TraceHeader(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """What a trace is and how it was recorded.

    ``recorded_exports`` is ``None`` when every export is recorded; masked
    lists name what the writer deliberately dropped, so the diff tool can tell
    "not called" from "not recorded".
    """

    format: str = HEADER_FORMAT
    schema_version: int = SCHEMA_VERSION
    emulator: str = "unknown"
    emulator_build: str = ""
    config_hash: str = ""
    image_hash: str = ""
    recorded_kinds: list[str] = msgspec.field(default_factory=lambda: list(KINDS))
    masked_kinds: list[str] = msgspec.field(default_factory=list)
    recorded_exports: list[str] | None = None
    masked_exports: list[str] = msgspec.field(default_factory=list)
    thread_id_style: str = "ordinal"
    created: str | None = None
    extra: dict[str, str] = msgspec.field(default_factory=dict)


def encode_header(header: TraceHeader) -> bytes:
    """The header as compact JSON (no newline)."""
    return msgspec.json.encode(header)


def decode_header(data: bytes | str) -> TraceHeader:
    """Parse a header; raises ``msgspec.ValidationError``/``DecodeError`` on bad input."""
    header = msgspec.json.decode(data, type=TraceHeader)
    if header.format != HEADER_FORMAT:
        raise msgspec.ValidationError(f"format is {header.format!r}, not {HEADER_FORMAT!r}")
    if header.schema_version != SCHEMA_VERSION:
        raise msgspec.ValidationError(
            f"schema_version {header.schema_version} is not supported (this reader knows "
            f"{SCHEMA_VERSION})"
        )
    return header


def looks_like_header(line: bytes) -> bool:
    """Cheap test used before decoding a first line as a header."""
    return HEADER_FORMAT.encode() in line and b'"format"' in line
