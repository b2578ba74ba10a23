"""Rtl strings: STRING records, conversions, comparisons and case, under both profiles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_SUCCESS,
)

from .rtlkit import UNMAPPED, ansi, cstr, fields, record, signed, text_of, unicode, wstr


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_init_ansi_string_points_at_the_source(k: Kernel) -> None:
    src = cstr(k, b"game:\\default.xex")
    dest = record(k, 0xAAAA, 0xBBBB, 0xCCCCCCCC)
    k.call("RtlInitAnsiString", dest, src)
    assert fields(k, dest) == (17, 18, src)
    k.call("RtlInitAnsiString", dest, 0)
    assert fields(k, dest) == (0, 0, 0)


def test_init_unicode_string_counts_bytes_and_returns_the_record(k: Kernel) -> None:
    src = wstr(k, "Sav\u00e9")
    dest = record(k, 1, 1, 1)
    assert k.call("RtlInitUnicodeString", dest, src) == dest
    assert fields(k, dest) == (8, 10, src)


@pytest.mark.parametrize("profile", PROFILES)
def test_init_of_a_string_longer_than_a_record_holds(profile: Profile) -> None:
    k = Kernel(profile)
    src = cstr(k, b"x" * 0x10001)
    dest = record(k, 0, 0, 0)
    k.call("RtlInitAnsiString", dest, src)
    expected = (1, 2) if profile == "canary" else (0xFFFE, 0xFFFF)
    assert fields(k, dest) == (*expected, src)


def test_init_with_bad_pointers_never_raises(k: Kernel) -> None:
    dest = record(k, 5, 6, 7)
    k.call("RtlInitAnsiString", dest, UNMAPPED)  # the scan faults: nothing written
    assert fields(k, dest) == (5, 6, 7)
    k.call("RtlInitAnsiString", UNMAPPED, cstr(k, b"a"))
    # A string that runs off the end of mapped memory without a NUL faults too.
    region = k.memory.regions[-1]
    tail = region.end - 4
    k.memory.write_bytes(tail, b"abcd")
    k.call("RtlInitUnicodeString", dest, tail)
    assert fields(k, dest) == (5, 6, 7)


def test_free_gives_back_kernel_buffers_and_empties_the_record(k: Kernel) -> None:
    dest = record(k, 0, 0, 0)
    assert k.call("RtlCreateUnicodeString", dest, wstr(k, "abc")) == 1
    length, maximum, buffer = fields(k, dest)
    assert (length, maximum) == (6, 8)
    assert k.memory.read_bytes(buffer, 8) == "abc\0".encode("utf-16-be")
    k.call("RtlFreeUnicodeString", dest)
    assert fields(k, dest) == (0, 0, 0)
    # A title's own buffer is left alone (only the record is emptied).
    own = ansi(k, b"mine")
    k.call("RtlFreeAnsiString", own)
    assert fields(k, own) == (0, 0, 0)


def test_copy_string_truncates_to_the_destination(k: Kernel) -> None:
    src = ansi(k, b"abcdef")
    dest = record(k, 0, 4, k.memory.alloc(8))
    k.call("RtlCopyString", dest, src)
    assert text_of(k, dest) == b"abcd"
    k.call("RtlCopyString", dest, 0)
    assert fields(k, dest)[0] == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_copy_unicode_string(profile: Profile) -> None:
    k = Kernel(profile)
    src = unicode(k, "abcd")
    buf = k.memory.alloc(32, 2)
    k.memory.fill(buf, 32, 0xEE)
    dest = record(k, 0, 12, buf)
    k.call("RtlCopyUnicodeString", dest, src)
    assert fields(k, dest)[0] == 8
    if profile == "canary":
        # Sixteen bytes copied for a Length of 8: past the source's text, no NUL added.
        assert k.memory.read_bytes(buf, 8) == "abcd".encode("utf-16-be")
        assert k.memory.read_bytes(buf + 16, 2) == b"\xee\xee"
    else:
        assert k.memory.read_bytes(buf, 12) == "abcd\0".encode("utf-16-be") + b"\xee\xee"


def test_append(k: Kernel) -> None:
    dest = ansi(k, b"ab", room=3)
    assert k.call("RtlAppendStringToString", dest, ansi(k, b"cd")) == STATUS_SUCCESS
    assert text_of(k, dest) == b"abcd"
    assert k.call("RtlAppendStringToString", dest, ansi(k, b"xyz")) == STATUS_BUFFER_TOO_SMALL
    assert text_of(k, dest) == b"abcd"
    wide = unicode(k, "a", room=8)
    assert k.call("RtlAppendUnicodeToString", wide, wstr(k, "bc")) == STATUS_SUCCESS
    assert k.call("RtlAppendUnicodeStringToString", wide, unicode(k, "d")) == STATUS_SUCCESS
    assert text_of(k, wide) == "abcd".encode("utf-16-be")


def test_ansi_to_unicode(k: Kernel) -> None:
    dest = record(k, 0, 0, 0)
    src = ansi(k, b"caf\xe9")
    assert k.call("RtlAnsiStringToUnicodeString", dest, src, 1) == STATUS_SUCCESS
    assert text_of(k, dest) == "caf\u00e9".encode("utf-16-be")
    small = record(k, 0, 6, k.memory.alloc(8))
    assert k.call("RtlAnsiStringToUnicodeString", small, src, 0) == STATUS_BUFFER_OVERFLOW


@pytest.mark.parametrize("profile", PROFILES)
def test_unicode_to_ansi_wide_characters(profile: Profile) -> None:
    k = Kernel(profile)
    dest = record(k, 0, 0, 0)
    assert k.call("RtlUnicodeStringToAnsiString", dest, unicode(k, "\u00e9\u4e2d"), 1) == 0
    expected = "\u00e9\u4e2d".encode() if profile == "canary" else b"\xe9?"
    assert text_of(k, dest) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_unicode_to_ansi_into_a_short_buffer(profile: Profile) -> None:
    k = Kernel(profile)
    buf = k.memory.alloc(8)
    dest = record(k, 7, 4, buf)
    status = k.call("RtlUnicodeStringToAnsiString", dest, unicode(k, "abcdef"), 0)
    assert status == STATUS_BUFFER_OVERFLOW
    assert k.memory.read_bytes(buf, 4) == b"abc\0"
    assert fields(k, dest)[0] == (7 if profile == "canary" else 3)
    empty = record(k, 0, 0, buf)  # MaximumLength 0: nothing is written
    assert k.call("RtlUnicodeStringToAnsiString", empty, unicode(k, "x"), 0) == (
        STATUS_BUFFER_OVERFLOW
    )
    assert k.memory.read_bytes(buf, 1) == b"a"


def test_conversion_bad_pointers_get_access_violation(k: Kernel) -> None:
    out = k.memory.alloc(4)
    status = k.call("RtlMultiByteToUnicodeN", UNMAPPED, 8, out, cstr(k, b"abcd"), 4)
    assert status == STATUS_ACCESS_VIOLATION
    status = k.call("RtlUnicodeToMultiByteN", k.memory.alloc(8), 8, out, UNMAPPED, 8)
    assert status == STATUS_ACCESS_VIOLATION
    # A huge length is refused by the range check before anything is copied.
    status = k.call("RtlMultiByteToUnicodeN", k.memory.alloc(8), 0xFFFFFFFE, 0, out, 0x7FFFFFFF)
    assert status == STATUS_ACCESS_VIOLATION
    dest = record(k, 0, 0, 0)
    assert k.call("RtlAnsiStringToUnicodeString", dest, UNMAPPED, 1) == STATUS_ACCESS_VIOLATION
    assert fields(k, dest) == (0, 0, 0)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=64), profile=st.sampled_from(PROFILES))
def test_multibyte_round_trip(data: bytes, profile: Profile) -> None:
    k = Kernel(profile)
    src = cstr(k, data)
    wide = k.memory.alloc(2 * len(data) + 2, 2)
    back = k.memory.alloc(len(data) + 1, 1)
    written = k.memory.alloc(4)
    assert k.call("RtlMultiByteToUnicodeN", wide, 2 * len(data), written, src, len(data)) == 0
    assert k.memory.read_u32(written) == 2 * len(data)
    assert k.memory.read_bytes(wide, 2 * len(data)) == data.decode("latin-1").encode("utf-16-be")
    assert k.call("RtlUnicodeToMultiByteN", back, len(data), written, wide, 2 * len(data)) == 0
    assert k.memory.read_bytes(back, len(data)) == data


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(st.characters(max_codepoint=0xFF, exclude_categories=("Cs",)), max_size=40),
    profile=st.sampled_from(PROFILES),
)
def test_string_record_round_trip(text: str, profile: Profile) -> None:
    k = Kernel(profile)
    wide = record(k, 0, 0, 0)
    narrow = record(k, 0, 0, 0)
    src = ansi(k, text.encode("latin-1"))
    assert k.call("RtlAnsiStringToUnicodeString", wide, src, 1) == 0
    assert text_of(k, wide).decode("utf-16-be") == text
    assert k.call("RtlUnicodeStringToAnsiString", narrow, wide, 1) == 0
    expected = text.encode() if profile == "canary" else text.encode("latin-1")
    assert text_of(k, narrow) == expected


def test_compare_strings(k: Kernel) -> None:
    a, b = ansi(k, b"Hello"), ansi(k, b"hello!")
    assert signed(k.call("RtlCompareString", a, b, 0)) < 0
    assert signed(k.call("RtlCompareString", a, b, 1)) == -1  # equal prefix: length decides
    assert k.call("RtlCompareString", a, ansi(k, b"HELLO"), 1) == 0
    p, q = cstr(k, b"abc"), cstr(k, b"abd")
    assert signed(k.call("RtlCompareStringN", p, 0xFFFFFFFF, q, 0xFFFFFFFF, 0)) == -1
    assert k.call("RtlCompareStringN", p, 2, q, 2, 0) == 0
    u, v = unicode(k, "Stra\u00dfe"), unicode(k, "STRA\u00dfE")
    assert k.call("RtlCompareUnicodeString", u, v, 1) == 0
    assert signed(k.call("RtlCompareUnicodeString", u, v, 0)) > 0
    w, x = wstr(k, "ab"), wstr(k, "abc")
    assert signed(k.call("RtlCompareUnicodeStringN", w, 0xFFFFFFFF, x, 0xFFFFFFFF, 0)) == -1


@pytest.mark.parametrize("profile", PROFILES)
def test_case(profile: Profile) -> None:
    k = Kernel(profile)
    assert k.call("RtlUpcaseUnicodeChar", ord("q")) == ord("Q")
    accented = k.call("RtlUpcaseUnicodeChar", 0xE9)
    assert accented == (0xE9 if profile == "canary" else 0xC9)
    assert k.call("RtlDowncaseUnicodeChar", 0x391) == 0x3B1
    assert k.call("RtlUpperChar", ord("z")) == ord("Z")
    assert k.call("RtlUpperChar", 0xE9) == 0xC9
    assert k.call("RtlUpperChar", 0xF7) == 0xF7  # the division sign has no case
    assert k.call("RtlLowerChar", 0xC9) == 0xE9
    a, b = unicode(k, "\u00e9t\u00e9"), unicode(k, "\u00c9T\u00c9")
    equal = k.call("RtlCompareUnicodeString", a, b, 1) == 0
    assert equal is (profile == "console")
