"""Write the XEX2 conformance titles and their expected traces into guests/bin (a tool).

Run from the repository root: ``.venv/bin/python guests/make_xex.py`` (``make -C guests
xex`` does). For each conformance guest it packs ``bin/NAME.elf`` as ``bin/NAME.xex``
(basic compression, no encryption: see docs/xex.md) and runs that XEX under both kernel
profiles, writing ``bin/NAME.canary.jsonl`` and ``bin/NAME.console.jsonl``: the traces
another emulator's run of the same ``.xex`` is diffed against. It needs no cross
compiler (it starts from the committed ELFs); ``--check`` only reports stale files, and
``tests/xex/test_conformance_titles.py`` runs that check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from x360k.cpu.runner import execute_guest
from x360k.trace.header import TraceHeader
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.xex.pack import pack_elf

BIN = Path(__file__).resolve().parent / "bin"
#: Every guest but ``stress`` (a benchmark: 100,000 calls would make a 30 MB trace).
TITLES = (
    "dup_signal",
    "wedge",
    "producer_consumer",
    "file_reader",
    "compute",
    "fault",
    "spin",
    "rtl_strings",
    "loader",
    "memory",
)
PROFILES = ("canary", "console")


def expected(bin_dir: Path = BIN) -> dict[Path, bytes]:
    """Every file this tool writes, by path, with the bytes it should hold."""
    files: dict[Path, bytes] = {}
    for name in TITLES:
        xex_path = bin_dir / f"{name}.xex"
        xex = pack_elf((bin_dir / f"{name}.elf").read_bytes(), compression="basic",
                       name=f"{name}.exe")  # fmt: skip
        files[xex_path] = xex
        scratch = bin_dir / f".{name}.tmp.xex"
        scratch.write_bytes(xex)
        try:
            for profile in PROFILES:
                trace = bin_dir / f".{name}.{profile}.tmp.jsonl"
                header = TraceHeader(
                    emulator="x360k",
                    thread_id_style="kernel-id",
                    extra={"scenario": name, "file": f"{name}.xex", "profile": profile},
                )
                writer = JsonlWriter(trace, header, lines_per_write=256)
                try:
                    execute_guest(scratch, profile=profile, recorder=writer, keep_trace=False,
                                  title=bin_dir)  # fmt: skip
                finally:
                    writer.close()
                files[bin_dir / f"{name}.{profile}.jsonl"] = trace.read_bytes()
                trace.unlink()
        finally:
            scratch.unlink()
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, data in expected().items():
        if path.exists() and path.read_bytes() == data:
            continue
        stale.append(path)
        if not check:
            path.write_bytes(data)
            sys.stdout.write(f"wrote {path}\n")
    if check and stale:
        sys.stdout.write("stale: " + " ".join(p.name for p in stale) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
