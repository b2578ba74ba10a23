"""``open_trace``: pick the right reader for a file from its bytes and its name.

Binary formats are known by their magic bytes (``PAR1``, ``ARROW1``, the
IPC stream's continuation marker); text formats by their first meaningful
line (a JSON object, ``[idx] kind``, or canary's ``c> TTTTTTTT``), with the
extension as a tie-breaker for files too empty to tell.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from x360k.trace.arrow_reader import ArrowFileReader, ArrowStreamReader
from x360k.trace.canary_log import CanaryLogReader
from x360k.trace.errors import TraceFormatError
from x360k.trace.header import UTF8_BOM
from x360k.trace.jsonl_reader import JsonlReader
from x360k.trace.parquet_reader import ParquetReader
from x360k.trace.reader import TraceReader
from x360k.trace.text_form import TextReader

FORMATS: Final[tuple[str, ...]] = (
    "jsonl",
    "arrow-stream",
    "arrow-file",
    "parquet",
    "text",
    "canary-log",
)
_EXTENSIONS: Final[dict[str, str]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".arrows": "arrow-stream",
    ".arrow": "arrow-file",
    ".feather": "arrow-file",
    ".parquet": "parquet",
    ".txt": "text",
    ".log": "canary-log",
}
_CANARY_LINE: Final = re.compile(rb"\S> [0-9A-Fa-f]{8} ")
_TEXT_LINE: Final = re.compile(rb"\s*\[\d+\] \S")
_SNIFF_BYTES: Final = 1 << 16


def sniff_format(path: str | Path) -> str:
    """The format name of a trace file; TraceFormatError when it is none we know."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as exc:
        raise TraceFormatError(path, exc.strerror or str(exc)) from None
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow-file"
    if head.startswith(b"\xff\xff\xff\xff"):
        return "arrow-stream"
    by_name = _EXTENSIONS.get(path.suffix.lower())
    head = head.removeprefix(UTF8_BOM)  # a byte-order mark says nothing of the format
    lines = [line for line in head.split(b"\n")[:200] if line.strip()]
    if not lines:
        if by_name is not None:
            return by_name
        raise TraceFormatError(path, "empty file: no format to recognise")
    if lines[0].lstrip().startswith(b"{"):
        return "jsonl"
    if _TEXT_LINE.match(lines[0]):
        return "text"
    if any(_CANARY_LINE.match(line) for line in lines):
        return "canary-log"
    if by_name is not None:
        return by_name
    raise TraceFormatError(
        path, "not a trace: expected JSONL, Arrow, Parquet, '[idx] kind' text or a canary log"
    )


def open_trace(path: str | Path, lenient: bool = False, *, fmt: str | None = None) -> TraceReader:
    """A reader for ``path``, its format sniffed unless ``fmt`` names one of FORMATS."""
    fmt = fmt or sniff_format(path)
    if fmt == "jsonl":
        return JsonlReader(path, lenient=lenient)
    if fmt == "arrow-stream":
        return ArrowStreamReader(path, lenient=lenient)
    if fmt == "arrow-file":
        return ArrowFileReader(path, lenient=lenient)
    if fmt == "parquet":
        return ParquetReader(path, lenient=lenient)
    if fmt == "text":
        return TextReader(path, lenient=lenient)
    if fmt == "canary-log":
        return CanaryLogReader(path, lenient=lenient)
    raise TraceFormatError(path, f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
