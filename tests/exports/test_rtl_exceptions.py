"""RtlRaiseException, KeBugCheck(Ex), RtlImageNtHeader, RtlGetStackLimits, RtlRip."""

from __future__ import annotations

import pytest

from x360k.cpu.fault import GuestFault
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile

from ..threadkit import World
from .rtlkit import UNMAPPED, cstr


def exception_record(k: Kernel, code: int, *info: int) -> int:
    rec = k.memory.alloc(0x50, 4)
    k.memory.write_u32(rec, code)
    k.memory.write_u32(rec + 0x10, len(info))
    for i, value in enumerate(info):
        k.memory.write_u32(rec + 0x14 + 4 * i, value)
    return rec


def markers(w: World) -> list[str]:
    return [e.text or "" for e in w.rec.thread(0) if e.kind == "marker"]


@pytest.mark.parametrize("profile", PROFILES)
def test_set_thread_name_returns_under_both(profile: Profile) -> None:
    w = World(profile)
    name = cstr(w.k, b"Render\x01Thread")
    w.k.call("RtlRaiseException", exception_record(w.k, 0x406D1388, 0x1000, name, 0xFFFFFFFF))
    assert markers(w) == ["SetThreadName: 'Render?Thread'"]


@pytest.mark.parametrize("profile", PROFILES)
def test_other_exceptions(profile: Profile) -> None:
    w = World(profile)
    rec = exception_record(w.k, 0xC0000094)
    if profile == "canary":
        w.k.call("RtlRaiseException", rec)
        assert markers(w) == ["exception 0xC0000094 raised (not dispatched)"]
    else:
        with pytest.raises(GuestFault, match="0xC0000094"):
            w.k.call("RtlRaiseException", rec)
        assert markers(w)[-1].startswith("kernel stop: RtlRaiseException")


@pytest.mark.parametrize("profile", PROFILES)
def test_bug_check_stops_the_run_with_a_report(profile: Profile) -> None:
    w = World(profile)
    with pytest.raises(GuestFault) as info:
        w.k.call("KeBugCheckEx", 0xDEADDEAD, 1, 2, 3, 4)
    report = info.value.report
    assert "STOP 0xDEADDEAD (0x00000001, 0x00000002, 0x00000003, 0x00000004)" in report.reason
    assert report.instruction == "call KeBugCheckEx"
    with pytest.raises(GuestFault, match="STOP 0x0000004E"):
        w.k.call("KeBugCheck", 0x4E)


def test_image_nt_header(k: Kernel) -> None:
    image = k.memory.alloc(0x200, 8)
    k.memory.write_bytes(image, b"MZ")
    k.memory.write_bytes(image + 0x3C, (0x80).to_bytes(4, "little"))
    k.memory.write_bytes(image + 0x80, b"PE\0\0")
    assert k.call("RtlImageNtHeader", image) == image + 0x80
    k.memory.write_bytes(image + 0x3C, (0x7FFFFFF0).to_bytes(4, "little"))  # e_lfanew wild
    assert k.call("RtlImageNtHeader", image) == 0
    assert k.call("RtlImageNtHeader", UNMAPPED) == 0
    assert k.call("RtlImageNtHeader", 0) == 0


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_stack_limits_and_rip(k: Kernel) -> None:
    low, high = k.memory.alloc(4), k.memory.alloc(4)
    k.call("RtlGetStackLimits", low, high)
    t = k.main_thread
    assert (k.memory.read_u32(low), k.memory.read_u32(high)) == (
        t.stack_base - t.stack_size,
        t.stack_base,
    )
    assert k.memory.read_u32(t.pcr + 0x70) == t.stack_base
    k.call("RtlRip", cstr(k, b"assert"), UNMAPPED)  # never raises in the host
