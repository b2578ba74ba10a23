"""Reader for Xenia canary's own log: the kernel-call lines its export shims write.

Canary's logger starts every message with ``<c>> <TTTTTTTT> ``: a level
character and the id of the thread that logged it (for a guest thread, its
kernel handle, e.g. ``F8000008``), in eight uppercase hex digits. Its export
shim logs each call of an export (unless the export is tagged high-frequency
and ``log_high_frequency_kernel_calls`` is off) as ``Export(arg, arg, ...)``,
at level ``i`` for exports tagged important and ``d`` otherwise; canary's
default log level (2, info) drops every ``d`` line.

A line is a call when its level is ``i`` or ``d``, its message is exactly
``Name(...)`` and ``Name`` is an export canary declares
(:data:`CANARY_EXPORTS`, read from canary's source): handlers and xam's apps
print call-shaped messages of their own (``XMPStop(...)``, ``sprintf(...)``,
``SetThreadName(...)``) that are none. Everything else is counted as ignored.

Each call becomes one ``kernel.call``: ``tid`` numbers threads in order of
first appearance, ``idx`` counts per thread, ``raw_tid`` is the hex id,
``module`` and ``ordinal`` are the export's in canary's tables (``xam`` for
xam's exports), ``args`` come from :func:`~x360k.trace.canary_args.parse_args`
and, when canary printed what a pointer argument points at, ``text`` holds
those pointees as a JSON array aligned with ``args`` (``null`` where none).
Canary logs no returns, handles or waits; the header says so, and says when
the log holds no calls at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Final, NamedTuple

import msgspec
import numpy as np
import pyarrow as pa

from x360k.trace.canary_args import parse_args
from x360k.trace.columns import ARROW_SCHEMA, schema_with_header
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KIND_CODE, KINDS, TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.reader import DEFAULT_BATCH_ROWS, LineReader


class CanaryExport(NamedTuple):
    """One export as canary declares it."""

    module: str
    ordinal: int
    important: bool
    high_frequency: bool


def _load_exports() -> dict[str, CanaryExport]:
    text = resources.files("x360k.trace").joinpath("canary-exports.json").read_text()
    rows = json.loads(text)["exports"]
    return {
        name: CanaryExport(module, ordinal, "i" in tags, "h" in tags)
        for name, module, ordinal, tags in rows
    }


#: Every export canary's shims declare (canary commit 263c722a40d2), by name.
CANARY_EXPORTS: Final[dict[str, CanaryExport]] = _load_exports()
#: Exports canary tags high-frequency, xam's included: absent from its log unless
#: ``log_high_frequency_kernel_calls`` is true.
HIGH_FREQUENCY_EXPORTS: Final[frozenset[str]] = frozenset(
    name for name, export in CANARY_EXPORTS.items() if export.high_frequency
)
#: Exports canary tags important: logged at level ``i``, so kept at its default level.
IMPORTANT_EXPORTS: Final[frozenset[str]] = frozenset(
    name for name, export in CANARY_EXPORTS.items() if export.important
)

#: A call line: thread id, export name, then the arguments either as plain dwords
#: (most lines; normalised without a parse) or as anything else.
_CALL_LINE: Final = re.compile(
    r"^[id]> ([0-9A-Fa-f]{8}) ([A-Za-z_][A-Za-z0-9_]*)"
    r"\((?:([0-9A-F]{8}(?:, [0-9A-F]{8})*)|(.*))\)\r?$",
    re.MULTILINE,
)
_HIGH_FREQUENCY_LINE: Final = re.compile(
    r"^[id]> [0-9A-Fa-f]{8} (?:" + "|".join(sorted(HIGH_FREQUENCY_EXPORTS)) + r")\(",
    re.MULTILINE,
)
_CHUNK_BYTES: Final = 8 << 20
_NON_CALL_KINDS: Final = tuple(k for k in KINDS if k != "kernel.call")
_KERNEL_CALL: Final = KIND_CODE["kernel.call"]

_KIND_DICTIONARY: Final = pa.array(KINDS, pa.string())
_encode: Final = msgspec.json.encode


class _Survey(msgspec.Struct):
    """What a log shows about the settings canary wrote it with."""

    calls: int = 0
    debug_lines: bool = False
    high_frequency_calls: bool = False
    unknown_names: int = 0
    first_unknown: str = ""


class CanaryLogReader(LineReader):
    """Kernel-call lines of a Xenia canary log file."""

    format = "canary-log"

    def __init__(
        self,
        path: str | Path,
        *,
        lenient: bool = False,
        high_frequency_logged: bool | None = None,
    ) -> None:
        """``high_frequency_logged``: ``None`` tells from the log (any such call seen)."""
        super().__init__(path, lenient=lenient)
        self.high_frequency_logged = high_frequency_logged
        self._survey: _Survey | None = None

    @property
    def header(self) -> TraceHeader:
        """What the log records; a complete read (or else a quick scan) decides it."""
        survey = self._survey or self._scan()
        high_frequency = self.high_frequency_logged
        if high_frequency is None:
            high_frequency = survey.high_frequency_calls
        extra = {"pointees": "text", "canary_exports": "263c722a40d2"}
        if survey.calls == 0:
            extra["calls"] = (
                "none: canary logs kernel calls only at log_level 3 (debug) or, for exports "
                "tagged important, 2; and not with bit 1 of log_mask set"
            )
            return TraceHeader(
                emulator="xenia-canary",
                recorded_kinds=[],
                masked_kinds=list(KINDS),
                masked_exports=[],
                thread_id_style="handle",
                extra=extra,
            )
        recorded_exports = None
        if not survey.debug_lines:
            extra["log_level"] = "info: only exports tagged important are logged"
            recorded_exports = sorted(
                n for n in IMPORTANT_EXPORTS if high_frequency or n not in HIGH_FREQUENCY_EXPORTS
            )
        return TraceHeader(
            emulator="xenia-canary",
            recorded_kinds=["kernel.call"],
            masked_kinds=list(_NON_CALL_KINDS),
            recorded_exports=recorded_exports,
            masked_exports=[] if high_frequency else sorted(HIGH_FREQUENCY_EXPORTS),
            thread_id_style="handle",
            extra=extra,
        )

    def _open(self) -> Iterator[str]:
        """The file as text chunks that end at line ends (the last one may not)."""
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise TraceFormatError(self.path, exc.strerror or str(exc)) from None
        with stream:
            rest = b""
            while data := stream.read(_CHUNK_BYTES):
                data = rest + data
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if cut:
                    yield data[:cut].decode("utf-8", errors="replace")
            if rest:
                yield rest.decode("utf-8", errors="replace")

    def _scan(self) -> _Survey:
        """The survey without building events: stops once the header is known."""
        survey = _Survey()
        for chunk in self._open():
            survey.debug_lines = survey.debug_lines or _has_debug_line(chunk)
            if not survey.calls:
                survey.calls = any(m[2] in CANARY_EXPORTS for m in _CALL_LINE.finditer(chunk))
            if not survey.high_frequency_calls and self.high_frequency_logged is None:
                survey.high_frequency_calls = _HIGH_FREQUENCY_LINE.search(chunk) is not None
            if survey.calls and survey.debug_lines and survey.high_frequency_calls:
                break
        return survey

    def _chunks(self, columns: bool) -> Iterator[list[TraceEvent] | _Columns]:
        """Every call line, a chunk at a time: events, or columns when ``columns``."""
        survey = _Survey()
        threads: dict[str, list[int]] = {}
        exports = CANARY_EXPORTS
        lines = 0
        for chunk in self._open():
            lines += chunk.count("\n")
            survey.debug_lines = survey.debug_lines or _has_debug_line(chunk)
            found = _CALL_LINE.findall(chunk)
            cols = _Columns() if columns else None
            events: list[TraceEvent] = []
            for raw, name, simple, other in found:
                export = exports.get(name)
                if export is None:
                    survey.unknown_names += 1
                    survey.first_unknown = survey.first_unknown or name
                    continue
                if export.high_frequency:
                    survey.high_frequency_calls = True
                thread = threads.get(raw)
                if thread is None:
                    thread = threads[raw] = [len(threads), 0, int(raw, 16)]
                text = None
                if simple:
                    args = ("0x" + simple.lower().replace(", ", ",0x")).split(",")
                else:
                    args, pointees = parse_args(name, other)
                    if pointees is not None:
                        text = _encode(pointees).decode()
                if cols is None:
                    events.append(
                        TraceEvent(
                            tid=thread[0],
                            idx=thread[1],
                            kind="kernel.call",
                            name=name,
                            module=export.module,
                            ordinal=export.ordinal,
                            args=args,
                            raw_tid=thread[2],
                            text=text,
                        )
                    )
                else:
                    cols.add(thread, name, export, args, text)
                thread[1] += 1
            survey.calls += len(events) if cols is None else len(cols.tid)
            if not chunk.endswith("\n"):
                lines += 1
                tail = chunk[chunk.rfind("\n") + 1 :]
                if _CALL_LINE.fullmatch(tail) is None and tail[:1] in "id" and tail[1:3] == "> ":
                    self.report.partial_last_line = True
            yield events if cols is None else cols
        self.report.ignored_lines = lines - survey.calls
        if survey.unknown_names:
            self.report.notes.append(
                f"{survey.unknown_names} call-shaped line(s) name no export canary declares "
                f"(first: {survey.first_unknown}); read as messages, not calls"
            )
        if survey.calls == 0:
            self.report.notes.append(
                "no kernel-call lines: log with canary's log_level=3 (see docs/trace-format.md)"
            )
        self._survey = survey

    def events(self) -> Iterator[TraceEvent]:
        for events in self._chunks(columns=False):
            assert isinstance(events, list)
            yield from events

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Columns straight from the parsed lines, without TraceEvent objects."""
        for cols in self._chunks(columns=True):
            assert isinstance(cols, _Columns)
            if cols.tid:
                batch = cols.batch()
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)

    def table(self) -> pa.Table:
        """The whole log; the header reflects what the read found."""
        batches = list(self.batches())
        table = pa.Table.from_batches(batches, schema=ARROW_SCHEMA)
        return table.replace_schema_metadata(schema_with_header(self.header).metadata)


