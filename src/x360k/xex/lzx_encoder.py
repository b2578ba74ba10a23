"""A small LZX encoder: makes the LZX basefiles that tests and the benchmark load.

Written here for the same reason as the decoder (no maintained package writes
raw LZX). It aims at valid, decodable streams that exercise every part of the
decoder, not at ratio: a greedy matcher over a hash of three bytes, one block
per 32 KiB frame whose type is chosen by the caller (verbatim, aligned offset
or uncompressed, in turn), complete Huffman codes of at most 16 bits, the
pretree's run codes (17, 18 and 19) and the three repeated offsets.

With ``cross_frame=False`` matches never reach into an earlier frame, so a
frame's bits depend only on its bytes and the coder's state; identical frames
then encode to identical bytes, which lets the benchmark build a large stream
from one encoded frame.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Final

from x360k.xex.lzx import (
    ALIGNED_SIZE,
    BLOCK_ALIGNED,
    BLOCK_UNCOMPRESSED,
    BLOCK_VERBATIM,
    EXTRA_BITS,
    FRAME_SIZE,
    LENGTH_SIZE,
    MIN_MATCH,
    NUM_CHARS,
    NUM_PRIMARY_LENGTHS,
    POSITION_BASE,
    PRETREE_SIZE,
    position_slots,
)

MAX_MATCH: Final = 257
_MAX_CHAIN: Final = 16


class _BitWriter:
    """MSB-first bits packed into 16-bit little-endian words."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, n: int) -> None:
        self.acc = (self.acc << n) | (value & ((1 << n) - 1))
        self.n += n
        while self.n >= 16:
            self.n -= 16
            word = (self.acc >> self.n) & 0xFFFF
            self.out += word.to_bytes(2, "little")
        self.acc &= (1 << self.n) - 1

    def align(self) -> None:
        """Pad with zero bits to the next word (nothing if already there)."""
        if self.n:
            self.put(0, 16 - self.n)

    def raw(self, data: bytes) -> None:
        assert self.n == 0
        self.out += data


