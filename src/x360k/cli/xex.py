"""``x360k xex``: inspect XEX2 executables and package x360k guests as XEX2 titles.

``info`` shows what a title is (ids, base, entry, stack, TLS, sections,
storage), ``imports`` every import by library and ordinal with whether x360k
and canary implement it, ``pack`` writes a guest ELF as a XEX2. ``--json``
gives the same as one JSON document. A file that cannot be read prints one
line, ``FILE: what, at offset N``, and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from x360k.trace.atomic_write import atomic_write, same_file
from x360k.xex.basefile import COMPRESSION_NAMES, ENCRYPTION_NAMES
from x360k.xex.errors import XexError
from x360k.xex.headers import (
    DEFAULT_HEAP_SIZE,
    DEFAULT_STACK_SIZE,
    execution_info,
    original_pe_name,
    resources,
    tls_info,
    version_text,
)
from x360k.xex.import_names import describe
from x360k.xex.reader import XexFile, read_xex


def _load(path: str) -> XexFile:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror or exc}", err=True)
        sys.exit(2)
    try:
        return read_xex(data)
    except XexError as exc:
        click.echo(exc.line(path), err=True)
        sys.exit(2)


def info_dict(xex: XexFile) -> dict[str, Any]:
    """Everything ``x360k xex info`` shows, as plain data."""
    h = xex.header
    ex = execution_info(h)
    tls = tls_info(h)
    return {
        "title_id": None if ex is None else f"{ex.title_id:08X}",
        "media_id": None if ex is None else f"{ex.media_id:08X}",
        "version": None if ex is None else version_text(ex.version),
        "base_version": None if ex is None else version_text(ex.base_version),
        "disc": None if ex is None else f"{ex.disc_number}/{ex.disc_count}",
        "original_pe_name": original_pe_name(h),
        "module_flags": h.module_flags,
        "load_address": xex.base,
        "image_size": xex.security.image_size,
        "entry_point": xex.entry,
        "default_stack_size": h.value(DEFAULT_STACK_SIZE),
        "default_heap_size": h.value(DEFAULT_HEAP_SIZE),
        "tls": None
        if tls is None
        else {
            "slot_count": tls.slot_count,
            "raw_data_address": tls.raw_data_address,
            "data_size": tls.data_size,
            "raw_data_size": tls.raw_data_size,
        },
        "compression": COMPRESSION_NAMES.get(xex.format.compression, "?"),
        "encryption": ENCRYPTION_NAMES.get(xex.format.encryption, "?"),
        "key": xex.key,
        "window_size": xex.format.window_size or None,
        "sections": [
            {
                "name": s.name,
                "address": xex.base + s.virtual_address,
                "size": s.virtual_size,
                "access": s.access,
            }
            for s in xex.pe.sections
        ],
        "pages": [
            {"kind": p.kind, "count": p.count, "size": p.count * xex.security.page_size}
            for p in xex.security.pages
        ],
        "resources": [{"name": r.name, "address": r.address, "size": r.size} for r in resources(h)],
        "optional_headers": sorted(o.name for o in h.optional.values()),
        "libraries": [
            {"name": lib.name, "version": version_text(lib.version), "records": len(lib.records)}
            for lib in xex.imports.libraries
        ],
    }


def import_rows(xex: XexFile) -> list[dict[str, Any]]:
    """One row per imported export (a function's variable + thunk records are one row)."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for record in xex.records:
        key = (record.library, record.ordinal)
        row = rows.get(key)
        if row is None:
            info = describe(record.library, record.ordinal)
            row = rows[key] = {
                "library": record.library,
                "ordinal": record.ordinal,
                "name": info.name,
                "kind": "variable",
                "x360k": info.x360k,
                "canary": info.canary,
                "thunk": None,
                "record": record.address,
            }
        if record.kind == "thunk":
            row["kind"] = "function"
            row["thunk"] = record.address
    return sorted(rows.values(), key=lambda r: (r["library"], r["ordinal"]))


@click.group("xex")
def command() -> None:
    """Inspect XEX2 executables; package guest ELFs as XEX2 titles."""


@command.command("info")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def info_cmd(file: str, as_json: bool) -> None:
    """Title, ids, base, entry, stack, TLS, storage, sections and pages of FILE."""
    d = info_dict(_load(file))
    if as_json:
        sys.stdout.write(msgspec.json.encode(d).decode() + "\n")
        return
    out = [f"{file}"]
    for key in ("title_id", "media_id", "version", "original_pe_name"):
        out.append(f"  {key:<20} {d[key]}")
    out.append(f"  {'load_address':<20} 0x{d['load_address']:08x}")
    out.append(f"  {'image_size':<20} 0x{d['image_size']:x}")
    out.append(f"  {'entry_point':<20} 0x{d['entry_point']:08x}")
    stack = d["default_stack_size"]
    out.append(f"  {'default_stack_size':<20} {'-' if stack is None else hex(stack)}")
    tls = d["tls"]
    out.append(f"  {'tls':<20} " + ("none" if tls is None else f"{tls['slot_count']} slots, "
               f"{tls['data_size']} bytes from 0x{tls['raw_data_address']:08x}"))  # fmt: skip
    storage = f"{d['compression']}, encryption {d['encryption']}"
    if d["key"]:
        storage += f" ({d['key']} key)"
    out.append(f"  {'storage':<20} {storage}")
    out.append("  sections:")
    for s in d["sections"]:
        out.append(f"    {s['name']:<9} 0x{s['address']:08x} {s['size']:>8} {s['access']}")
    out.append("  pages: " + ", ".join(f"{p['count']} {p['kind']}" for p in d["pages"]))
    for lib in d["libraries"]:
        out.append(f"  imports {lib['name']} {lib['version']}: {lib['records']} records")
    for r in d["resources"]:
        out.append(f"  resource {r['name']:<8} 0x{r['address']:08x} {r['size']:>8}")
    out.append(f"  optional headers: {', '.join(d['optional_headers'])}")
    sys.stdout.write("\n".join(out) + "\n")


@command.command("imports")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def imports_cmd(file: str, as_json: bool) -> None:
    """Every import of FILE by library and ordinal: its name, and who implements it."""
    rows = import_rows(_load(file))
    if as_json:
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
        return

    def yes(value: bool | str | None) -> str:
        if isinstance(value, str):
            return value
        return "unknown" if value is None else ("yes" if value else "no")

    lines = [f"{'library':<14} {'ordinal':>7}  {'name':<40} {'kind':<8} {'x360k':<7} canary"]
    for r in rows:
        name = r["name"] or "?"
        lines.append(
            f"{r['library']:<14} {r['ordinal']:>7}  {name:<40} {r['kind']:<8} "
            f"{yes(r['x360k']):<7} {yes(r['canary'])}"
        )
    missing = sum(not r["x360k"] for r in rows)
    lines.append(f"{len(rows)} imports, {missing} not implemented by x360k")
    sys.stdout.write("\n".join(lines) + "\n")


@command.command("pack")
@click.argument("elf", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Default: ELF with .xex.")
@click.option(
    "--compression", type=click.Choice(["none", "basic", "lzx"]), default="basic",
    show_default=True,
)  # fmt: skip
@click.option(
    "--encryption", type=click.Choice(["none", "retail", "devkit"]), default="none",
    show_default=True,
)  # fmt: skip
def pack_cmd(elf: str, output: str | None, compression: str, encryption: str) -> None:
    """Write the guest ELF as a XEX2 conformance title an emulator can run."""
    from x360k.xex.pack import pack_elf

    try:
        data = Path(elf).read_bytes()
    except OSError as exc:
        click.echo(f"{elf}: cannot read: {exc.strerror or exc}", err=True)
        sys.exit(2)
    try:
        xex = pack_elf(
            data,
            compression=compression,
            encryption=None if encryption == "none" else encryption,
            name=Path(elf).with_suffix(".exe").name,
        )
    except XexError as exc:
        click.echo(exc.line(elf), err=True)
        sys.exit(2)
    target = Path(output) if output else Path(elf).with_suffix(".xex")
    if same_file(target, Path(elf)):
        click.echo(f"{target}: is the ELF being packed; pack never writes over its input", err=True)
        sys.exit(2)
    try:
        atomic_write(target, lambda tmp: tmp.write_bytes(xex))
    except OSError as exc:
        click.echo(f"{target}: cannot write: {exc.strerror or exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote {target} ({len(xex)} bytes)")
