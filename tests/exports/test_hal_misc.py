"""Process type, AV pack, HalReturnToFirmware, DbgBreakPoint, title-terminate routines."""

from __future__ import annotations

import pytest

from x360k.cpu.fault import GuestFault
from x360k.exports.hal_misc import title_terminate_routines
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile

from ..threadkit import World
from .rtlkit import UNMAPPED


@pytest.mark.parametrize("profile", PROFILES)
def test_process_type_and_av_pack(profile: Profile) -> None:
    k = Kernel(profile)
    assert k.call("KeGetCurrentProcessType") == 1
    k.call("KeSetCurrentProcessType", 2)  # outside a DPC: no change
    assert k.call("KeGetCurrentProcessType") == 1
    assert k.call("HalGetCurrentAVPack") == 4


@pytest.mark.parametrize("profile", PROFILES)
def test_return_to_firmware_ends_the_run_with_a_report(profile: Profile) -> None:
    w = World(profile)
    with pytest.raises(GuestFault) as info:
        w.k.call("HalReturnToFirmware", 1)
    assert info.value.report.reason == (
        "HalReturnToFirmware: the title returned to the firmware (reboot)"
    )
    assert info.value.report.instruction == "call HalReturnToFirmware"
    events = w.rec.thread(0)
    assert events[-1].kind == "marker" and "kernel stop: HalReturnToFirmware" in (
        events[-1].text or ""
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_break_point(profile: Profile) -> None:
    w = World(profile)
    if profile == "canary":
        w.k.call("DbgBreakPoint")
        assert [e.text for e in w.rec.thread(0) if e.kind == "marker"] == ["DbgBreakPoint"]
    else:
        with pytest.raises(GuestFault, match="breakpoint with no debugger attached"):
            w.k.call("DbgBreakPoint")


def test_break_point_quirk_alone() -> None:
    k = Kernel("console", quirks={"dbg_break_point_returns": True})
    k.call("DbgBreakPoint")  # returns


@pytest.mark.parametrize("profile", PROFILES)
def test_title_terminate_registrations(profile: Profile) -> None:
    k = Kernel(profile)
    mem = k.memory
    regs = []
    for routine, priority in ((0x82001000, 5), (0x82002000, -1), (0x82003000, 7)):
        reg = mem.alloc(16, 4)
        mem.write_u32(reg, routine)
        mem.write_u32(reg + 4, priority & 0xFFFFFFFF)
        regs.append(reg)
        k.call("ExRegisterTitleTerminateNotification", reg, 1)
    assert title_terminate_routines(k) == [(-1, 0x82002000), (5, 0x82001000), (7, 0x82003000)]
    k.call("ExRegisterTitleTerminateNotification", regs[0], 0)
    assert title_terminate_routines(k) == [(-1, 0x82002000), (7, 0x82003000)]
    k.call("ExRegisterTitleTerminateNotification", UNMAPPED, 1)  # never raises in the host
    assert len(title_terminate_routines(k)) == 2
