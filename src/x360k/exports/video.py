"""Vd* video exports: the answers a title gets that only sets video up. There is no GPU.

x360k has no graphics system, so these exports give the answers canary's
kernel shim gives (the display mode of canary's defaults: 1280x720, 60 Hz,
progressive, wide screen, NTSC; gamma BT.709) and keep what the title hands
over (ring buffer, read-pointer write-back, interrupt callback) in a record
a test or report can read: no command is executed and nothing is presented.
The one thing acted on is the interrupt callback, called on each vertical
blank of virtual time (:mod:`x360k.exports.callbacks`). docs/hardware.md lists
each export with canary's answer and what x360k does not do.

Canary returns no error from any of these; where it writes through a
pointer without checking it, x360k checks the whole range first and the call
fails with STATUS_ACCESS_VIOLATION having written nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports.callbacks import interrupt_callback_changed
from x360k.exports.hw_memory import physical_address
from x360k.exports.physical_memory import allocate_system_physical
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("video")
EXT_KEY: Final = "video"

#: canary's default display (its internal_display_resolution 8, 60 Hz, widescreen, NTSC).
DISPLAY_WIDTH: Final = 1280
DISPLAY_HEIGHT: Final = 720
REFRESH_RATE: Final = 60.0
VIDEO_STANDARD_NTSC: Final = 1
#: The gamma canary reports: type 2 (BT.709), and the power a type 3 would use.
GAMMA_TYPE: Final = 2
GAMMA_POWER: Final = 2.22222233
GRAPHICS_ASIC_ID: Final = 0x11
#: What VdGetSystemCommandBuffer hands out: a zeroed 0x94-byte buffer stamped with these.
SYSTEM_COMMAND_BUFFER_SIZE: Final = 0x94
SYSTEM_COMMAND_BUFFER_STAMP: Final = 0xBEEF0000
SYSTEM_COMMAND_BUFFER_ID: Final = 0xBEEF0001
#: PM4 packets VdSwap writes (type 0: register writes; type 2: NOP; type 3: opcode).
PM4_TYPE2_NOP: Final = 0x80000000
SHADER_CONSTANT_FETCH_00_0: Final = 0x4800
PM4_XE_SWAP: Final = 0x64
SWAP_SIGNATURE: Final = 0x53574150  # "SWAP"
SWAP_BUFFER_WORDS: Final = 64
PERSIST_DISPLAY_BLOCK: Final = 64


@dataclass(slots=True)
class VideoState:
    """What the title has told the (absent) GPU, kept for tests and reports only."""

    interrupt_callback: int = 0
    interrupt_user_data: int = 0
    ring_buffer: tuple[int, int] | None = None
    rptr_writeback: tuple[int, int] | None = None
    gpu_identifier_address: int = 0
    engines_initialized: bool = False
    swaps: int = 0
    #: Blocks VdPersistDisplay handed out (the title frees them with MmFreePhysicalMemory).
    persisted: list[int] = field(default_factory=list)


def video_state(k: KernelState) -> VideoState:
    state = k.ext.get(EXT_KEY)
    if state is None:
        state = k.ext[EXT_KEY] = VideoState()
    assert isinstance(state, VideoState)
    return state


def _type0(register: int, count: int) -> int:
    return ((count - 1) & 0x3FFF) << 16 | (register & 0x7FFF)


def _type3(opcode: int, count: int) -> int:
    return 3 << 30 | ((count - 1) & 0x3FFF) << 16 | (opcode & 0x7F) << 8


def video_mode_record() -> bytes:
    """The 48-byte X_VIDEO_MODE canary fills (its last three words reserved, zero)."""
    return struct.pack(
        ">5If3I12x",
        DISPLAY_WIDTH,
        DISPLAY_HEIGHT,
        0,  # interlaced
        1,  # widescreen
        int(DISPLAY_WIDTH >= 0x400),  # high definition
        REFRESH_RATE,
        VIDEO_STANDARD_NTSC,
        0x4A,
        0x01,
    )


@GROUP.export(
    "VdCallGraphicsNotificationRoutines",
    0x1B1,
    Param("reason", K.U32),
    Param("scaling", K.PTR),
    returns=Returns.VALUE,
)
def vd_call_graphics_notification_routines(
    k: KernelState, t: Thread, reason: int, args: int
) -> int:
    """Returns 0: no notification routine is registered, so none is called (as canary)."""
    return 0


@GROUP.export("VdEnableDisableClockGating", 0x1B4, Param("enabled", K.U32), returns=Returns.VALUE)
def vd_enable_disable_clock_gating(k: KernelState, t: Thread, enabled: int) -> int:
    """Returns 0 and gates nothing."""
    return 0


@GROUP.export(
    "VdEnableRingBufferRPtrWriteBack",
    0x1B6,
    Param("address", K.PTR),
    Param("block_size_log2", K.S32),
    returns=Returns.VOID,
)
def vd_enable_ring_buffer_rptr_write_back(k: KernelState, t: Thread, ptr: int, log2: int) -> int:
    """Remembers where the read pointer would be written back; nothing ever writes it."""
    video_state(k).rptr_writeback = (ptr, log2)
    return 0


@GROUP.export(
    "VdGetCurrentDisplayGamma",
    0x1B9,
    Param("type", K.OUT_U32),
    Param("power", K.OUT_U32),
    returns=Returns.VOID,
)
def vd_get_current_display_gamma(k: KernelState, t: Thread, type_ptr: int, power_ptr: int) -> int:
    """Writes gamma type 2 (BT.709) and the power 2.2222 (a big-endian float)."""
    mem = k.memory
    mem.require(type_ptr, 4)
    mem.require(power_ptr, 4)
    mem.write_u32(type_ptr, GAMMA_TYPE)
    mem.write_bytes(power_ptr, struct.pack(">f", GAMMA_POWER))
    return 0


@GROUP.export(
    "VdGetCurrentDisplayInformation", 0x1BA, Param("display_info", K.PTR), returns=Returns.VOID
)
def vd_get_current_display_information(k: KernelState, t: Thread, info: int) -> int:
    """Fills the 0x58-byte X_DISPLAY_INFO from the display mode, as canary lays it out."""
    w, h = DISPLAY_WIDTH, DISPLAY_HEIGHT
    record = bytearray(0x58)
    struct.pack_into(">HH", record, 0x00, w, h)  # front buffer
    struct.pack_into(">4I", record, 0x08, 0, 0, w, h)  # scaler source rectangle
    struct.pack_into(">3I", record, 0x18, w, h, 1)  # scaled output, vertical filter type
    struct.pack_into(">I", record, 0x28, 1)  # horizontal filter type
    struct.pack_into(">4H", record, 0x40, 320, 180, 320, 180)  # overscan l, t, r, b
    struct.pack_into(">HHfI", record, 0x48, w, h, REFRESH_RATE, 0)  # display, rate, interlaced
    struct.pack_into(">H", record, 0x56, w)  # actual display width
    k.memory.write_bytes(info, bytes(record))
    return 0


@GROUP.export("VdGetGraphicsAsicID", 0x1BC, returns=Returns.VALUE)
def vd_get_graphics_asic_id(k: KernelState, t: Thread) -> int:
    """0x11: titles take an ID of 0x10 or more as a GPU that retrains EDRAM."""
    return GRAPHICS_ASIC_ID


@GROUP.export(
    "VdGetSystemCommandBuffer",
    0x1BD,
    Param("buffer", K.PTR),
    Param("identifier", K.OUT_U32),
    returns=Returns.VOID,
)
def vd_get_system_command_buffer(k: KernelState, t: Thread, buffer: int, ident: int) -> int:
    """Zeroes the 0x94-byte buffer, stamps 0xBEEF0000 in it and 0xBEEF0001 in *identifier."""
    mem = k.memory
    mem.require(buffer, SYSTEM_COMMAND_BUFFER_SIZE)
    mem.require(ident, 4)
    mem.fill(buffer, SYSTEM_COMMAND_BUFFER_SIZE)
    mem.write_u32(buffer, SYSTEM_COMMAND_BUFFER_STAMP)
    mem.write_u32(ident, SYSTEM_COMMAND_BUFFER_ID)
    return 0


@GROUP.export(
    "VdInitializeEngines",
    0x1C2,
    Param("flags", K.U32),
    Param("callback", K.ROUTINE),
    Param("context", K.CONTEXT),
    Param("pfp_microcode", K.PTR),
    Param("me_microcode", K.PTR),
    returns=Returns.VALUE,
)
def vd_initialize_engines(
    k: KernelState, t: Thread, flags: int, callback: int, arg: int, pfp: int, me: int
) -> int:
    """Returns 1 (success) and loads no microcode; the callback is never called."""
    video_state(k).engines_initialized = True
    return 1


@GROUP.export(
    "VdInitializeRingBuffer",
    0x1C3,
    Param("address", K.PTR),
    Param("size_log2", K.S32),
    returns=Returns.VOID,
)
def vd_initialize_ring_buffer(k: KernelState, t: Thread, ptr: int, log2: int) -> int:
    """Remembers the primary ring buffer; no command in it is ever read."""
    video_state(k).ring_buffer = (ptr, log2)
    return 0


@GROUP.export(
    "VdInitializeScalerCommandBuffer",
    0x1C5,
    Param("source_xy", K.U32),
    Param("source_wh", K.U32),
    Param("output_xy", K.U32),
    Param("output_wh", K.U32),
    Param("front_buffer_wh", K.U32),
    Param("vertical_filter_type", K.U32),
    Param("vertical_filter", K.PTR),
    Param("horizontal_filter_type", K.U32),
    Param("horizontal_filter", K.PTR),
    Param("unknown", K.PTR),
    Param("destination", K.PTR),
    Param("count", K.U32),
    returns=Returns.VALUE,
)
def vd_initialize_scaler_command_buffer(
    k: KernelState,
    t: Thread,
    src_xy: int,
    src_wh: int,
    out_xy: int,
    out_wh: int,
    fb_wh: int,
    vtype: int,
    vfilter: int,
    htype: int,
    hfilter: int,
    unknown: int,
    dest: int,
    count: int,
) -> int:
    """Fills ``count`` words at ``destination`` with type-2 NOP packets; returns ``count``."""
    if count:
        k.memory.require(dest, 4 * count)
        k.memory.write_bytes(dest, PM4_TYPE2_NOP.to_bytes(4, "big") * count)
    return count


@GROUP.export("VdIsHSIOTrainingSucceeded", 0x1C6, returns=Returns.VALUE)
def vd_is_hsio_training_succeeded(k: KernelState, t: Thread) -> int:
    """TRUE."""
    return 1


@GROUP.export(
    "VdPersistDisplay",
    0x1C7,
    Param("unknown", K.U32),
    Param("block", K.OUT_U32, optional=True),
    returns=Returns.VALUE,
)
def vd_persist_display(k: KernelState, t: Thread, unknown: int, block_ptr: int) -> int:
    """Returns 1; with a pointer, hands out a fresh 64-byte physical block through it.

    The title later gives the block to MmFreePhysicalMemory, so it must be a
    real allocation (canary reserves one per call, 32-byte aligned).
    """
    if block_ptr:
        k.memory.require(block_ptr, 4)
        block = allocate_system_physical(k, PERSIST_DISPLAY_BLOCK, 32)
        video_state(k).persisted.append(block)
        k.memory.write_u32(block_ptr, block)
    return 1


@GROUP.export("VdQueryVideoFlags", 0x1C9, returns=Returns.VALUE)
def vd_query_video_flags(k: KernelState, t: Thread) -> int:
    """Bit 0 wide screen, bit 1 width >= 1024, bit 2 width >= 1920: 3 for 1280x720 wide."""
    flags = 1  # widescreen
    flags |= 2 if DISPLAY_WIDTH >= 1024 else 0
    flags |= 4 if DISPLAY_WIDTH >= 1920 else 0
    return flags


@GROUP.export("VdQueryVideoMode", 0x1CA, Param("mode", K.PTR), returns=Returns.VOID)
def vd_query_video_mode(k: KernelState, t: Thread, mode: int) -> int:
    """Fills the 48-byte X_VIDEO_MODE (see :func:`video_mode_record`)."""
    k.memory.write_bytes(mode, video_mode_record())
    return 0


@GROUP.export("VdSetDisplayMode", 0x1D3, Param("flags", K.U32), returns=Returns.VALUE)
def vd_set_display_mode(k: KernelState, t: Thread, flags: int) -> int:
    """Returns 0; the mode stays canary's default."""
    return 0