def _has_debug_line(chunk: str) -> bool:
    return chunk.startswith("d> ") or "\nd> " in chunk


class _Columns:
    """The call lines of one chunk, column by column."""

    __slots__ = ("args", "idx", "module", "name", "ordinal", "raw_tid", "text", "tid")

    def __init__(self) -> None:
        self.tid: list[int] = []
        self.idx: list[int] = []
        self.name: list[str] = []
        self.module: list[str] = []
        self.ordinal: list[int] = []
        self.args: list[list[str]] = []
        self.raw_tid: list[int] = []
        self.text: list[str | None] = []

    def add(
        self, thread: list[int], name: str, export: CanaryExport, args: list[str], text: str | None
    ) -> None:
        self.tid.append(thread[0])
        self.idx.append(thread[1])
        self.name.append(name)
        self.module.append(export.module)
        self.ordinal.append(export.ordinal)
        self.args.append(args)
        self.raw_tid.append(thread[2])
        self.text.append(text)

    def batch(self) -> pa.RecordBatch:
        n = len(self.tid)
        columns: dict[str, pa.Array] = {
            "tid": pa.array(self.tid, pa.int32()),
            "idx": pa.array(self.idx, pa.int64()),
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(np.full(n, _KERNEL_CALL, np.int8)), _KIND_DICTIONARY
            ),
            "name": pa.array(self.name, pa.string()).dictionary_encode(),
            "module": pa.array(self.module, pa.string()).dictionary_encode(),
            "ordinal": pa.array(self.ordinal, pa.uint32()),
            "args": pa.array(self.args, pa.list_(pa.string())),
            "raw_tid": pa.array(self.raw_tid, pa.uint32()),
            "text": pa.array(self.text, pa.string()),
        }
        arrays = [
            columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in ARROW_SCHEMA
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)
