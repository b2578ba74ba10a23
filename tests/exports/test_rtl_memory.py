"""Rtl memory exports and RtlNtStatusToDosError under both profiles."""

from __future__ import annotations

import itertools
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.exports.dos_errors import RANGES
from x360k.exports.rtl_errors import dos_error
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION

from .rtlkit import UNMAPPED, cstr


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


@pytest.mark.parametrize("profile", PROFILES)
def test_compare_memory(profile: Profile) -> None:
    k = Kernel(profile)
    a, b = cstr(k, b"abcd"), cstr(k, b"abXd")
    assert k.call("RtlCompareMemory", a, b, 4) == (3 if profile == "canary" else 2)
    assert k.call("RtlCompareMemory", a, a, 4) == 4
    assert k.call("RtlCompareMemory", a, UNMAPPED, 0) == 0
    assert k.call("RtlCompareMemory", a, UNMAPPED, 4) == STATUS_ACCESS_VIOLATION


def test_compare_and_fill_memory_ulong(k: Kernel) -> None:
    buf = k.memory.alloc(16, 4)
    k.call("RtlFillMemoryUlong", buf, 14, 0xDEADBEEF)  # three whole ULONGs
    assert k.memory.read_bytes(buf, 16) == bytes.fromhex("deadbeef" * 3) + b"\0" * 4
    assert k.call("RtlCompareMemoryUlong", buf, 16, 0xDEADBEEF) == 12
    assert k.call("RtlCompareMemoryUlong", buf, 11, 0xDEADBEEF) == 8
    # A fill that would run off mapped memory writes nothing at all.
    tail = k.memory.regions[-1].end - 8
    k.call("RtlFillMemoryUlong", tail, 0xFFFFFFF0, 0x11111111)
    assert k.memory.read_bytes(tail, 8) == b"\0" * 8


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=200), seed=st.integers(0, 0xFFFFFFFF))
def test_crc32_is_zlibs(data: bytes, seed: int) -> None:
    k = Kernel("console")
    buf = cstr(k, data)
    assert k.call("RtlComputeCrc32", seed, buf, len(data)) == zlib.crc32(data, seed)


def test_nt_status_to_dos_error(k: Kernel) -> None:
    cases = {
        0: 0,
        0xC0000034: 2,  # object name not found -> ERROR_FILE_NOT_FOUND
        0xC000000D: 87,  # invalid parameter
        0xC0000005: 998,  # access violation -> ERROR_NOACCESS
        0x80070005: 5,  # an HRESULT of a Win32 error
        0xD0000034: 2,  # the D severity is looked up as C
        0x20001234: 0x20001234,  # customer bit: as it is
        0xC0011234: 0x1234,
        0xC0FF0000: 317,
        0x00000103: 0x3E5,  # STATUS_PENDING -> ERROR_IO_PENDING
    }
    for status, error in cases.items():
        assert k.call("RtlNtStatusToDosError", status) == error, hex(status)


def test_dos_error_ranges_are_ordered_and_disjoint() -> None:
    for (start, errors), (next_start, _) in itertools.pairwise(RANGES):
        assert start + len(errors) <= next_start
    assert all(dos_error(start) == errors[0] for start, errors in RANGES if errors[0])