@GROUP.export(
    "VdSetDisplayModeOverride",
    0x1D4,
    Param("unknown0", K.U32),
    Param("unknown1", K.U32),
    Param("refresh_rate_slot", K.U32),
    Param("unknown3", K.U32),
    Param("unknown4", K.U32),
    returns=Returns.VALUE,
)
def vd_set_display_mode_override(
    k: KernelState, t: Thread, a: int, b: int, rate_slot: int, c: int, d: int
) -> int:
    """Returns 0. The refresh rate is a double in f1, which x360k neither reads nor needs."""
    return 0


@GROUP.export(
    "VdSetGraphicsInterruptCallback",
    0x1D5,
    Param("callback", K.ROUTINE),
    Param("user_data", K.CONTEXT),
    returns=Returns.VOID,
)
def vd_set_graphics_interrupt_callback(k: KernelState, t: Thread, callback: int, data: int) -> int:
    """Remembers the callback; every vertical blank (60 Hz of virtual time) calls it on the
    kernel's vsync thread (x360k.exports.callbacks). 0 stops the calls."""
    state = video_state(k)
    state.interrupt_callback, state.interrupt_user_data = callback, data
    interrupt_callback_changed(k, callback, data)
    return 0


@GROUP.export(
    "VdSetSystemCommandBufferGpuIdentifierAddress",
    0x1D9,
    Param("address", K.PTR),
    returns=Returns.VOID,
)
def vd_set_system_command_buffer_gpu_identifier_address(k: KernelState, t: Thread, ptr: int) -> int:
    """Remembers the address; nothing is written there."""
    video_state(k).gpu_identifier_address = ptr
    return 0


