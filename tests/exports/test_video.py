"""Vd* exports under both profiles: canary's answers, no GPU, bad pointers refused whole."""

from __future__ import annotations

import struct

import pytest

from x360k.exports.hw_memory import physical_address
from x360k.exports.video import video_state
from x360k.kernel import Kernel
from x360k.quirks import PROFILES
from x360k.status import STATUS_ACCESS_VIOLATION

from .rtlkit import UNMAPPED


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def test_constant_answers(k: Kernel) -> None:
    assert k.call("VdGetGraphicsAsicID") == 0x11
    assert k.call("VdIsHSIOTrainingSucceeded") == 1
    assert k.call("VdQueryVideoFlags") == 3  # wide screen, at least 1024 wide, under 1920
    assert k.call("VdSetDisplayMode", 0x40000000) == 0
    assert k.call("VdSetDisplayModeOverride", 0, 0, 0, 0, 0) == 0
    assert k.call("VdEnableDisableClockGating", 1) == 0
    assert k.call("VdCallGraphicsNotificationRoutines", 1, 0) == 0
    assert k.call("VdRetrainEDRAM", 0, 0, 0, 0, 0, 0) == 0
    assert k.call("VdRetrainEDRAMWorker", 0) == 0


def test_query_video_mode(k: Kernel) -> None:
    mode = k.memory.alloc(48, 4)
    k.memory.fill(mode, 48, 0xCC)
    k.call("VdQueryVideoMode", mode)
    fields = struct.unpack(">5If6I", k.memory.read_bytes(mode, 48))
    assert fields[:5] == (1280, 720, 0, 1, 1)
    assert fields[5] == 60.0
    assert fields[6:] == (1, 0x4A, 1, 0, 0, 0)


def test_display_information_and_gamma(k: Kernel) -> None:
    info = k.memory.alloc(0x58, 4)
    k.memory.fill(info, 0x58, 0xAA)
    k.call("VdGetCurrentDisplayInformation", info)
    raw = k.memory.read_bytes(info, 0x58)
    assert struct.unpack_from(">HH", raw, 0) == (1280, 720)
    assert struct.unpack_from(">4I", raw, 8) == (0, 0, 1280, 720)
    assert struct.unpack_from(">4H", raw, 0x40) == (320, 180, 320, 180)
    assert struct.unpack_from(">HHfI", raw, 0x48) == (1280, 720, 60.0, 0)
    assert struct.unpack_from(">H", raw, 0x56) == (1280,)
    assert raw[4:8] == b"\0" * 4  # zeroed, not left as it was
    out = k.memory.alloc(8, 4)
    k.call("VdGetCurrentDisplayGamma", out, out + 4)
    assert k.memory.read_u32(out) == 2
    assert struct.unpack(">f", k.memory.read_bytes(out + 4, 4))[0] == pytest.approx(2.2222223)


def test_system_command_buffer(k: Kernel) -> None:
    buf, ident = k.memory.alloc(0x100, 4), k.memory.alloc(4, 4)
    k.memory.fill(buf, 0x100, 0x11)
    k.call("VdGetSystemCommandBuffer", buf, ident)
    raw = k.memory.read_bytes(buf, 0x100)
    assert raw[:4] == bytes.fromhex("BEEF0000")
    assert raw[4:0x94] == b"\0" * 0x90 and raw[0x94:] == b"\x11" * 0x6C
    assert k.memory.read_u32(ident) == 0xBEEF0001
    # A bad identifier pointer fails the call before the buffer is touched.
    k.memory.fill(buf, 0x100, 0x22)
    k.call("VdGetSystemCommandBuffer", buf, UNMAPPED)
    assert k.memory.read_bytes(buf, 0x100) == b"\x22" * 0x100


def test_scaler_command_buffer_fills_nops(k: Kernel) -> None:
    dest = k.memory.alloc(40, 4)
    args = [0, (720 << 16) | 1280, 0, (720 << 16) | 1280, (720 << 16) | 1280, 7, 0, 7, 0, 0]
    assert k.call("VdInitializeScalerCommandBuffer", *args, dest, 8) == 8
    assert k.memory.read_bytes(dest, 40) == bytes.fromhex("80000000") * 8 + b"\0" * 8
    assert k.call("VdInitializeScalerCommandBuffer", *args, UNMAPPED, 8) == STATUS_ACCESS_VIOLATION
    tail = k.memory.regions[-1].end - 8
    assert k.call("VdInitializeScalerCommandBuffer", *args, tail, 3) == STATUS_ACCESS_VIOLATION
    assert k.memory.read_bytes(tail, 8) == b"\0" * 8


