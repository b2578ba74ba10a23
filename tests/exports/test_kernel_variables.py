"""The kernel's data exports: addresses, start-up contents, the time-stamp bundle."""

from __future__ import annotations

import itertools
import struct

import pytest

from x360k.clock import SYSTEM_TIME_BASE
from x360k.exports.kernel_variables import (
    KERNEL_VARIABLES,
    refresh_time_stamp_bundle,
    variable_addresses,
)
from x360k.exports.ob import OBJECT_TYPE_EXPORTS
from x360k.kernel import Kernel
from x360k.quirks import PROFILES


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_every_variable_has_its_own_mapped_bytes(k: Kernel) -> None:
    spans = []
    for var in KERNEL_VARIABLES:
        address = k.data_exports[var.name]
        assert k.memory.is_mapped(address, var.size), var.name
        spans.append((address, address + var.size))
    for name in OBJECT_TYPE_EXPORTS:
        spans.append((k.data_exports[name], k.data_exports[name] + 0x20))
    spans.sort()
    for (_a, end), (start, _b) in itertools.pairwise(spans):
        assert end <= start  # no two variables overlap
    by_ordinal = variable_addresses(k)
    assert len(by_ordinal) == len(KERNEL_VARIABLES) + len(OBJECT_TYPE_EXPORTS)
    assert by_ordinal[0x158] == k.data_exports["XboxKrnlVersion"]


def test_start_up_contents(k: Kernel) -> None:
    mem, at = k.memory, k.data_exports
    assert struct.unpack(">HHHH", mem.read_bytes(at["XboxKrnlVersion"], 8)) == (2, 0, 1888, 0)
    assert mem.read_u32(at["XboxHardwareInfo"]) == 0x20
    assert mem.read_u8(at["XboxHardwareInfo"] + 4) == 6
    assert mem.read_u32(at["ExConsoleGameRegion"]) == 0xFFFFFFFF
    assert mem.read_u32(at["VdGpuClockInMHz"]) == 500
    for name in ("KeDebugMonitorData", "KeCertMonitorData", "VdGlobalDevice", "VdGlobalXamDevice"):
        assert mem.read_u32(at[name]) == 0, name
    usb = at["UsbdBootEnumerationDoneEvent"]
    assert (mem.read_u8(usb), mem.read_u32(usb + 4)) == (0, 1)  # notification event, signalled
    lock = at["VdHSIOCalibrationLock"]
    assert mem.read_u8(lock) == 1  # the embedded synchronization event
    assert mem.read_u8(lock + 1) == (10000 + 255) >> 8  # spin count / 256
    assert mem.read_s32(lock + 0x10) == -1  # free
    assert mem.read_cstring(at["ExLoadedCommandLine"]) == b'"default.xex"'
    assert mem.read_cstring(at["ExLoadedImageName"]) == b"\\Device\\Cdrom0\\default.xex"


def test_the_executable_module_handle_is_the_title_hmodule(k: Kernel) -> None:
    out = k.memory.alloc(4)
    assert k.call("XexGetModuleHandle", 0, out) == 0
    assert k.memory.read_u32(k.data_exports["XexExecutableModuleHandle"]) == k.memory.read_u32(out)


def test_the_time_stamp_bundle_follows_the_virtual_clock(k: Kernel) -> None:
    bundle = k.data_exports["KeTimeStampBundle"]
    k.clock += 123_456_789
    refresh_time_stamp_bundle(k)
    interrupt, system, ticks, pad = struct.unpack(">QQII", k.memory.read_bytes(bundle, 24))
    assert interrupt == k.clock
    assert system == SYSTEM_TIME_BASE + k.clock
    assert ticks == k.clock // 10_000
    assert pad == 0


def test_the_boot_enumeration_event_is_signalled_and_waitable(k: Kernel) -> None:
    usb = k.data_exports["UsbdBootEnumerationDoneEvent"]
    handles_before = len(k.table.live_handles())
    assert k.call("KeWaitForSingleObject", usb, 0, 0, 0, 0) == 0  # already signalled
    if k.profile == "canary":
        # The start-up slot 0 event is this KEVENT: no second object is bridged.
        assert k.memory.read_u32(usb + 8) == 0x58454E00
        assert k.memory.read_u32(usb + 12) == 0xF8000000
        assert len(k.table.live_handles()) == handles_before
    else:
        assert k.memory.read_u32(usb + 8) == usb + 8  # the console leaves the wait list alone
    k.table.check_invariants()


def test_import_naming_knows_the_variables() -> None:
    from x360k.xex.import_names import describe

    info = describe("xboxkrnl.exe", 0x158)
    assert (info.name, info.x360k, info.canary) == ("XboxKrnlVersion", True, "implemented")
    assert describe("xboxkrnl.exe", 0x2DB).name == "UsbdBootEnumerationDoneEvent"
