"""A decoder for raw LZX streams, the compression of a XEX2's "normal" basefile.

Written here because no maintained Python package decompresses raw LZX (the
packages on the registry read CAB or CHM containers, or wrap a C library for
a different variant). LZX is a published format (Microsoft's CAB LZX
specification); this follows it as the XEX loader uses it: a single stream
with no reset interval, 32 KiB output frames after each of which the input
realigns to a 16-bit word, verbatim, aligned-offset and uncompressed blocks,
and the three repeated offsets carried across blocks.

Bad input never loops or reads outside the buffer: every step consumes input
bits (reading more than a few words past the end is an error) or produces
output bounded by the expected size, and every failure is an :class:`LzxError`
carrying the byte offset in the stream where it was found.
"""

from __future__ import annotations

from array import array
from typing import Final

FRAME_SIZE: Final = 32768
MIN_MATCH: Final = 2
NUM_CHARS: Final = 256
PRETREE_SIZE: Final = 20
ALIGNED_SIZE: Final = 8
NUM_PRIMARY_LENGTHS: Final = 7
LENGTH_SIZE: Final = 249
BLOCK_VERBATIM: Final = 1
BLOCK_ALIGNED: Final = 2
BLOCK_UNCOMPRESSED: Final = 3
MAX_CODE_LENGTH: Final = 16
#: Zero words a decoder may read past the end (look-ahead of the last codes).
_OVERREAD_WORDS: Final = 4


def position_slots(window_bits: int) -> int:
    """How many position slots a window of ``2**window_bits`` bytes has."""
    if window_bits == 21:
        return 50
    if window_bits == 20:
        return 42
    return window_bits * 2


