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
xam's exports), ``args`` are normalised as in
:func:`~x360k.trace.canary_args.parse_args`, and what canary printed a pointer
argument points at stays after it in parentheses (``0x7005fb44(00000000)``),
which is where the diff looks for pointees.
Canary logs no returns, handles or waits; the header says so, and says when
the log holds no calls at all.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from x360k.trace.canary_columns import ChunkState, ParsedChunk, parse_chunk
from x360k.trace.canary_exports import (
    CANARY_EXPORTS,
    HIGH_FREQUENCY_EXPORTS,
    IMPORTANT_EXPORTS,
)
from x360k.trace.columns import ARROW_SCHEMA, schema_with_header
from x360k.trace.errors import TraceFormatError
from x360k.trace.event import KINDS, TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.reader import DEFAULT_BATCH_ROWS, LineReader

#: A call-shaped line (the export name is group 1); canary_columns matches the same.
_CALL_LINE: Final = re.compile(
    r"^[id]> [0-9A-Fa-f]{8} ([A-Za-z_][A-Za-z0-9_]*)\(.*\)\r?$", re.MULTILINE
)
_HIGH_FREQUENCY_LINE: Final = re.compile(
    r"^[id]> [0-9A-Fa-f]{8} (?:" + "|".join(sorted(HIGH_FREQUENCY_EXPORTS)) + r")\(",
    re.MULTILINE,
)
_CHUNK_BYTES: Final = 4 << 20
_MAX_WORKERS: Final = 4
_NON_CALL_KINDS: Final = tuple(k for k in KINDS if k != "kernel.call")


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
        extra = {"pointees": "args", "canary_exports": "263c722a40d2"}
        if survey.calls == 0:
            extra["calls"] = (
                "none: canary logs kernel calls only at log_level 3 (debug) or, for exports "
                "tagged important, 2; and never with log_mask's Kernel bit (1) set"
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

    def _open(self) -> Iterator[bytes]:
        """The file in chunks that end at line ends (the last one may not)."""
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
                    yield data[:cut]
            if rest:
                yield rest

    def _scan(self) -> _Survey:
        """The survey without building events: stops once the header is known."""
        survey = _Survey()
        for data in self._open():
            chunk = data.decode("utf-8", errors="replace")
            survey.debug_lines = survey.debug_lines or _has_debug_line(chunk)
            if not survey.calls:
                survey.calls = any(m[1] in CANARY_EXPORTS for m in _CALL_LINE.finditer(chunk))
            if not survey.high_frequency_calls and self.high_frequency_logged is None:
                survey.high_frequency_calls = _HIGH_FREQUENCY_LINE.search(chunk) is not None
            if survey.calls and survey.debug_lines and survey.high_frequency_calls:
                break
        return survey

    def _check_tail(self, chunk: bytes) -> None:
        """Note a last line cut off in the middle of a call (a log still being written)."""
        if not chunk.endswith(b"\n"):
            tail = chunk[chunk.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")
            if _CALL_LINE.fullmatch(tail) is None and tail[:1] in "id" and tail[1:3] == "> ":
                self.report.partial_last_line = True

    def _finish(self, survey: _Survey, lines: int) -> None:
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
        """The calls as events, built from each chunk's columns without an Arrow batch."""
        state = ChunkState(CANARY_EXPORTS)
        lines = 0
        debug_lines = False
        for parsed in self._parsed(state, joined_args=True):
            lines += parsed.lines
            debug_lines = debug_lines or parsed.debug_lines
            numbered = state.number(parsed)
            if numbered is None:
                continue
            # ``_rows``' fields made into events here, in this generator's own loop: a
            # second generator layer (``yield from``) costs ~5% of the read.
            for tid, index, name, module, ordinal, args, raw_tid in _rows(
                parsed.columns, *numbered
            ):
                yield TraceEvent(
                    tid=tid,
                    idx=index,
                    kind="kernel.call",
                    name=name,
                    module=module,
                    ordinal=ordinal,
                    args=args,
                    raw_tid=raw_tid,
                )
        self._finish(_survey_of(state, debug_lines), lines)

    def _parsed(self, state: ChunkState, joined_args: bool = False) -> Iterator[ParsedChunk]:
        """Chunks parsed on worker threads, a few ahead, handed back in file order."""
        workers = min(_MAX_WORKERS, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[ParsedChunk]] = deque()
            for chunk in self._open():
                self._check_tail(chunk)
                pending.append(
                    pool.submit(parse_chunk, chunk, state.exports, state.export_names, joined_args)
                )
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Columns built by Arrow's kernels from each chunk (:mod:`canary_columns`)."""
        state = ChunkState(CANARY_EXPORTS)
        lines = 0
        debug_lines = False
        for parsed in self._parsed(state):
            lines += parsed.lines
            debug_lines = debug_lines or parsed.debug_lines
            batch = state.batch(parsed)
            if batch is not None:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
        self._finish(_survey_of(state, debug_lines), lines)

    def table(self) -> pa.Table:
        """The whole log; the header reflects what the read found."""
        batches = list(self.batches())
        table = pa.Table.from_batches(batches, schema=ARROW_SCHEMA)
        return table.replace_schema_metadata(schema_with_header(self.header).metadata)


def _survey_of(state: ChunkState, debug_lines: bool) -> _Survey:
    return _Survey(
        calls=state.calls,
        debug_lines=debug_lines,
        high_frequency_calls=state.high_frequency_calls,
        unknown_names=state.unknown_names,
        first_unknown=state.first_unknown,
    )


def _has_debug_line(chunk: str) -> bool:
    return chunk.startswith("d> ") or "\nd> " in chunk


def _decoded(column: pa.Array) -> list[Any]:
    """A dictionary column as Python strings, looking each value up once."""
    values = np.array(column.dictionary.to_pylist(), dtype=object)
    result: list[Any] = values[column.indices.to_numpy()].tolist()
    return result


def _arg_lists(column: pa.Array) -> Iterator[list[str]]:
    """Each row's arguments as a Python list, from one newline-joined string per row.

    Converting the flattened strings one by one costs several times more than
    splitting each row's string in Python (``map`` without a generator frame
    when every row has arguments).
    """
    texts = column.to_pylist()
    if column.null_count:
        return ([] if text is None else text.split("\n") for text in texts)
    return map(str.split, texts, repeat("\n"))


def _rows(
    columns: dict[str, pa.Array], tids: npt.NDArray[np.int64], idx: npt.NDArray[np.int64]
) -> Iterator[tuple[int, int, str, str, int, list[str], int]]:
    """Each call line's (tid, idx, name, module, ordinal, args, raw_tid), from the columns
    :func:`parse_chunk` makes with ``joined_args`` (the only fields canary fills)."""
    return zip(
        tids.tolist(),
        idx.tolist(),
        _decoded(columns["name"]),
        _decoded(columns["module"]),
        _decoded(columns["ordinal"]),
        _arg_lists(columns["args"]),
        _decoded(columns["raw_tid"]),
        strict=True,
    )
