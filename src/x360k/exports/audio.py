"""XAudio render-driver exports as canary answers them. There is no audio hardware.

A title registers a render client (a callback and its argument) and gets a
driver handle, 0x41550000 ("AU") plus the client's slot among canary's
eight; it then submits 256-sample, six-channel float frames. x360k keeps the
clients and counts the frames in :class:`AudioState` and plays nothing, but
consumes them on virtual time: a kernel-owned audio thread calls each client's
callback whenever another frame is wanted, as canary's audio worker does
(:mod:`x360k.exports.callbacks`, docs/hardware.md). The answers are Win32
error codes and HRESULTs, as canary returns them (plain values in r3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports.callbacks import (
    audio_client_registered,
    audio_client_unregistered,
    audio_frame_submitted,
)
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("audio")
EXT_KEY: Final = "audio"

ERROR_SUCCESS: Final = 0
#: HRESULT_FROM_WIN32(ERROR_INVALID_PARAMETER): canary's X_E_INVALIDARG.
E_INVALIDARG: Final = 0x80070057
#: HRESULT E_OUTOFMEMORY, for a ninth client (canary has no answer: it indexes slot -1).
E_OUTOFMEMORY: Final = 0x8007000E
DRIVER_TAG: Final = 0x41550000
MAX_CLIENTS: Final = 8
#: One frame: 256 samples for each of six channels, 32-bit floats.
FRAME_BYTES: Final = 256 * 6 * 4
#: XAudioGetSpeakerConfig's answer.
SPEAKER_CONFIG: Final = 0x00010001


@dataclass(slots=True)
class RenderClient:
    callback: int
    argument: int
    frames: int = 0
    #: The kernel word holding ``argument``, whose address the callback gets (as canary's).
    wrapped: int = 0
    #: Callback calls made, frames consumed, and when the last queued frame ends (ticks x 3).
    calls: int = 0
    consumed: int = 0
    play_end_x3: int = 0


@dataclass(slots=True)
class AudioState:
    """The registered clients by slot, for tests and reports; nothing here makes a sound."""

    clients: dict[int, RenderClient] = field(default_factory=dict)


def audio_state(k: KernelState) -> AudioState:
    state = k.ext.get(EXT_KEY)
    if state is None:
        state = k.ext[EXT_KEY] = AudioState()
    assert isinstance(state, AudioState)
    return state


def _client(k: KernelState, driver: int) -> RenderClient | None:
    if driver & 0xFFFF0000 != DRIVER_TAG:
        return None
    return audio_state(k).clients.get(driver & 0xFFFF)


@GROUP.export(
    "XAudioRegisterRenderDriverClient",
    0x1F3,
    Param("callback", K.PTR),
    Param("driver", K.OUT_U32),
    returns=Returns.VALUE,
)
def x_audio_register_render_driver_client(
    k: KernelState, t: Thread, callback: int, out: int
) -> int:
    """Register {callback, argument} (the two words at ``callback``); the handle goes to *driver.

    A null pointer or a null callback is E_INVALIDARG. The slot is the lowest
    free one of eight; a ninth client gets E_OUTOFMEMORY (canary's answer is
    undefined there).
    """
    if not callback:
        return E_INVALIDARG
    routine, argument = struct.unpack(">II", k.memory.read_bytes(callback, 8))
    if not routine:
        return E_INVALIDARG
    k.memory.require(out, 4)
    clients = audio_state(k).clients
    slot = next((i for i in range(MAX_CLIENTS) if i not in clients), None)
    if slot is None:
        return E_OUTOFMEMORY
    try:
        wrapped = k.memory.alloc_system(4, 4)
    except MemoryError:
        return E_OUTOFMEMORY
    k.memory.write_u32(wrapped, argument)
    client = clients[slot] = RenderClient(routine, argument, wrapped=wrapped)
    k.memory.write_u32(out, DRIVER_TAG | slot)
    audio_client_registered(k, slot, client)
    return ERROR_SUCCESS


@GROUP.export(
    "XAudioUnregisterRenderDriverClient", 0x1F4, Param("driver", K.U32), returns=Returns.VALUE
)
def x_audio_unregister_render_driver_client(k: KernelState, t: Thread, driver: int) -> int:
    """Free the client's slot (an unknown handle changes nothing); its callback is not called
    again."""
    client = _client(k, driver)
    if client is not None:
        del audio_state(k).clients[driver & 0xFFFF]
        k.memory.free_system(client.wrapped, 4, 4)
        audio_client_unregistered(k)
    return ERROR_SUCCESS


@GROUP.export(
    "XAudioSubmitRenderDriverFrame",
    0x1F5,
    Param("driver", K.U32),
    Param("samples", K.BUFFER),
    returns=Returns.VALUE,
)
def x_audio_submit_render_driver_frame(k: KernelState, t: Thread, driver: int, samples: int) -> int:
    """Accept one frame (6144 bytes, which must be readable) and count it; it is consumed
    after the frames queued before it, and then another frame is wanted."""
    k.memory.require(samples, FRAME_BYTES)
    client = _client(k, driver)
    if client is not None:
        client.frames += 1
        audio_frame_submitted(k, driver & 0xFFFF, client)
    return ERROR_SUCCESS


@GROUP.export(
    "XAudioGetVoiceCategoryVolumeChangeMask",
    0x1F7,
    Param("driver", K.U32),
    Param("mask", K.OUT_U32),
    returns=Returns.VALUE,
)
def x_audio_get_voice_category_volume_change_mask(
    k: KernelState, t: Thread, driver: int, out: int
) -> int:
    """No category volume ever changes: the mask is 0."""
    k.memory.write_u32(out, 0)
    return ERROR_SUCCESS


@GROUP.export(
    "XAudioGetVoiceCategoryVolume",
    0x1F8,
    Param("category", K.U32),
    Param("volume", K.OUT_U32),
    returns=Returns.VALUE,
)
def x_audio_get_voice_category_volume(k: KernelState, t: Thread, category: int, out: int) -> int:
    """Every category at full volume: 1.0 (a big-endian float)."""
    k.memory.write_bytes(out, struct.pack(">f", 1.0))
    return ERROR_SUCCESS


@GROUP.export("XAudioGetSpeakerConfig", 0x1FF, Param("config", K.OUT_U32), returns=Returns.VALUE)
def x_audio_get_speaker_config(k: KernelState, t: Thread, out: int) -> int:
    """0x00010001, canary's speaker configuration."""
    k.memory.write_u32(out, SPEAKER_CONFIG)
    return ERROR_SUCCESS


@GROUP.export("XAudioEnableDucker", 0x34D, Param("enable", K.U32), returns=Returns.VALUE)
def x_audio_enable_ducker(k: KernelState, t: Thread, enable: int) -> int:
    """Accepted; there is no ducker to enable."""
    return ERROR_SUCCESS