def _tables() -> tuple[list[int], list[int]]:
    extra = [0, 0, 0, 0] + [min((i - 2) // 2, 17) for i in range(4, 51)]
    base = [0]
    for bits in extra[:-1]:
        base.append(base[-1] + (1 << bits))
    return extra, base


EXTRA_BITS, POSITION_BASE = _tables()


class LzxError(ValueError):
    """The stream is not valid LZX; ``offset`` is the stream byte where that was found."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


#: The symbol of table entries no code reaches (an incomplete tree): above every element.
INVALID: Final = 1 << 20


class _Huffman:
    """A canonical Huffman code as one lookup table indexed by the next ``bits`` bits.

    Each entry is ``(code length, symbol)``; codes no symbol has are
    ``(0, INVALID)``, which every reader rejects.
    """

    __slots__ = ("bits", "table")

    def __init__(self, lengths: list[int], what: str, offset: int) -> None:
        top = max(lengths, default=0)
        self.bits = top
        if top == 0:
            self.table: list[tuple[int, int]] = []  # empty: decoding a symbol is an error
            return
        if top > MAX_CODE_LENGTH:
            raise LzxError(f"{what} code length {top} exceeds {MAX_CODE_LENGTH}", offset)
        size = 1 << top
        table = [(0, INVALID)] * size
        code = 0
        for length in range(1, top + 1):
            span = 1 << (top - length)
            for symbol, n in enumerate(lengths):
                if n == length:
                    start = code * span
                    if start + span > size:
                        raise LzxError(f"{what} code lengths over-subscribe the tree", offset)
                    table[start : start + span] = [(length, symbol)] * span
                    code += 1
            code <<= 1
        self.table = table


class _Bits:
    """The bit reader between hot loops: 16-bit little-endian words, bits taken MSB first.

    ``words`` ends with a few zero words so look-ahead past the end reads zeros;
    loading a word at or past ``limit`` means the stream really ended.
    """

    __slots__ = ("buf", "data", "limit", "nbits", "wi", "words")

    def __init__(self, data: bytes) -> None:
        self.data = data
        words = array("H")
        words.frombytes(bytes(data[: len(data) & ~1]))
        if array("H", b"\x01\x00")[0] != 1:
            words.byteswap()
        self.limit = len(words) + _OVERREAD_WORDS
        words.extend([0] * (_OVERREAD_WORDS + 2))
        self.words = words
        self.wi = 0
        self.buf = 0
        self.nbits = 0

    def where(self) -> int:
        return max(0, self.wi * 2 - self.nbits // 8)

    def need(self, n: int) -> None:
        while self.nbits < n:
            if self.wi >= self.limit:
                raise LzxError("LZX stream ends early", len(self.data))
            self.buf = ((self.buf & ((1 << self.nbits) - 1)) << 16) | self.words[self.wi]
            self.wi += 1
            self.nbits += 16

    def bits(self, n: int) -> int:
        if n == 0:
            return 0
        self.need(n)
        self.nbits -= n
        return (self.buf >> self.nbits) & ((1 << n) - 1)

    def symbol(self, tree: _Huffman, what: str) -> int:
        top = tree.bits
        if top == 0:
            raise LzxError(f"LZX {what} tree is empty but a symbol was coded", self.where())
        self.need(top)
        n, symbol = tree.table[(self.buf >> (self.nbits - top)) & ((1 << top) - 1)]
        if symbol == INVALID:
            raise LzxError(f"LZX {what} code is not in the tree", self.where())
        self.nbits -= n
        return symbol

    def lengths(self, lens: list[int], first: int, last: int) -> None:
        """A pretree, then code lengths [first, last) as deltas from the previous ones."""
        pre = _Huffman([self.bits(4) for _ in range(PRETREE_SIZE)], "pretree", self.where())
        x = first
        while x < last:
            z = self.symbol(pre, "pretree")
            if z == 17:
                run = self.bits(4) + 4
                lens[x : x + run] = [0] * run
            elif z == 18:
                run = self.bits(5) + 20
                lens[x : x + run] = [0] * run
            elif z == 19:
                run = self.bits(1) + 4
                z = self.symbol(pre, "pretree")
                lens[x : x + run] = [(lens[x] - z) % 17] * run
            else:
                run = 1
                lens[x] = (lens[x] - z) % 17
            # A run may overshoot ``last`` (the list grows); trees read only [:last].
            x += run


class LzxDecoder:
    """Decodes one LZX stream of ``window_bits`` (15..21) into exactly ``size`` bytes."""

    def __init__(self, window_bits: int) -> None:
        if not 15 <= window_bits <= 21:
            raise LzxError(f"LZX window of 2^{window_bits} bytes is outside 2^15..2^21", 0)
        self.window_bits = window_bits
        self.main_elements = NUM_CHARS + position_slots(window_bits) * 8

    def decode(self, data: bytes, size: int) -> bytearray:
        """Decode ``data`` into ``size`` bytes; raises :class:`LzxError` on any inconsistency."""
        out = bytearray(size)
        b = _Bits(data)
        main_lens = [0] * self.main_elements
        length_lens = [0] * LENGTH_SIZE
        reps = [1, 1, 1]
        pos = 0
        frame_end = min(FRAME_SIZE, size)
        block_type = 0
        block_left = 0
        main: _Huffman | None = None
        lengths: _Huffman | None = None
        aligned: _Huffman | None = None
        raw_pos = -1  # byte offset of an uncompressed block's next byte (else -1)
        raw_odd = False
        if b.bits(1):
            raise LzxError(
                "LZX stream uses x86 call translation, which XEX files never use", b.where()
            )
        while pos < size:
            if block_left == 0:
                if raw_pos >= 0:  # leaving an uncompressed block: back to the bit stream
                    b.wi = (raw_pos + raw_odd) // 2  # an odd-sized block has one pad byte
                    raw_pos = -1
                    b.buf = b.nbits = 0
                block_type = b.bits(3)
                block_left = b.bits(16) << 8 | b.bits(8)
                if block_left == 0:
                    raise LzxError("LZX block of length 0", b.where())
                if block_type == BLOCK_ALIGNED:
                    aligned_lens = [b.bits(3) for _ in range(ALIGNED_SIZE)]
                    aligned = _Huffman(aligned_lens, "aligned", b.where())
                if block_type in (BLOCK_VERBATIM, BLOCK_ALIGNED):
                    b.lengths(main_lens, 0, NUM_CHARS)
                    b.lengths(main_lens, NUM_CHARS, self.main_elements)
                    main = _Huffman(main_lens[: self.main_elements], "main", b.where())
                    if main.bits == 0:
                        raise LzxError("LZX main tree is empty", b.where())
                    b.lengths(length_lens, 0, LENGTH_SIZE)
                    lengths = _Huffman(length_lens[:LENGTH_SIZE], "length", b.where())
                elif block_type == BLOCK_UNCOMPRESSED:
                    # Pad to the next word boundary (1..16 bits), then R0..R2 and raw bytes.
                    b.wi = (b.wi * 16 - b.nbits) // 16 + 1  # words consumed, plus the padding
                    b.buf = b.nbits = 0
                    start = b.wi * 2
                    if start + 12 > len(data):
                        raise LzxError("LZX uncompressed block header is truncated", start)
                    reps = [
                        int.from_bytes(data[start + 4 * i : start + 4 * i + 4], "little")
                        for i in range(3)
                    ]
                    raw_pos = start + 12
                    raw_odd = bool(block_left & 1)
                else:
                    raise LzxError(f"LZX block type {block_type} is not 1, 2 or 3", b.where())
            if raw_pos >= 0:
                n = min(block_left, frame_end - pos)
                if raw_pos + n > len(data):
                    raise LzxError("LZX uncompressed block runs past the stream", len(data))
                out[pos : pos + n] = data[raw_pos : raw_pos + n]
                raw_pos += n
                pos += n
                block_left -= n
            else:
                assert main is not None and lengths is not None
                tree = aligned if block_type == BLOCK_ALIGNED else None
                pos, block_left = _run(b, out, pos, min(frame_end, size), block_left, main,
                                       lengths, tree, reps, 1 << self.window_bits)  # fmt: skip
            if pos >= frame_end:
                if raw_pos < 0 and b.nbits & 15:
                    b.nbits -= b.nbits & 15  # realign to a word after each 32 KiB frame
                frame_end = min(frame_end + FRAME_SIZE, size)
        return out


def _run(
    b: _Bits,
    out: bytearray,
    pos: int,
    end: int,
    block_left: int,
    main: _Huffman,
    lengths: _Huffman,
    aligned: _Huffman | None,
    reps: list[int],
    window: int,
) -> tuple[int, int]:
    """Decode a verbatim or aligned block's elements until its end or ``end`` (the hot loop).

    The reader's state lives in locals here (the loop runs once per literal or
    match); ``b`` is updated on the way out and before any helper that reads.
    """
    words, limit = b.words, b.limit
    wi, buf, nbits = b.wi, b.buf, b.nbits
    mtab, mtop = main.table, main.bits
    mmask = (1 << mtop) - 1
    ltab, ltop = lengths.table, lengths.bits
    r0, r1, r2 = reps
    size = len(out)
    atab: list[tuple[int, int]] | None = None
    atop = amask = 0
    if aligned is not None:
        if aligned.bits == 0:  # 8 zero lengths: any aligned offset is an error
            aligned.table, aligned.bits = [(0, INVALID)] * 2, 1
        atab, atop = aligned.table, aligned.bits
        amask = (1 << atop) - 1
    extra_bits, position_base = EXTRA_BITS, POSITION_BASE
    # One counter for both limits: the block's end and the frame's (``end``).
    block_end = pos + block_left
    stop = min(end, block_end)
    try:
        while pos < stop:
            # Keep at least 32 bits: a main and a length code, or most offsets, need no refill.
            while nbits < 32:
                if wi >= limit:
                    raise LzxError("LZX stream ends early", len(b.data))
                buf = ((buf & ((1 << nbits) - 1)) << 16) | words[wi]
                wi += 1
                nbits += 16
            n, element = mtab[(buf >> (nbits - mtop)) & mmask]
            nbits -= n
            if element < 256:  # a literal (NUM_CHARS)
                out[pos] = element
                pos += 1
                continue
            if element == INVALID:  # a code no symbol has
                raise LzxError("LZX main code is not in the tree", max(0, wi * 2 - nbits // 8))
            element -= NUM_CHARS
            length = element & 7
            if length == NUM_PRIMARY_LENGTHS:
                if ltop == 0:
                    raise LzxError("LZX length tree is empty but a symbol was coded", wi * 2)
                n, footer = ltab[(buf >> (nbits - ltop)) & ((1 << ltop) - 1)]
                if footer == INVALID:
                    raise LzxError("LZX length code is not in the tree", wi * 2)
                nbits -= n
                length += footer
            length += MIN_MATCH
            slot = element >> 3
            if slot == 0:
                offset = r0
            elif slot == 1:
                offset = r1
                r1 = r0
                r0 = offset
            elif slot == 2:
                offset = r2
                r2 = r0
                r0 = offset
            else:
                extra = extra_bits[slot]
                offset = position_base[slot] - 2
                if atab is not None and extra >= 3:
                    while nbits < 24:  # at most 14 verbatim bits and a 7-bit aligned code
                        if wi >= limit:
                            raise LzxError("LZX stream ends early", len(b.data))
                        buf = ((buf & ((1 << nbits) - 1)) << 16) | words[wi]
                        wi += 1
                        nbits += 16
                    if extra > 3:
                        nbits -= extra - 3
                        offset += ((buf >> nbits) & ((1 << (extra - 3)) - 1)) << 3
                    n, low = atab[(buf >> (nbits - atop)) & amask]
                    if low == INVALID:
                        raise LzxError("LZX aligned code is not in the tree", wi * 2)
                    nbits -= n
                    offset += low
                elif extra:
                    while nbits < extra:
                        if wi >= limit:
                            raise LzxError("LZX stream ends early", len(b.data))
                        buf = ((buf & ((1 << nbits) - 1)) << 16) | words[wi]
                        wi += 1
                        nbits += 16
                    nbits -= extra
                    offset += (buf >> nbits) & ((1 << extra) - 1)
                r2 = r1
                r1 = r0
                r0 = offset
            if offset > pos or offset >= window or offset <= 0:
                raise LzxError(
                    f"LZX match offset {offset} reaches before the stream (at output byte {pos})",
                    max(0, wi * 2 - nbits // 8),
                )
            if pos + length > block_end:
                raise LzxError("LZX match runs past the end of its block", wi * 2)
            last = pos + length
            if last > size:
                last = size
            src = pos - offset
            if offset >= length:
                out[pos:last] = out[src : src + (last - pos)]
            else:
                chunk = out[src:pos] * (length // offset + 1)
                out[pos:last] = chunk[: last - pos]
            pos = pos + length  # a match may overrun the frame (not the block): see below
    finally:
        b.wi, b.buf, b.nbits = wi, buf, nbits
        reps[:] = [r0, r1, r2]
    return min(pos, size), block_end - pos


def lzx_decompress(data: bytes, size: int, window_size: int) -> bytearray:
    """Decode a raw LZX stream with a window of ``window_size`` bytes into ``size`` bytes."""
    bits = window_size.bit_length() - 1
    if window_size <= 0 or 1 << bits != window_size:
        raise LzxError(f"LZX window size 0x{window_size:x} is not a power of two", 0)
    return LzxDecoder(bits).decode(data, size)
