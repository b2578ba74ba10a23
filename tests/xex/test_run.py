"""``x360k run FILE.xex``: a packed guest runs to the same trace as its ELF; stops by name."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.xex.conftest import GUESTS, VARIANTS, packed
from x360k.cpu.runner import GuestLoadError, execute_guest
from x360k.trace.text_form import format_event
from x360k.xex.reader import read_xex
from x360k.xex.writer import XexSpec, build_xex


def _trace(path: Path, title: Path, profile: str = "canary") -> tuple[str, list[str]]:
    run = execute_guest(path, title=title, profile=profile)  # type: ignore[arg-type]
    assert run.trace is not None
    return run.outcome, [format_event(e, with_tid=True) for e in run.trace.events]


@pytest.fixture
def title(tmp_path: Path) -> Path:
    shutil.copy(GUESTS / "data.txt", tmp_path / "data.txt")
    return tmp_path


@pytest.mark.parametrize(("compression", "encryption"), VARIANTS)
def test_each_variant_runs_to_the_elf_trace(
    title: Path, compression: str, encryption: str | None
) -> None:
    xex = title / "producer_consumer.xex"
    xex.write_bytes(packed("producer_consumer", compression, encryption))
    assert _trace(xex, title) == _trace(GUESTS / "producer_consumer.elf", title)


@pytest.mark.parametrize("guest", ["dup_signal", "wedge", "file_reader", "spin", "fault"])
@pytest.mark.parametrize("profile", ["canary", "console"])
def test_each_guest_runs_to_the_elf_trace(title: Path, guest: str, profile: str) -> None:
    xex = title / f"{guest}.xex"
    xex.write_bytes(packed(guest, "basic"))
    outcome, events = _trace(xex, title, profile)
    assert (outcome, events) == _trace(GUESTS / f"{guest}.elf", title, profile)
    assert events


def _with_xam_import(tmp: Path) -> Path:
    """dup_signal with its NtDuplicateObject import re-pointed at xam.xex ordinal 464."""
    xex = read_xex(packed("dup_signal"))
    image = bytearray(xex.image)
    records = list(xex.imports.libraries[0].records)
    duplicate = next(r.address for r in xex.records if r.kind == "thunk" and r.ordinal == 218)
    i = records.index(duplicate)
    moved = [records.pop(i - 1), records.pop(i - 1)]
    for address in moved:
        off = address - xex.base
        word = struct.unpack_from(">I", image, off)[0]
        struct.pack_into(">I", image, off, (word & 0xFF000000) | 464)
    spec = XexSpec(bytes(image), xex.base, xex.entry,
                   imports=[("xboxkrnl.exe", records), ("xam.xex", moved)])  # fmt: skip
    path = tmp / "xam.xex"
    path.write_bytes(build_xex(spec))
    return path


def test_a_xam_import_stops_the_run_by_name(title: Path) -> None:
    run = execute_guest(_with_xam_import(title), title=title)
    assert run.outcome == "fault"
    assert run.fault is not None
    assert run.fault.reason == "not implemented: XamSetCurrentTitleDash (xam.xex ordinal 464)"
    assert run.trace is not None
    assert run.trace.events[-1].kind == "marker"
    calls = [e for e in run.trace.events if e.kind == "kernel.call"]
    assert len(calls) == 1  # NtCreateEvent, kept: the trace up to the stop


def test_a_bad_xex_is_a_load_error_with_one_line(title: Path) -> None:
    bad = title / "bad.xex"
    bad.write_bytes(packed("dup_signal")[:5000])
    with pytest.raises(GuestLoadError, match=r"bad\.xex: .*, at offset \d+$"):
        execute_guest(bad, title=title)


def test_the_main_thread_gets_the_xex_default_stack_size(title: Path) -> None:
    from x360k.xex.pack import pack_elf

    xex = title / "dup_signal.xex"
    xex.write_bytes(pack_elf((GUESTS / "dup_signal.elf").read_bytes(), stack_size=0x40000))
    run = execute_guest(xex, title=title)
    assert run.outcome == "finished"
    main = run.kernel.threads[0]
    assert main.stack_size == 0x40000
    assert run.kernel.memory.read_u32(main.pcr + 0x74) == main.stack_base - 0x40000
    assert read_xex(packed("dup_signal")).header.value(0x00020200) == 64 * 1024


@pytest.mark.parametrize(
    ("word", "what"),
    [(0xE8610000, "64-bit instruction (ld/ldu/lwa)"), (0x7C6349D2, "64-bit instruction (mulld)"),
     (0x14000000, "VMX128 instruction")],
)  # fmt: skip
def test_an_instruction_unicorn_cannot_run_stops_with_one_report(
    title: Path, word: int, what: str
) -> None:
    xex = read_xex(packed("fault"))
    image = bytearray(xex.image)
    # After the first kernel call (NtCreateEvent returns to its caller), run the word.
    calls = execute_guest(GUESTS / "fault.elf", title=title)
    assert calls.trace is not None
    ret = next(e.ret_addr for e in calls.trace.events if e.ret_addr is not None)
    struct.pack_into(">I", image, ret - xex.base, word)
    spec = XexSpec(bytes(image), xex.base, xex.entry, imports=[("xboxkrnl.exe",
                   xex.imports.libraries[0].records)], compression="basic")  # fmt: skip
    path = title / "xenon.xex"
    path.write_bytes(build_xex(spec))
    run = execute_guest(path, title=title)
    assert run.fault is not None
    assert what in run.fault.reason
    assert run.fault.pc == ret
    assert f"{word:08x}" in run.fault.instruction  # its bytes
    assert run.trace is not None and run.trace.events[-1].kind == "marker"
    assert sum(e.kind == "kernel.call" for e in run.trace.events) == 1


def test_tls_follows_the_xex_tls_info(title: Path) -> None:
    from x360k.exports.tls import TlsState

    xex = read_xex(packed("producer_consumer"))
    template_at = xex.base + 0x100  # inside the PE header page: any image bytes will do
    spec = XexSpec(bytes(xex.image), xex.base, xex.entry,
                   imports=[("xboxkrnl.exe", xex.imports.libraries[0].records)],
                   tls=(64, template_at, 32, 16))  # fmt: skip
    path = title / "tls.xex"
    path.write_bytes(build_xex(spec))
    run = execute_guest(path, title=title)
    assert run.outcome == "finished"
    state = run.kernel.ext["tls"]
    assert isinstance(state, TlsState)
    assert (state.slots, state.extended) == (64, 32)
    mem = run.kernel.memory
    template = bytes(xex.image[0x100:0x110]) + bytes(16)
    for t in run.kernel.threads:  # every thread got its block as it started
        static = mem.read_u32(t.pcr)
        assert mem.read_bytes(static, 32) == template
        assert state.blocks[t.ordinal] == static + 32
    assert len(state.blocks) == len(run.kernel.threads) == 3


def test_out_of_bounds_tls_info_is_refused(title: Path) -> None:
    xex = read_xex(packed("dup_signal"))
    spec = XexSpec(bytes(xex.image), xex.base, xex.entry, tls=(64, 0x70000000, 32, 16))
    path = title / "tls.xex"
    path.write_bytes(build_xex(spec))
    with pytest.raises(GuestLoadError, match=r"TLS info .* is out of bounds"):
        execute_guest(path, title=title)
