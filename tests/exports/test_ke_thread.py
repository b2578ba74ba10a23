"""Per-thread Ke* exports under both profiles: the KTHREAD / PCR fields they touch."""

from __future__ import annotations

import pytest

from x360k.exports.ke_thread import apc_disable_count
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_SUCCESS


@pytest.mark.parametrize("profile", PROFILES)
def test_critical_region_counts_in_the_profiles_byte_order(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    k.call("KeEnterCriticalRegion")
    k.call("KeEnterCriticalRegion")
    assert apc_disable_count(k, t) == -2
    raw = k.memory.read_bytes(t.kthread + 0xB0, 4)
    # Canary keeps the LONG in host (little-endian) order.
    assert raw == (b"\xfe\xff\xff\xff" if profile == "canary" else b"\xff\xff\xff\xfe")
    k.call("KeLeaveCriticalRegion")
    k.call("KeLeaveCriticalRegion")
    assert apc_disable_count(k, t) == 0
    assert k.memory.read_bytes(t.kthread + 0xB0, 4) == bytes(4)


@pytest.mark.parametrize("profile", PROFILES)
def test_set_affinity_thread(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    prev = k.memory.alloc(4, 4)
    assert k.call("KeSetAffinityThread", t.kthread, 0, prev) == STATUS_INVALID_PARAMETER
    assert k.call("KeSetAffinityThread", t.kthread, 0b100, prev) == STATUS_SUCCESS
    assert k.memory.read_u32(prev) == 1  # it was on hardware thread 0
    assert k.memory.read_u8(t.kthread + 0xBF) == 2
    assert k.call("KeSetAffinityThread", t.kthread, 0b1000, prev) == STATUS_SUCCESS
    assert k.memory.read_u32(prev) == 0b100
    # Not a thread: accepted, nothing written.
    k.memory.write_u32(prev, 7)
    assert k.call("KeSetAffinityThread", 0x1000, 1, prev) == STATUS_SUCCESS
    assert k.memory.read_u32(prev) == 7
    assert k.call("KeSetAffinityThread", t.kthread, 1, 0xFFFFFFF0) == STATUS_ACCESS_VIOLATION


@pytest.mark.parametrize("profile", PROFILES)
def test_disable_boost_swaps_the_byte(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    assert k.call("KeSetDisableBoostThread", t.kthread, 1) == 0
    assert k.call("KeSetDisableBoostThread", t.kthread, 0) == 1
    assert k.memory.read_u8(t.kthread + 0xBB) == 0
    assert k.call("KeSetDisableBoostThread", 0xFFFFFFF0, 1) == STATUS_ACCESS_VIOLATION


@pytest.mark.parametrize("profile", PROFILES)
def test_set_current_stack_pointers(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    m = k.memory
    k.call("KeSetCurrentStackPointers", 0x70001F00, t.kthread, 0x70000000, 0x70002000, 0x70000100)
    assert (m.read_u32(t.kthread + 0x5C), m.read_u32(t.kthread + 0x60)) == (0x70002000, 0x70000100)
    assert m.read_u32(t.kthread + 0xD0) == 0x70000000
    assert (m.read_u32(t.pcr + 0x70), m.read_u32(t.pcr + 0x74)) == (0x70002000, 0x70000100)
    assert t.gpr[1] == 0x70001F00


@pytest.mark.parametrize("profile", PROFILES)
def test_save_floating_point_state(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    k.memory.write_u32(t.pcr + 0x10, 0x1234)
    t.gpr[3] = 0xABCD
    result = k.call("KeSaveFloatingPointState")
    if profile == "canary":
        # Compiled out in canary: r3 keeps what was there, the PCR is untouched.
        assert result == 0xABCD
        assert k.memory.read_u8(t.pcr + 0xA) == 0
    else:
        assert result == 0x1234
        assert k.memory.read_u32(t.pcr + 0x10) == t.kthread
        assert k.memory.read_u8(t.pcr + 0xA) == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_enable_fpu_exceptions(profile: Profile) -> None:
    k = Kernel(profile)
    t = k.main_thread
    k.call("KeEnableFpuExceptions", 5)
    assert k.memory.read_u8(t.kthread + 0x71) == 1
    k.call("KeEnableFpuExceptions", 0)
    assert k.memory.read_u8(t.kthread + 0x71) == 0
