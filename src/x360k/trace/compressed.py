"""Compressed trace files: a gzip, zstd, bz2, lz4 or xz file read as the trace inside it.

Likewise a trace written in UTF-16 or UTF-32 with a byte-order mark (what Windows
PowerShell 5's ``>`` and ``Out-File`` write by default) is read as the UTF-8 text it
holds: the plain copy is the same text re-encoded, so every reader, which reads UTF-8,
takes it.

Teams keep large traces compressed (``trace.jsonl.zst``, ``canary.log.gz``).
Every reader here opens its file by path more than once (sniffing, the
header, DuckDB's parallel parse, memory maps), so rather than teach each one
to decompress, :func:`decompressed` streams the file once into a temporary
plain copy, hands that path over, and removes the copy when the work is done.
The copy goes under the system's temporary directory (``$TMPDIR``): it needs
the space of the uncompressed trace. The codecs are pyarrow's (lz4 is the lz4
frame format) and the standard library's lzma for xz; the format is told by
the file's first bytes, never by its name.
"""

from __future__ import annotations

import lzma
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Final, Protocol

import pyarrow as pa

from x360k.trace.errors import TraceFormatError

#: Leading bytes of each compressed format, and the codec that reads it.
MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bz2"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\xfd7zXZ\x00", "xz"),
    # text encodings with a byte-order mark, UTF-32's first: its LE mark begins like UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: The "codecs" above that are text encodings: the copy is their text as UTF-8.
TEXT_ENCODINGS: Final = frozenset({"utf-16", "utf-32"})
#: Suffixes dropped from the plain copy's name, so its own suffix still says its format.
_SUFFIXES: Final = frozenset({".gz", ".gzip", ".zst", ".zstd", ".bz2", ".lz4", ".xz"})
_CHUNK: Final = 8 << 20


def compression_of(path: str | Path) -> str | None:
    """The codec ``path`` is compressed with, by its first bytes; None for a plain file."""
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(6)
    except OSError:
        return None  # the reader that opens it next says what is wrong
    for magic, codec in MAGIC:
        if head.startswith(magic):
            return codec
    return None


class _Source(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class _Reencoded:
    """A text file in ``encoding`` (its byte-order mark read past) read as UTF-8 bytes."""

    def __init__(self, path: Path, encoding: str) -> None:
        self._text = path.open("r", encoding=encoding, newline="")

    def read(self, size: int, /) -> bytes:
        return self._text.read(size // 4 or 1).encode("utf-8")

    def close(self) -> None:
        self._text.close()


def _open(path: Path, codec: str) -> _Source:
    if codec == "xz":
        return lzma.open(path, "rb")
    if codec in TEXT_ENCODINGS:
        return _Reencoded(path, codec)
    stream: _Source = pa.CompressedInputStream(pa.OSFile(str(path), "rb"), codec)
    return stream


def _plain_name(path: Path) -> str:
    return path.stem if path.suffix.lower() in _SUFFIXES else path.name


def _copy(src: _Source, dst: Path) -> None:
    with dst.open("wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)


def copy_label(source: Path) -> str:
    """How errors about the plain copy of ``source`` name it: the file given, and how read."""
    if not source.is_file():
        return f"{source} (read from a stream)"
    codec = compression_of(source)
    how = f"read as {codec.upper()}" if codec in TEXT_ENCODINGS else "decompressed"
    return f"{source} ({how})"


@contextmanager
def decompressed(path: str | Path) -> Iterator[Path]:
    """``path`` itself when it is a plain file, else a temporary plain copy, removed on exit.

    A compressed file is decompressed into the copy; a pipe or other stream
    (``<(zcat trace.gz)``, ``/dev/stdin``) is read into it once, and decompressed
    too when its bytes are compressed. Errors a reader raises about the copy
    are raised about ``path`` (``trace.jsonl.gz (decompressed):12: ...``), so
    the user sees the file they gave.
    """
    source = Path(path)
    streamed = source.exists() and not source.is_file() and not source.is_dir()
    codec = None if streamed else compression_of(source)
    if codec is None and not streamed:
        yield source
        return
    folder = Path(tempfile.mkdtemp(prefix="x360k-plain-"))
    plain = folder / _plain_name(source)
    try:
        if streamed:
            raw = folder / "stream"
            try:
                with closing(source.open("rb")) as src:
                    _copy(src, raw)
            except OSError as exc:
                raise TraceFormatError(source, f"cannot read: {exc.strerror or exc}") from None
            codec = compression_of(raw)
            if codec is None:
                raw.replace(plain)
            source_bytes = raw
        else:
            source_bytes = source
        if codec is not None:
            try:
                with closing(_open(source_bytes, codec)) as src:
                    _copy(src, plain)
            except (OSError, EOFError, lzma.LZMAError, pa.ArrowException, ValueError) as exc:
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                how = (
                    f"read as {codec.upper()}"
                    if codec in TEXT_ENCODINGS
                    else f"decompress ({codec})"
                )
                raise TraceFormatError(source, f"cannot {how}: {why}") from None
        try:
            yield plain
        except TraceFormatError as exc:
            if exc.path != str(plain):
                raise
            raise TraceFormatError(
                copy_label(source), exc.message, line=exc.line, event=exc.event
            ) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
