"""XMA decoder-context exports: contexts as 64-byte guest records in canary's layout. No decoding.

The console's XMA decoder reads 64-byte contexts from an array in physical
memory; canary keeps 320 of them, hands out the lowest free one, and
zeroes a context when it is released. The exports read and write the
context's bit fields (:data:`FIELDS`, each (word, first bit, width) in the
big-endian 32-bit words, lowest bit first as canary's bit fields lie) and
translate buffer addresses to physical ones as canary does (a buffer outside
the physical views fails with X_E_FALSE, 0x80000000).

x360k has no decoder: a context never advances. Input buffers stay valid,
the output write offset stays where it was, nothing is ever decoded, and
XMABlockWhileInUse returns at once (there is nothing in use); a title that
waits for decoded audio waits for ever (docs/hardware.md). Enable and
disable are remembered in :class:`XmaState` and have no other effect.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports.hw_memory import physical_address
from x360k.exports.physical_memory import allocate_system_physical
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import STATUS_NO_MEMORY, STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("xma")
EXT_KEY: Final = "xma"
CONTEXT_SIZE: Final = 64
CONTEXT_COUNT: Final = 320
#: X_E_FALSE, canary's answer for a buffer with no physical address.
E_FALSE: Final = 0x80000000

#: name -> (32-bit word, first bit, width) in XMA_CONTEXT_DATA.
FIELDS: Final[dict[str, tuple[int, int, int]]] = {
    "input_buffer_0_packet_count": (0, 0, 12),
    "loop_count": (0, 12, 8),
    "input_buffer_0_valid": (0, 20, 1),
    "input_buffer_1_valid": (0, 21, 1),
    "output_buffer_block_count": (0, 22, 5),
    "output_buffer_write_offset": (0, 27, 5),
    "input_buffer_1_packet_count": (1, 0, 12),
    "loop_subframe_start": (1, 12, 2),
    "loop_subframe_end": (1, 14, 3),
    "loop_subframe_skip": (1, 17, 3),
    "subframe_decode_count": (1, 20, 4),
    "subframe_skip_count": (1, 24, 3),
    "sample_rate": (1, 27, 2),
    "is_stereo": (1, 29, 1),
    "output_buffer_valid": (1, 31, 1),
    "input_buffer_read_offset": (2, 0, 26),
    "error_status": (2, 26, 6),
    "loop_start": (3, 0, 26),
    "parser_error_status": (3, 26, 6),
    "loop_end": (4, 0, 26),
    "packet_metadata": (4, 26, 5),
    "current_buffer": (4, 31, 1),
    "input_buffer_0_ptr": (5, 0, 32),
    "input_buffer_1_ptr": (6, 0, 32),
    "output_buffer_ptr": (7, 0, 32),
    "work_buffer_ptr": (8, 0, 32),
    "output_buffer_read_offset": (9, 0, 5),
    "stop_when_done": (9, 30, 1),
    "interrupt_when_done": (9, 31, 1),
}


@dataclass(slots=True)
class XmaState:
    """The context array (allocated on first use) and which contexts are taken / enabled."""

    array: int = 0
    allocated: set[int] = field(default_factory=set)
    enabled: set[int] = field(default_factory=set)


def xma_state(k: KernelState) -> XmaState:
    state = k.ext.get(EXT_KEY)
    if state is None:
        state = k.ext[EXT_KEY] = XmaState()
    assert isinstance(state, XmaState)
    return state


class ContextWords:
    """A context's sixteen words, read whole and written back whole, as canary does."""

    def __init__(self, k: KernelState, ptr: int) -> None:
        self._k, self._ptr = k, ptr
        raw = k.memory.read_bytes(ptr, CONTEXT_SIZE)
        self.words: list[int] = [int(w) for w in struct.unpack(">16I", raw)]

    def get(self, name: str) -> int:
        word, shift, width = FIELDS[name]
        return (self.words[word] >> shift) & ((1 << width) - 1)

    def set(self, name: str, value: int) -> None:
        word, shift, width = FIELDS[name]
        mask = ((1 << width) - 1) << shift
        self.words[word] = (self.words[word] & ~mask) | ((value << shift) & mask)

    def store(self) -> int:
        self._k.memory.write_bytes(self._ptr, struct.pack(">16I", *self.words))
        return 0


def _read_field(k: KernelState, ptr: int, name: str) -> int:
    return ContextWords(k, ptr).get(name)


def _write_field(k: KernelState, ptr: int, name: str, value: int) -> int:
    ctx = ContextWords(k, ptr)
    ctx.set(name, value)
    return ctx.store()


def _context_index(k: KernelState, ptr: int) -> int | None:
    array = xma_state(k).array
    if not array or not array <= ptr < array + CONTEXT_SIZE * CONTEXT_COUNT or ptr % 64:
        return None
    return (ptr - array) // CONTEXT_SIZE