def test_persist_display_hands_out_physical_blocks(k: Kernel) -> None:
    out = k.memory.alloc(8, 4)
    assert k.call("VdPersistDisplay", 0, out) == 1
    assert k.call("VdPersistDisplay", 0, out + 4) == 1
    first, second = k.memory.read_u32(out), k.memory.read_u32(out + 4)
    assert first != second and first % 32 == 0
    assert physical_address(first) is not None
    assert k.memory.is_mapped(first, 64)
    assert video_state(k).persisted == [first, second]
    assert k.call("VdPersistDisplay", 0, 0) == 1
    assert k.call("VdPersistDisplay", 0, UNMAPPED) == STATUS_ACCESS_VIOLATION
    assert len(video_state(k).persisted) == 2


def test_setup_calls_are_recorded_not_acted_on(k: Kernel) -> None:
    assert k.call("VdInitializeEngines", 0x4F810000, 0x82001000, 0, 0, 0) == 1
    k.call("VdSetGraphicsInterruptCallback", 0x82002000, 0x1234)
    k.call("VdInitializeRingBuffer", 0x0BAD0000, 12)
    k.call("VdEnableRingBufferRPtrWriteBack", 0x0BAD1000, 6)
    k.call("VdSetSystemCommandBufferGpuIdentifierAddress", 0x2B18)
    state = video_state(k)
    assert state.engines_initialized
    assert (state.interrupt_callback, state.interrupt_user_data) == (0x82002000, 0x1234)
    assert state.ring_buffer == (0x0BAD0000, 12)
    assert state.rptr_writeback == (0x0BAD1000, 6)
    assert state.gpu_identifier_address == 0x2B18
    k.call("VdShutdownEngines")
    assert not state.engines_initialized


def _swap_args(k: Kernel, front: int) -> list[int]:
    mem = k.memory
    fetch = mem.alloc(24, 4)
    words = [0x00000002, (front & 0xFFFFF000) | 0x086, (719 << 13) | 1279, 0, 0, 0x200]
    mem.write_bytes(fetch, struct.pack(">6I", *words))
    ring = mem.alloc(256, 4)
    values = mem.alloc(20, 4)
    mem.write_bytes(values, struct.pack(">5I", front, 6, 0, 1280, 720))
    return [ring, fetch, 0, 0, 0, values, values + 4, values + 8, values + 12, values + 16]


def test_swap_writes_the_packet(k: Kernel) -> None:
    front = k.memory.alloc_system(0x1000, 0x1000)
    args = _swap_args(k, front)
    k.call("VdSwap", *args)
    words = struct.unpack(">64I", k.memory.read_bytes(args[0], 256))
    physical = physical_address(front)
    assert physical is not None
    assert words[0] == 0x00054800  # type 0, six registers from 0x4800
    assert words[1:7] == (2, physical | 0x086, (719 << 13) | 1279, 0, 0, 0x200)
    assert words[7:12] == (0xC0036400, 0x53574150, physical, 1280, 720)
    assert set(words[12:]) == {0x80000000}
    assert video_state(k).swaps == 1


def test_swap_of_a_virtual_front_buffer_is_dropped(k: Kernel) -> None:
    args = _swap_args(k, k.memory.alloc(0x1000, 0x1000))  # 0x4xxxxxxx: no physical address
    k.call("VdSwap", *args)
    assert k.memory.read_bytes(args[0], 256) == b"\0" * 256
    assert video_state(k).swaps == 0


def test_bad_pointers_write_nothing(k: Kernel) -> None:
    out = k.memory.alloc(4, 4)
    k.call("VdGetCurrentDisplayGamma", out, UNMAPPED)
    assert k.memory.read_u32(out) == 0
    front = k.memory.alloc_system(0x1000, 0x1000)
    args = _swap_args(k, front)
    args[9] = UNMAPPED  # height
    k.call("VdSwap", *args)
    assert k.memory.read_bytes(args[0], 256) == b"\0" * 256
