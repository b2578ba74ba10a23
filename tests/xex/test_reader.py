"""Reading XEX2 files: every storage variant, the xex2 package's view, bad files."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.xex.conftest import GUESTS, VARIANTS, packed
from x360k.cpu.elf import parse_elf
from x360k.xex.errors import XexError
from x360k.xex.reader import read_xex
from x360k.xex.writer import XexSpec, build_xex

xex2 = pytest.importorskip("xex2")


@pytest.mark.parametrize(("compression", "encryption"), VARIANTS)
def test_every_variant_reads_to_the_same_image(compression: str, encryption: str | None) -> None:
    reference = read_xex(packed("dup_signal"))
    xex = read_xex(packed("dup_signal", compression, encryption))
    assert xex.image == reference.image
    assert xex.key == encryption
    assert xex.base == 0x81FF0000
    elf = parse_elf((GUESTS / "dup_signal.elf").read_bytes())
    assert xex.entry == elf.entry
    seg = elf.segments[0]
    text = elf.sections[".text"]
    off = text.addr - xex.base
    assert xex.image[off : off + text.size] == seg.data[: text.size]
    assert [s.name for s in xex.pe.sections][:2] == [".text", ".xboxkrn"]


@pytest.mark.parametrize(("compression", "encryption"), VARIANTS)
def test_the_xex2_package_agrees(compression: str, encryption: str | None) -> None:
    data = packed("file_reader", compression, encryption)
    ours = read_xex(data)
    theirs = xex2.Xex2.parse(data)
    assert theirs.entry_point == ours.entry
    assert theirs.load_address == ours.base
    assert theirs.image_size == ours.security.image_size
    assert theirs.title_id == 0x5833364B
    assert theirs.compression_type == ours.format.compression
    assert theirs.encryption_type == ours.format.encryption
    assert theirs.page_descriptor_count == len(ours.security.pages)
    imports = theirs.imports()
    assert imports.len == len(ours.imports.libraries) == 1
    lib = imports.get(0)
    assert lib.name == "xboxkrnl.exe"
    assert [lib.record_at(i) for i in range(lib.record_count)] == list(
        ours.imports.libraries[0].records
    )
    if (compression, encryption) == ("lzx", "retail"):
        # xex2 0.4.0 fails to extract LZX + retail-key files ("decompression failed") while
        # it extracts LZX + devkit and basic + retail ones; pinned so a fix shows up here.
        with pytest.raises(RuntimeError, match="decompression failed"):
            theirs.extract_basefile()
        return
    assert theirs.extract_basefile() == bytes(ours.image)


def test_lzx_block_types_agree_with_the_xex2_package() -> None:
    image = read_xex(packed("producer_consumer")).image
    for types in [(1,), (2,), (3,), (3, 1, 2)]:
        spec = XexSpec(bytes(image), 0x81FF0000, 0x82000034, compression="lzx",
                       lzx_block_types=types, encryption="devkit")  # fmt: skip
        data = build_xex(spec)
        assert read_xex(data).image == image
        assert xex2.Xex2.parse(data).extract_basefile() == bytes(image)


def test_truncated_files_name_what_and_where() -> None:
    data = packed("dup_signal", "lzx", "retail")
    with pytest.raises(XexError, match="not a XEX2 file"):
        read_xex(b"MZ" + data[2:])
    with pytest.raises(XexError, match="too short"):
        read_xex(data[:10])
    with pytest.raises(XexError, match=r"past the end of the file, at offset 8"):
        read_xex(data[:3000])
    with pytest.raises(XexError) as info:
        read_xex(data[:-200])
    assert "neither the retail nor the devkit key" in str(info.value)
    assert info.value.line("t.xex").startswith("t.xex: ")


def test_a_corrupt_lzx_block_is_found_by_its_hash() -> None:
    data = bytearray(packed("dup_signal", "lzx"))
    header_size = struct.unpack_from(">I", data, 8)[0]
    data[header_size + 40] ^= 0xFF
    with pytest.raises(XexError, match=r"LZX block 0 does not match its SHA-1"):
        read_xex(bytes(data))


def test_xex1_and_patches_are_refused_by_name() -> None:
    data = bytearray(packed("dup_signal"))
    data[:4] = b"XEX1"
    with pytest.raises(XexError, match="XEX1"):
        read_xex(bytes(data))


BASE = packed("wedge", "basic", "retail")
HEADER_SIZE = struct.unpack_from(">I", BASE, 8)[0]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(BASE)),
    st.lists(st.tuples(st.integers(0, HEADER_SIZE + 64), st.integers(0, 255)), max_size=5),
)
def test_damaged_files_raise_only_xex_error(cut: int, edits: list[tuple[int, int]]) -> None:
    data = bytearray(BASE[:cut] if cut > 24 else BASE)
    for at, value in edits:
        if at < len(data):
            data[at] = value
    try:
        xex = read_xex(bytes(data))
    except XexError as exc:
        assert ", at offset " in str(exc)
        return
    assert xex.pe.sections


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=600))
def test_random_files_with_the_magic_raise_only_xex_error(tail: bytes) -> None:
    try:
        read_xex(b"XEX2" + tail)
    except XexError as exc:
        assert ", at offset " in str(exc)


@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, HEADER_SIZE - 1), st.integers(0, 255)), max_size=4))
def test_damaged_files_never_map_outside_their_image(edits: list[tuple[int, int]]) -> None:
    from x360k.kernel import Kernel
    from x360k.xex.guest_loader import load_xex_image

    data = bytearray(packed("dup_signal", "lzx"))
    for at, value in edits:
        data[at] = value
    kernel = Kernel("canary")
    before = {(r.base, r.end) for r in kernel.memory.regions}
    exports = {ex.ordinal: ex.name for ex in kernel.exports}
    try:
        loaded = load_xex_image(kernel.memory, bytes(data), "t.xex", exports, kernel.data_exports)
    except XexError:
        assert {(r.base, r.end) for r in kernel.memory.regions} == before
        return
    added = {(r.base, r.end) for r in kernel.memory.regions} - before
    assert added == {(loaded.image.base, loaded.image.end)}
    assert all(loaded.image.base <= a < loaded.image.end for a in loaded.image.thunks)


def test_a_basefile_that_is_not_pe_is_named() -> None:
    from x360k.xex.writer import PAGE

    image = bytes(PAGE)
    with pytest.raises(XexError, match=r"basefile: .*'MZ'.*, at offset 4096$"):
        read_xex(build_xex(XexSpec(image, 0x82000000, 0x82000000)))
    with pytest.raises(XexError, match=r"basefile \(image byte 0\): .*'MZ'"):
        read_xex(build_xex(XexSpec(image, 0x82000000, 0x82000000, compression="basic")))