@GROUP.export("XMACreateContext", 0x224, Param("context", K.OUT_U32))
def xma_create_context(k: KernelState, t: Thread, out: int) -> int:
    """The lowest free context's address in *context; with all 320 taken, 0 and STATUS_NO_MEMORY."""
    k.memory.require(out, 4)
    state = xma_state(k)
    if not state.array:
        state.array = allocate_system_physical(k, CONTEXT_SIZE * CONTEXT_COUNT, 256)
    index = next((i for i in range(CONTEXT_COUNT) if i not in state.allocated), None)
    if index is None:
        k.memory.write_u32(out, 0)
        return STATUS_NO_MEMORY
    state.allocated.add(index)
    k.memory.write_u32(out, state.array + CONTEXT_SIZE * index)
    return STATUS_SUCCESS


@GROUP.export("XMAReleaseContext", 0x226, Param("context", K.PTR), returns=Returns.VALUE)
def xma_release_context(k: KernelState, t: Thread, ptr: int) -> int:
    """Zero the context and free it (a pointer that is no allocated context changes nothing)."""
    state = xma_state(k)
    index = _context_index(k, ptr)
    if index is not None and index in state.allocated:
        k.memory.fill(ptr, CONTEXT_SIZE)
        state.allocated.discard(index)
        state.enabled.discard(index)
    return 0


#: XMA_CONTEXT_INIT: six words, the work buffer, three words, then XMA_LOOP_DATA.
_INIT: Final = struct.Struct(">11IIIBBB1x")


@GROUP.export(
    "XMAInitializeContext",
    0x225,
    Param("context", K.PTR),
    Param("init", K.PTR),
    returns=Returns.VALUE,
)
def xma_initialize_context(k: KernelState, t: Thread, ptr: int, init: int) -> int:
    """Zero the context and fill it from an XMA_CONTEXT_INIT; X_E_FALSE for a bad buffer.

    Buffer addresses become physical ones (a null input buffer stays 0; the
    output buffer is required). The work buffer is not stored, and any
    channel count of 1 or more marks the context stereo, as in canary.
    """
    (
        in0, in0_count, in1, in1_count, read_offset, output, output_blocks, _work,
        decode_count, channels, rate, loop_start, loop_end, loop_count, sub_end, sub_skip,
    ) = _INIT.unpack(k.memory.read_bytes(init, _INIT.size))  # fmt: skip
    k.memory.require(ptr, CONTEXT_SIZE)
    phys0 = physical_address(in0) if in0 else 0
    phys1 = physical_address(in1) if in1 else 0
    phys_out = physical_address(output)
    if phys0 is None or phys1 is None or phys_out is None:
        return E_FALSE
    k.memory.fill(ptr, CONTEXT_SIZE)
    ctx = ContextWords(k, ptr)
    values = {
        "input_buffer_0_ptr": phys0,
        "input_buffer_0_packet_count": in0_count,
        "input_buffer_1_ptr": phys1,
        "input_buffer_1_packet_count": in1_count,
        "input_buffer_read_offset": read_offset,
        "output_buffer_ptr": phys_out,
        "output_buffer_block_count": output_blocks,
        "subframe_decode_count": decode_count,
        "is_stereo": int(channels >= 1),
        "sample_rate": rate,
        "loop_start": loop_start,
        "loop_end": loop_end,
        "loop_count": loop_count,
        "loop_subframe_end": sub_end,
        "loop_subframe_skip": sub_skip,
    }
    for name, value in values.items():
        ctx.set(name, value)
    return ctx.store()


@GROUP.export(
    "XMASetLoopData",
    0x236,
    Param("context", K.PTR),
    Param("loop_data", K.PTR),
    returns=Returns.VALUE,
)
def xma_set_loop_data(k: KernelState, t: Thread, ptr: int, loop: int) -> int:
    """Copy loop start / end / count and subframe end / skip into the context.

    The caller passes a 12-byte XMA_LOOP_DATA. Canary reads it as if it were
    a whole 64-byte context (``xma_set_loop_data_reads_context_layout``):
    the fields come from where a context keeps them, bytes 0-19 of the
    pointer and beyond. The console reads the XMA_LOOP_DATA.
    """
    ctx = ContextWords(k, ptr)
    if k.quirks.xma_set_loop_data_reads_context_layout:
        source = ContextWords(k, loop)
        fields = {n: source.get(n) for n in ("loop_start", "loop_end", "loop_count")}
        fields["loop_subframe_end"] = source.get("loop_subframe_end")
        fields["loop_subframe_skip"] = source.get("loop_subframe_skip")
    else:
        start, end, count, sub_end, sub_skip = struct.unpack(
            ">IIBBB", k.memory.read_bytes(loop, 11)
        )
        fields = {
            "loop_start": start,
            "loop_end": end,
            "loop_count": count,
            "loop_subframe_end": sub_end,
            "loop_subframe_skip": sub_skip,
        }
    for name, value in fields.items():
        ctx.set(name, value)
    return ctx.store()


