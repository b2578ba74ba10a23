"""XAudio render-driver exports and the HID / camera stubs under both profiles (no hardware)."""

from __future__ import annotations

import struct

import pytest

from x360k.exports.audio import audio_state
from x360k.kernel import Kernel
from x360k.quirks import PROFILES
from x360k.status import STATUS_ACCESS_VIOLATION

from .cryptokit import get, put
from .rtlkit import UNMAPPED


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def _register(k: Kernel, callback: int = 0x82001000, argument: int = 0x1234) -> tuple[int, int]:
    out = put(k, bytes(4))
    status = k.call(
        "XAudioRegisterRenderDriverClient", put(k, struct.pack(">II", callback, argument)), out
    )
    return status, k.memory.read_u32(out)


def test_register_submit_unregister(k: Kernel) -> None:
    status, driver = _register(k)
    assert (status, driver) == (0, 0x41550000)
    assert _register(k) == (0, 0x41550001)
    clients = audio_state(k).clients
    assert (clients[0].callback, clients[0].argument) == (0x82001000, 0x1234)
    frame = put(k, bytes(6144))
    assert k.call("XAudioSubmitRenderDriverFrame", driver, frame) == 0
    assert k.call("XAudioSubmitRenderDriverFrame", driver, frame) == 0
    assert clients[0].frames == 2
    assert k.call("XAudioUnregisterRenderDriverClient", driver) == 0
    assert 0 not in clients
    assert _register(k) == (0, 0x41550000)  # the lowest free slot again


def test_register_refusals(k: Kernel) -> None:
    out = put(k, bytes(4))
    assert k.call("XAudioRegisterRenderDriverClient", 0, out) == 0x80070057
    assert _register(k, callback=0) == (0x80070057, 0)
    for slot in range(8):
        assert _register(k) == (0, 0x41550000 | slot)
    assert _register(k)[0] == 0x8007000E
    assert len(audio_state(k).clients) == 8
    callback = put(k, struct.pack(">II", 1, 2))
    assert k.call("XAudioUnregisterRenderDriverClient", 0x41550003) == 0
    assert k.call("XAudioRegisterRenderDriverClient", callback, UNMAPPED) == STATUS_ACCESS_VIOLATION
    assert 3 not in audio_state(k).clients  # a bad out-pointer registers nothing


def test_submit_needs_a_readable_frame(k: Kernel) -> None:
    _, driver = _register(k)
    tail = k.memory.regions[-1].end - 100
    assert k.call("XAudioSubmitRenderDriverFrame", driver, tail) == STATUS_ACCESS_VIOLATION
    assert audio_state(k).clients[0].frames == 0


def test_queries(k: Kernel) -> None:
    out = put(k, b"\xff" * 4)
    assert k.call("XAudioGetSpeakerConfig", out) == 0
    assert k.memory.read_u32(out) == 0x00010001
    assert k.call("XAudioGetVoiceCategoryVolumeChangeMask", 0x41550000, out) == 0
    assert k.memory.read_u32(out) == 0
    assert k.call("XAudioGetVoiceCategoryVolume", 0, out) == 0
    assert struct.unpack(">f", get(k, out, 4)) == (1.0,)
    assert k.call("XAudioEnableDucker", 1) == 0
    assert k.call("XAudioGetSpeakerConfig", UNMAPPED) == STATUS_ACCESS_VIOLATION


def test_input_devices_absent(k: Kernel) -> None:
    buf = put(k, bytes(20))
    assert k.call("HidReadKeys", 0, buf + 8, buf) == 0xC000009D
    assert get(k, buf, 20) == bytes(20)
    assert k.call("XUsbcamCreate", 0, 0x4B000, 0) == 0
    assert k.call("XUsbcamGetState") == 0