def huffman_lengths(freqs: Sequence[int], limit: int) -> list[int]:
    """Code lengths (at most ``limit``) for ``freqs``; a complete code when 2+ symbols are used."""
    used = [i for i, f in enumerate(freqs) if f]
    lengths = [0] * len(freqs)
    if not used:
        return lengths
    if len(used) == 1:  # a one-symbol code is incomplete: pair it with a neighbour
        other = 1 if used[0] == 0 else 0
        lengths[used[0]] = lengths[other] = 1
        return lengths
    weights = [freqs[i] for i in used]
    while True:
        heap: list[tuple[int, int, list[int]]] = [(w, i, [i]) for i, w in enumerate(weights)]
        heapq.heapify(heap)
        depth = [0] * len(used)
        tie = len(used)
        while len(heap) > 1:
            wa, _, a = heapq.heappop(heap)
            wb, _, b = heapq.heappop(heap)
            for s in a + b:
                depth[s] += 1
            heapq.heappush(heap, (wa + wb, tie, a + b))
            tie += 1
        if max(depth) <= limit:
            break
        weights = [(w + 1) // 2 for w in weights]  # flatten and try again
    for k, i in enumerate(used):
        lengths[i] = depth[k]
    return lengths


def _codes(lengths: Sequence[int]) -> list[int]:
    """Canonical codes for ``lengths`` (shorter first, then by symbol), as the decoder builds."""
    codes = [0] * len(lengths)
    code = 0
    for length in range(1, max(lengths, default=0) + 1):
        for symbol, n in enumerate(lengths):
            if n == length:
                codes[symbol] = code
                code += 1
        code <<= 1
    return codes


def _slot_of(offset: int) -> int:
    """The position slot whose range holds ``offset + 2`` (explicit offsets)."""
    value = offset + 2
    lo, hi = 3, len(POSITION_BASE) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if POSITION_BASE[mid] <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


class LzxEncoder:
    """Encodes a whole buffer as one LZX stream (see the module docstring)."""

    def __init__(
        self,
        window_bits: int = 15,
        block_types: Sequence[int] = (BLOCK_VERBATIM,),
        *,
        cross_frame: bool = True,
        repeats: bool = True,
    ) -> None:
        self.window_bits = window_bits
        self.window = 1 << window_bits
        self.main_elements = NUM_CHARS + position_slots(window_bits) * 8
        self.block_types = tuple(block_types)
        self.cross_frame = cross_frame
        self.repeats = repeats

    def encode(self, data: bytes) -> bytes:
        return b"".join(self.encode_frames(data))

    def encode_frames(self, data: bytes) -> list[bytes]:
        """The stream cut at its 32 KiB frames (XEX stores one frame per chunk)."""
        frames: list[bytes] = []
        w = _BitWriter()
        w.put(0, 1)  # no x86 call translation
        state = _State(self.main_elements)
        cache: dict[tuple[object, ...], tuple[bytes, _State]] = {}
        for index, start in enumerate(range(0, len(data), FRAME_SIZE)):
            block_type = self.block_types[index % len(self.block_types)]
            frame = data[start : start + FRAME_SIZE]
            key: tuple[object, ...] | None = None
            if not self.cross_frame:
                key = (frame, block_type, state.key(), w.n)
                hit = cache.get(key)
                if hit is not None:
                    frames.append(hit[0])
                    state = hit[1].copy()
                    continue
            before = 0 if start == 0 else len(w.out)
            assert w.n == 0 or start == 0
            low = start if not self.cross_frame else max(0, start - self.window + 3)
            tokens = []
            if block_type != BLOCK_UNCOMPRESSED:
                tokens = self._tokens(data, start, start + len(frame), low, state)
            self._block(w, block_type, data, start, len(frame), tokens, state)
            w.align()  # realign after every 32 KiB frame
            frames.append(bytes(w.out[before:]))
            if key is not None:
                cache[key] = (frames[-1], state.copy())
        if w.n:  # only the stream's first bit, for empty data
            w.align()
            frames.append(bytes(w.out))
        return frames

    # -- matching ---------------------------------------------------------------------------------

    def _tokens(
        self, data: bytes, start: int, end: int, low: int, state: _State
    ) -> list[tuple[int, int]]:
        """(literal, 0) or (offset, length) tokens for data[start:end]."""
        heads: dict[bytes, list[int]] = {}
        for p in range(low, start):
            heads.setdefault(data[p : p + 3], []).append(p)
        tokens: list[tuple[int, int]] = []
        p = start
        while p < end:
            best_len, best_off = 0, 0
            key = data[p : p + 3]
            if len(key) == 3:
                chain = heads.get(key, [])
                limit = min(MAX_MATCH, end - p)
                for q in reversed(chain[-_MAX_CHAIN:]):
                    offset = p - q
                    if offset >= self.window - 3:
                        break
                    n = 0
                    while n < limit and data[q + n] == data[p + n]:
                        n += 1
                    if n > best_len:
                        best_len, best_off = n, offset
                        if n == limit:
                            break
            if best_len >= 3:
                tokens.append((best_off, best_len))
                step = best_len
            else:
                tokens.append((data[p], 0))
                step = 1
            for k in range(p, min(p + step, end)):
                heads.setdefault(data[k : k + 3], []).append(k)
            p += step
        return tokens

    # -- one block --------------------------------------------------------------------------------

    def _block(
        self,
        w: _BitWriter,
        block_type: int,
        data: bytes,
        start: int,
        size: int,
        tokens: list[tuple[int, int]],
        state: _State,
    ) -> None:
        w.put(block_type, 3)
        w.put(size >> 8, 16)
        w.put(size & 0xFF, 8)
        if block_type == BLOCK_UNCOMPRESSED:
            if w.n == 0:
                w.put(0, 16)
            else:
                w.align()
            for rep in state.r:
                w.raw(rep.to_bytes(4, "little"))
            w.raw(data[start : start + size])
            if size & 1:
                w.raw(b"\0")
            return
        # Symbols: (main element, length symbol or -1, offset slot extra value, extra bits).
        coded: list[tuple[int, int, int, int]] = []
        main_freq = [0] * self.main_elements
        length_freq = [0] * LENGTH_SIZE
        aligned_freq = [0] * ALIGNED_SIZE
        r = state.r
        for value, length in tokens:
            if length == 0:
                coded.append((value, -1, 0, 0))
                main_freq[value] += 1
                continue
            offset = value
            if self.repeats and offset in r:
                slot = r.index(offset)
                if slot == 1:
                    r[1] = r[0]
                elif slot == 2:
                    r[2] = r[0]
                r[0] = offset
                verbatim, extra = 0, 0
            else:
                slot = _slot_of(offset)
                extra = EXTRA_BITS[slot]
                verbatim = offset + 2 - POSITION_BASE[slot]
                r[2], r[1], r[0] = r[1], r[0], offset
                if block_type == BLOCK_ALIGNED and extra >= 3:
                    aligned_freq[verbatim & 7] += 1
            header = min(length - MIN_MATCH, NUM_PRIMARY_LENGTHS)
            element = NUM_CHARS + (slot << 3 | header)
            main_freq[element] += 1
            footer = -1
            if header == NUM_PRIMARY_LENGTHS:
                footer = length - MIN_MATCH - NUM_PRIMARY_LENGTHS
                length_freq[footer] += 1
            coded.append((element, footer, verbatim, extra))
        aligned_lens: list[int] = []
        aligned_codes: list[int] = []
        if block_type == BLOCK_ALIGNED:
            if not any(aligned_freq):
                aligned_freq[0] = 1
            aligned_lens = huffman_lengths(aligned_freq, 7)
            for n in aligned_lens:
                w.put(n, 3)
            aligned_codes = _codes(aligned_lens)
        main_lens = huffman_lengths(main_freq, 16)
        length_lens = huffman_lengths(length_freq, 16)
        _write_lengths(w, state.main, main_lens, 0, NUM_CHARS)
        _write_lengths(w, state.main, main_lens, NUM_CHARS, self.main_elements)
        _write_lengths(w, state.length, length_lens, 0, LENGTH_SIZE)
        main_codes = _codes(main_lens)
        length_codes = _codes(length_lens)
        for element, footer, verbatim, extra in coded:
            w.put(main_codes[element], main_lens[element])
            if footer >= 0:
                w.put(length_codes[footer], length_lens[footer])
            if extra == 0:
                continue
            if block_type == BLOCK_ALIGNED and extra >= 3:
                if extra > 3:
                    w.put(verbatim >> 3, extra - 3)
                low = verbatim & 7
                w.put(aligned_codes[low], aligned_lens[low])
            else:
                w.put(verbatim, extra)


class _State:
    """What the decoder carries from block to block: tree lengths and repeated offsets."""

    def __init__(self, main_elements: int) -> None:
        self.main = [0] * main_elements
        self.length = [0] * LENGTH_SIZE
        self.r = [1, 1, 1]

    def key(self) -> tuple[object, ...]:
        return (tuple(self.main), tuple(self.length), tuple(self.r))

    def copy(self) -> _State:
        new = _State(0)
        new.main, new.length, new.r = list(self.main), list(self.length), list(self.r)
        return new


def _write_lengths(
    w: _BitWriter, previous: list[int], lengths: list[int], first: int, last: int
) -> None:
    """One pretree and the lengths [first, last) as deltas from ``previous`` (then updated)."""
    items: list[tuple[int, int, int]] = []  # (pretree symbol, extra value, extra bits)
    x = first
    while x < last:
        value = lengths[x]
        run = 1
        while x + run < last and lengths[x + run] == value:
            run += 1
        if value == 0 and run >= 20:
            run = min(run, 51)
            items.append((18, run - 20, 5))
        elif value == 0 and run >= 4:
            run = min(run, 19)
            items.append((17, run - 4, 4))
        elif run >= 4:
            run = min(run, 5)
            items.append((19, run - 4, 1))
            items.append(((previous[x] - value) % 17, 0, 0))
        else:
            run = 1
            items.append(((previous[x] - value) % 17, 0, 0))
        x += run
    freq = [0] * PRETREE_SIZE
    for sym, _, _ in items:
        freq[sym] += 1
    pre_lens = huffman_lengths(freq, 15)
    pre_codes = _codes(pre_lens)
    for n in pre_lens:
        w.put(n, 4)
    for sym, extra, nbits in items:
        w.put(pre_codes[sym], pre_lens[sym])
        if nbits:
            w.put(extra, nbits)
    previous[first:last] = lengths[first:last]


def lzx_compress(
    data: bytes,
    window_size: int = 0x8000,
    block_types: Sequence[int] = (BLOCK_VERBATIM,),
    *,
    cross_frame: bool = True,
) -> bytes:
    """``data`` as one raw LZX stream with a window of ``window_size`` bytes."""
    bits = window_size.bit_length() - 1
    return LzxEncoder(bits, block_types, cross_frame=cross_frame).encode(data)


def lzx_compress_frames(
    data: bytes,
    window_size: int = 0x8000,
    block_types: Sequence[int] = (BLOCK_VERBATIM,),
    *,
    cross_frame: bool = True,
) -> list[bytes]:
    """Like :func:`lzx_compress`, one bytes object per 32 KiB frame."""
    bits = window_size.bit_length() - 1
    return LzxEncoder(bits, block_types, cross_frame=cross_frame).encode_frames(data)