def _set_input_buffer(k: KernelState, ptr: int, buffer: int, count: int, which: int) -> int:
    physical = physical_address(buffer)
    if physical is None:
        return E_FALSE
    ctx = ContextWords(k, ptr)
    ctx.set(f"input_buffer_{which}_ptr", physical)
    ctx.set(f"input_buffer_{which}_packet_count", count)
    return ctx.store()


@GROUP.export(
    "XMASetInputBuffer0",
    0x232,
    Param("context", K.PTR),
    Param("buffer", K.BUFFER),
    Param("packet_count", K.U32),
    returns=Returns.VALUE,
)
def xma_set_input_buffer0(k: KernelState, t: Thread, ptr: int, buffer: int, count: int) -> int:
    """Point input buffer 0 at ``buffer`` (made physical) with ``packet_count`` 2 KiB packets."""
    return _set_input_buffer(k, ptr, buffer, count, 0)


@GROUP.export(
    "XMASetInputBuffer1",
    0x233,
    Param("context", K.PTR),
    Param("buffer", K.BUFFER),
    Param("packet_count", K.U32),
    returns=Returns.VALUE,
)
def xma_set_input_buffer1(k: KernelState, t: Thread, ptr: int, buffer: int, count: int) -> int:
    """Point input buffer 1 at ``buffer`` (made physical) with ``packet_count`` 2 KiB packets."""
    return _set_input_buffer(k, ptr, buffer, count, 1)


def _getter(name: str, export: str, ordinal: int) -> None:
    def handler(k: KernelState, t: Thread, ptr: int) -> int:
        return _read_field(k, ptr, name)

    handler.__doc__ = f"The context's {name.replace('_', ' ')}."
    GROUP.export(export, ordinal, Param("context", K.PTR), returns=Returns.VALUE)(handler)


def _setter(name: str, export: str, ordinal: int) -> None:
    def handler(k: KernelState, t: Thread, ptr: int, value: int) -> int:
        return _write_field(k, ptr, name, value)

    handler.__doc__ = f"Set the context's {name.replace('_', ' ')} (masked to the field); 0."
    GROUP.export(
        export, ordinal, Param("context", K.PTR), Param("value", K.U32), returns=Returns.VALUE
    )(handler)


def _validator(name: str, export: str, ordinal: int) -> None:
    def handler(k: KernelState, t: Thread, ptr: int) -> int:
        return _write_field(k, ptr, name, 1)

    handler.__doc__ = (
        f"Mark the context's {name.replace('_', ' ').removesuffix(' valid')} valid; 0."
    )
    GROUP.export(export, ordinal, Param("context", K.PTR), returns=Returns.VALUE)(handler)


_getter("output_buffer_write_offset", "XMAGetOutputBufferWriteOffset", 0x229)
_setter("output_buffer_read_offset", "XMASetOutputBufferReadOffset", 0x22A)
_getter("output_buffer_read_offset", "XMAGetOutputBufferReadOffset", 0x22B)
_validator("output_buffer_valid", "XMASetOutputBufferValid", 0x22C)
_getter("output_buffer_valid", "XMAIsOutputBufferValid", 0x22D)
_validator("input_buffer_0_valid", "XMASetInputBuffer0Valid", 0x22E)
_getter("input_buffer_0_valid", "XMAIsInputBuffer0Valid", 0x22F)
_validator("input_buffer_1_valid", "XMASetInputBuffer1Valid", 0x230)
_getter("input_buffer_1_valid", "XMAIsInputBuffer1Valid", 0x231)
_getter("packet_metadata", "XMAGetPacketMetadata", 0x234)
_setter("input_buffer_read_offset", "XMASetInputBufferReadOffset", 0x237)
_getter("input_buffer_read_offset", "XMAGetInputBufferReadOffset", 0x238)


@GROUP.export("XMAEnableContext", 0x227, Param("context", K.PTR), returns=Returns.VALUE)
def xma_enable_context(k: KernelState, t: Thread, ptr: int) -> int:
    """Remember the context as enabled (canary kicks the decoder's register; nothing decodes)."""
    index = _context_index(k, ptr)
    if index is not None:
        xma_state(k).enabled.add(index)
    return 0


@GROUP.export(
    "XMADisableContext",
    0x228,
    Param("context", K.PTR),
    Param("wait", K.BOOL),
    returns=Returns.VALUE,
)
def xma_disable_context(k: KernelState, t: Thread, ptr: int, wait: int) -> int:
    """Forget the context as enabled; 0 (the decoder never holds it, so there is no wait)."""
    index = _context_index(k, ptr)
    if index is not None:
        xma_state(k).enabled.discard(index)
    return 0


@GROUP.export("XMABlockWhileInUse", 0x235, Param("context", K.PTR), returns=Returns.VALUE)
def xma_block_while_in_use(k: KernelState, t: Thread, ptr: int) -> int:
    """Returns 0 at once: no decoder ever has the context in use.

    Canary polls until neither input buffer is valid or the context has no
    work buffer; its decoder gets there, x360k's absent one never would.
    """
    k.memory.require(ptr, CONTEXT_SIZE)
    return 0