@GROUP.export("VdShutdownEngines", 0x1DC, returns=Returns.VOID)
def vd_shutdown_engines(k: KernelState, t: Thread) -> int:
    """Nothing to stop (titles pair it with VdInitializeEngines to probe, then start again)."""
    video_state(k).engines_initialized = False
    return 0


@GROUP.export(
    "VdSwap",
    0x25B,
    Param("ring_buffer", K.PTR),
    Param("fetch_constant", K.PTR),
    Param("writeback", K.PTR),
    Param("system_buffer", K.PTR),
    Param("system_identifier", K.PTR),
    Param("front_buffer", K.PTR),
    Param("texture_format", K.PTR),
    Param("color_space", K.PTR),
    Param("width", K.PTR),
    Param("height", K.PTR),
    returns=Returns.VOID,
)
def vd_swap(
    k: KernelState,
    t: Thread,
    ring: int,
    fetch: int,
    writeback: int,
    system_buffer: int,
    system_id: int,
    front_buffer: int,
    texture_format: int,
    color_space: int,
    width_ptr: int,
    height_ptr: int,
) -> int:
    """Writes canary's 64-word swap packet into the ring buffer space the title reserved.

    The packet: a type-0 write of the six fetch-constant words (the front
    buffer's address made physical) to SHADER_CONSTANT_FETCH_00_0, a type-3
    PM4_XE_SWAP with "SWAP", the physical address, width and height, then
    type-2 NOPs. Canary's own check: a front buffer outside the physical
    views writes nothing (the swap is dropped). Nothing is presented.
    """
    mem = k.memory
    mem.require(ring, 4 * SWAP_BUFFER_WORDS)
    words = list(struct.unpack(">6I", mem.read_bytes(fetch, 24)))
    width, height = mem.read_u32(width_ptr), mem.read_u32(height_ptr)
    physical = physical_address(words[1] & 0xFFFFF000)
    if physical is None:
        return 0
    words[1] = (words[1] & 0xFFF) | (physical & 0xFFFFF000)
    packet = [_type0(SHADER_CONSTANT_FETCH_00_0, 6), *words]
    packet += [_type3(PM4_XE_SWAP, 4), SWAP_SIGNATURE, physical, width, height]
    packet += [PM4_TYPE2_NOP] * (SWAP_BUFFER_WORDS - len(packet))
    mem.write_bytes(ring, struct.pack(f">{SWAP_BUFFER_WORDS}I", *packet))
    video_state(k).swaps += 1
    return 0


@GROUP.export(
    "VdRetrainEDRAM",
    0x269,
    Param("unknown0", K.U32),
    Param("unknown1", K.U32),
    Param("unknown2", K.U32),
    Param("unknown3", K.U32),
    Param("unknown4", K.U32),
    Param("unknown5", K.U32),
    returns=Returns.VALUE,
)
def vd_retrain_edram(
    k: KernelState, t: Thread, a: int, b: int, c: int, d: int, e: int, f: int
) -> int:
    """Returns 0 (success): there is no EDRAM to retrain."""
    return 0


@GROUP.export("VdRetrainEDRAMWorker", 0x26A, Param("unknown", K.U32), returns=Returns.VALUE)
def vd_retrain_edram_worker(k: KernelState, t: Thread, unknown: int) -> int:
    """Returns 0."""
    return 0
