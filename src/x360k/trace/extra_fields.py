"""Fields a JSONL trace carries that the schema does not: what no reader keeps.

Another emulator's trace may add its own fields (``pc``, ``thread_name``, ...).
Every reader drops them without a word, as a reader of a documented schema
should; the diff then says it did not compare them, so nobody takes a MATCH for
an agreement on fields that were never looked at. Kept apart from the readers
(and light to import): a small diff must not pay for pyarrow.compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec

from x360k.trace.event import FIELDS
from x360k.trace.header import UTF8_BOM, looks_like_header

#: Lines :func:`unknown_fields` looks at, and bytes at most (a sample, said as such).
SAMPLE_LINES: Final = 1000
SAMPLE_BYTES: Final = 4 << 20


def unknown_fields(path: Path) -> tuple[list[str], int]:
    """Fields the first lines of a JSONL trace have that the schema does not, and how
    many event lines were looked at.

    Readers drop such fields (another emulator's ``pc``, ``thread_name``, ...) without
    a word; the diff says it did not compare them. A sample, so it costs the same on
    any file; lines that are not JSON objects are left to the readers to name.
    """
    known = set(FIELDS)
    seen: dict[str, None] = {}
    looked = 0
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    lines = head.split(b"\n")
    if len(head) == SAMPLE_BYTES:
        lines = lines[:-1]  # the last may be cut at the sample's end
    for line in lines:
        line = line.strip().removeprefix(UTF8_BOM)
        if not line:
            continue
        if looked == 0 and looks_like_header(line):
            continue
        try:
            obj = _OBJECT.decode(line)
        except msgspec.DecodeError:
            continue
        looked += 1
        for key in obj:
            if key not in known:
                seen.setdefault(key, None)
        if looked >= SAMPLE_LINES:
            break
    return list(seen), looked


_OBJECT: Final = msgspec.json.Decoder(dict[str, Any])
