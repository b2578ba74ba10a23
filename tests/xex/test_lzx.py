"""The LZX decoder against the test encoder: every block type, windows, and hostile input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.xex.lzx import (
    BLOCK_ALIGNED,
    BLOCK_UNCOMPRESSED,
    BLOCK_VERBATIM,
    LzxError,
    lzx_decompress,
)
from x360k.xex.lzx_encoder import LzxEncoder, lzx_compress


def sample(size: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    words = [rnd.randbytes(rnd.randint(1, 12)) for _ in range(120)]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) if rnd.random() < 0.9 else bytes(rnd.randint(1, 300))
    return bytes(out[:size])


DATA = sample(100_000)


@pytest.mark.parametrize(
    "types",
    [
        (BLOCK_VERBATIM,),
        (BLOCK_ALIGNED,),
        (BLOCK_UNCOMPRESSED,),
        (BLOCK_VERBATIM, BLOCK_UNCOMPRESSED, BLOCK_ALIGNED),
    ],
)
def test_round_trip_each_block_type(types: tuple[int, ...]) -> None:
    packed = lzx_compress(DATA, 0x8000, types)
    if BLOCK_UNCOMPRESSED not in types:
        assert len(packed) < len(DATA) // 2  # matches were really used
    assert lzx_decompress(packed, len(DATA), 0x8000) == DATA


@pytest.mark.parametrize("window", [0x10000, 0x20000, 0x200000])
def test_round_trip_windows(window: int) -> None:
    packed = lzx_compress(DATA, window, (BLOCK_ALIGNED, BLOCK_VERBATIM))
    assert lzx_decompress(packed, len(DATA), window) == DATA


def test_odd_sized_uncompressed_block_then_verbatim() -> None:
    data = sample(32768 + 1001, seed=3)
    packed = lzx_compress(data, 0x8000, (BLOCK_UNCOMPRESSED, BLOCK_VERBATIM))
    assert lzx_decompress(packed, len(data), 0x8000) == data
    packed = lzx_compress(data[:32767], 0x8000, (BLOCK_UNCOMPRESSED,))
    assert lzx_decompress(packed, 32767, 0x8000) == data[:32767]


def test_identical_frames_encode_identically_without_cross_frame_matches() -> None:
    frame = sample(32768, seed=5)
    frames = LzxEncoder(15, (BLOCK_VERBATIM,), cross_frame=False).encode_frames(frame * 4)
    assert frames[1] == frames[2] == frames[3]
    assert lzx_decompress(b"".join(frames), len(frame) * 4, 0x8000) == frame * 4


def test_errors_name_a_stream_offset() -> None:
    packed = bytearray(lzx_compress(DATA, 0x8000))
    with pytest.raises(LzxError) as info:
        lzx_decompress(bytes(packed[:100]), len(DATA), 0x8000)
    assert "ends early" in str(info.value)
    with pytest.raises(LzxError, match="not a power of two"):
        lzx_decompress(bytes(packed), 10, 0x9000)
    with pytest.raises(LzxError, match="x86 call translation"):
        lzx_decompress(b"\x00\x80" + bytes(packed[2:]), len(DATA), 0x8000)


@settings(max_examples=150, deadline=5000)
@given(st.binary(max_size=400), st.integers(0, 70_000))
def test_random_bytes_decode_or_raise_lzx_error(data: bytes, size: int) -> None:
    try:
        out = lzx_decompress(data, size, 0x8000)
    except LzxError:
        return
    assert len(out) == size


PACKED = lzx_compress(DATA[:40_000], 0x8000, (BLOCK_VERBATIM, BLOCK_ALIGNED))


@settings(max_examples=150, deadline=5000)
@given(st.lists(st.tuples(st.integers(0, len(PACKED) - 1), st.integers(0, 255)), max_size=6))
def test_corrupted_streams_decode_or_raise_lzx_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(PACKED)
    for at, value in edits:
        data[at] = value
    try:
        out = lzx_decompress(bytes(data), 40_000, 0x8000)
    except LzxError:
        return
    assert len(out) == 40_000
