"""The JSONL trace writer: one header line, then one line per event.

Crash safety is the point of this format. Each line is handed to the OS in a
single ``write`` before the next event is encoded, so a killed process leaves
every finished line on disk and at most one partial last line, which readers
report and skip. ``lines_per_write > 1`` trades that for speed: up to that
many complete lines wait in memory and a hard kill loses them (never a
partial line except mid-write).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader, encode_header


class JsonlWriter:
    """A :class:`~x360k.trace.recorder.Recorder` that appends JSON lines to a file."""

    def __init__(
        self,
        path: str | Path,
        header: TraceHeader | None = None,
        *,
        lines_per_write: int = 1,
        fsync: bool = False,
    ) -> None:
        if lines_per_write < 1:
            raise ValueError("lines_per_write must be at least 1")
        self.path = Path(path)
        self.header = header if header is not None else TraceHeader(emulator="x360k")
        self._lines_per_write = lines_per_write
        self._fsync = fsync
        self._encoder = msgspec.json.Encoder()
        self._buffer = bytearray()
        self._pending = 0
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644
        )
        self._write(encode_header(self.header) + b"\n")
        self.count = 0

    def _write(self, data: bytes | bytearray) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def record(self, event: TraceEvent) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._encoder.encode_into(event, self._buffer, -1)
        self._buffer.append(10)
        self._pending += 1
        self.count += 1
        if self._pending >= self._lines_per_write:
            self.flush()

    def flush(self) -> None:
        """Hand every complete buffered line to the OS (and to disk with ``fsync``)."""
        if self._buffer and self._fd is not None:
            self._write(self._buffer)
            self._buffer.clear()
            self._pending = 0
            if self._fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is None:
            return
        self.flush()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
