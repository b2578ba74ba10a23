"""XMA contexts as guest records under both profiles: allocation, fields, no decoding."""

from __future__ import annotations

import struct

import pytest

from x360k.exports.hw_memory import physical_address
from x360k.exports.xma import CONTEXT_COUNT, xma_state
from x360k.kernel import Kernel
from x360k.quirks import PROFILES
from x360k.status import STATUS_ACCESS_VIOLATION, STATUS_NO_MEMORY

from .cryptokit import get, put
from .rtlkit import UNMAPPED


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def _create(k: Kernel) -> int:
    out = put(k, bytes(4))
    assert k.call("XMACreateContext", out) == 0
    return k.memory.read_u32(out)


def _words(k: Kernel, ctx: int) -> tuple[int, ...]:
    return struct.unpack(">16I", get(k, ctx, 64))


def test_create_release(k: Kernel) -> None:
    first, second = _create(k), _create(k)
    assert second == first + 64 and first % 256 == 0
    assert physical_address(first) is not None
    k.memory.write_bytes(first, b"\x55" * 64)
    assert k.call("XMAReleaseContext", first) == 0
    assert get(k, first, 64) == bytes(64)  # released contexts are zeroed
    assert _create(k) == first  # and handed out again first
    assert k.call("XMAReleaseContext", 0x1234) == 0  # not a context: nothing happens


def test_exhaustion(k: Kernel) -> None:
    for _ in range(CONTEXT_COUNT):
        _create(k)
    out = put(k, b"\xff" * 4)
    assert k.call("XMACreateContext", out) == STATUS_NO_MEMORY
    assert k.memory.read_u32(out) == 0
    assert k.call("XMACreateContext", UNMAPPED) == STATUS_ACCESS_VIOLATION


#: in0, count0, in1, count1, read offset, out, blocks, work, decode count, channels, rate,
#: loop start, loop end, loop count, subframe end, subframe skip
INIT_TAIL = (0x123, None, 5, 0xDEAD0000, 2, 2, 1, 0x400, 0x800, 7, 2, 1)


def _init_record(k: Kernel, in0: int, in1: int, out: int) -> int:
    tail = tuple(out if v is None else v for v in INIT_TAIL)
    return put(k, struct.pack(">11IIIBBB1x", in0, 3, in1, 4, *tail))


def test_initialize_fills_the_layout(k: Kernel) -> None:
    ctx = _create(k)
    in0, out = k.memory.alloc_system(0x800, 256), k.memory.alloc_system(0x800, 256)
    k.memory.write_bytes(ctx, b"\xaa" * 64)
    assert k.call("XMAInitializeContext", ctx, _init_record(k, in0, 0, out)) == 0
    w = _words(k, ctx)
    assert w[0] == 3 | 7 << 12 | 5 << 22  # packets, loop count, output blocks
    assert w[1] == 4 | 2 << 14 | 1 << 17 | 2 << 20 | 1 << 27 | 1 << 29
    assert (w[2], w[3], w[4]) == (0x123, 0x400, 0x800)
    assert (w[5], w[6], w[7], w[8]) == (physical_address(in0), 0, physical_address(out), 0)
    assert w[9:] == (0,) * 7
    assert k.call("XMAGetInputBufferReadOffset", ctx) == 0x123


def test_initialize_refuses_virtual_buffers(k: Kernel) -> None:
    ctx = _create(k)
    k.memory.write_bytes(ctx, b"\xaa" * 64)
    virtual = k.memory.alloc(0x800, 256)  # 0x4xxxxxxx: no physical address in canary's map
    physical = k.memory.alloc_system(0x800, 256)
    assert k.call("XMAInitializeContext", ctx, _init_record(k, virtual, 0, physical)) == 0x80000000
    assert k.call("XMAInitializeContext", ctx, _init_record(k, 0, 0, 0)) == 0x80000000
    assert get(k, ctx, 64) == b"\xaa" * 64


def test_flags_and_offsets(k: Kernel) -> None:
    ctx = _create(k)
    for which in ("Input Buffer0", "Input Buffer1", "Output Buffer"):
        name = which.replace(" ", "")
        assert k.call(f"XMAIs{name}Valid", ctx) == 0
        assert k.call(f"XMASet{name}Valid", ctx) == 0
        assert k.call(f"XMAIs{name}Valid", ctx) == 1
    w = _words(k, ctx)
    assert w[0] == 1 << 20 | 1 << 21 and w[1] == 1 << 31
    assert k.call("XMASetOutputBufferReadOffset", ctx, 0x3F) == 0
    assert k.call("XMAGetOutputBufferReadOffset", ctx) == 0x1F  # a 5-bit field
    assert k.call("XMASetInputBufferReadOffset", ctx, 0x4000123) == 0
    assert k.call("XMAGetInputBufferReadOffset", ctx) == 0x0000123
    assert k.call("XMAGetOutputBufferWriteOffset", ctx) == 0  # nothing decodes
    k.memory.write_u32(ctx + 16, 0x15 << 26)
    assert k.call("XMAGetPacketMetadata", ctx) == 0x15
    assert k.call("XMAIsInputBuffer0Valid", UNMAPPED) == STATUS_ACCESS_VIOLATION


def test_input_buffers(k: Kernel) -> None:
    ctx = _create(k)
    buffer = k.memory.alloc_system(0x1000, 256)
    assert k.call("XMASetInputBuffer1", ctx, buffer, 9) == 0
    w = _words(k, ctx)
    assert (w[6], w[1] & 0xFFF) == (physical_address(buffer), 9)
    assert k.call("XMASetInputBuffer0", ctx, k.memory.alloc(16, 16), 1) == 0x80000000
    assert _words(k, ctx)[5] == 0


def test_enable_disable_block(k: Kernel) -> None:
    ctx = _create(k)
    assert k.call("XMAEnableContext", ctx) == 0
    assert xma_state(k).enabled == {0}
    k.call("XMASetInputBuffer0Valid", ctx)
    assert k.call("XMABlockWhileInUse", ctx) == 0  # returns: nothing decodes
    assert k.call("XMADisableContext", ctx, 1) == 0
    assert xma_state(k).enabled == set()


def test_set_loop_data(k: Kernel) -> None:
    ctx = _create(k)
    loop = put(k, struct.pack(">IIBBB", 0x1000, 0x2000, 3, 4, 5) + bytes(53))
    k.memory.write_bytes(loop + 12, struct.pack(">II", 0x777, 0x888))  # past the 12-byte record
    assert k.call("XMASetLoopData", ctx, loop) == 0
    w = _words(k, ctx)
    if k.profile == "console":
        assert (w[3], w[4]) == (0x1000, 0x2000)
        assert (w[0] >> 12) & 0xFF == 3
        assert ((w[1] >> 14) & 7, (w[1] >> 17) & 7) == (4, 5)
    else:  # canary reads the record as a context: fields from where a context keeps them
        assert (w[3], w[4]) == (0x777, 0x888)
        assert (w[0] >> 12) & 0xFF == (0x1000 >> 12) & 0xFF
        assert ((w[1] >> 14) & 7, (w[1] >> 17) & 7) == ((0x2000 >> 14) & 7, (0x2000 >> 17) & 7)
