"""Hand-written block functions for the hashes whose running state lives in guest memory.

Why hand-written: XeCryptShaUpdate, XeCryptSha256Update, XeCryptSha512Update
and XeCryptMd5Update keep the whole running hash in a guest structure
(chaining words, byte count, buffered partial block), so a title can copy a
state and continue both copies, or read the words back. ``hashlib`` and the
``cryptography`` package hash objects neither start from given chaining
words nor expose them, so the compression functions are written here (the
one-shot exports, XeCryptSha, XeCryptMd5 and the HMACs, use ``cryptography``).
The round constants are derived from their definitions (prime roots, sines)
rather than pasted; tests check every function against ``hashlib``.

:func:`absorb` and :func:`finish` are the Merkle-Damgard framing all four
share: whole blocks go through the compression function, a partial block is
kept, and the final padding appends 0x80, zeros and the bit length.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

M32: Final = 0xFFFFFFFF
M64: Final = 0xFFFFFFFFFFFFFFFF
Words = tuple[int, ...]


def _primes(n: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < n:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


def _icbrt(n: int) -> int:
    """floor(cbrt(n)) for a non-negative integer, by Newton's method."""
    x = 1 << ((n.bit_length() + 2) // 3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


def _fraction_words(bits: int, count: int, root: int) -> Words:
    """The first ``bits`` bits of the fractional parts of the square or cube roots of primes."""
    out = []
    for p in _primes(count):
        whole = math.isqrt(p << (2 * bits)) if root == 2 else _icbrt(p << (3 * bits))
        out.append(whole & ((1 << bits) - 1))
    return tuple(out)


SHA1_IV: Final[Words] = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
SHA256_IV: Final = _fraction_words(32, 8, 2)
SHA256_K: Final = _fraction_words(32, 64, 3)
SHA512_IV: Final = _fraction_words(64, 8, 2)
SHA512_K: Final = _fraction_words(64, 80, 3)
#: MD5's A, B, C, D in the order FFmpeg (and so canary's guest state) keeps them: D, C, B, A.
MD5_IV_REVERSED: Final[Words] = (0x10325476, 0x98BADCFE, 0xEFCDAB89, 0x67452301)
MD5_T: Final = tuple(int(abs(math.sin(i + 1)) * (1 << 32)) & M32 for i in range(64))
MD5_SHIFTS: Final = (
    (7, 12, 17, 22) * 4 + (5, 9, 14, 20) * 4 + (4, 11, 16, 23) * 4 + (6, 10, 15, 21) * 4
)


def _rotl32(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & M32


def _rotr32(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & M32


def _rotr64(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & M64


def sha1_block(state: Words, block: bytes) -> Words:
    w = list(struct.unpack(">16I", block))
    for i in range(16, 80):
        w.append(_rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1))
    a, b, c, d, e = state
    for i in range(80):
        if i < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif i < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif i < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        a, b, c, d, e = (_rotl32(a, 5) + f + e + k + w[i]) & M32, a, _rotl32(b, 30), c, d
    return tuple((x + y) & M32 for x, y in zip(state, (a, b, c, d, e), strict=True))


def sha256_block(state: Words, block: bytes) -> Words:
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = _rotr32(w[i - 15], 7) ^ _rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr32(w[i - 2], 17) ^ _rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & M32)
    a, b, c, d, e, f, g, h = state
    for i in range(64):
        t1 = h + (_rotr32(e, 6) ^ _rotr32(e, 11) ^ _rotr32(e, 25)) + ((e & f) ^ (~e & g))
        t1 += SHA256_K[i] + w[i]
        t2 = (_rotr32(a, 2) ^ _rotr32(a, 13) ^ _rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
        h, g, f, e = g, f, e, (d + t1) & M32
        d, c, b, a = c, b, a, (t1 + t2) & M32
    return tuple((x + y) & M32 for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True))


def sha512_block(state: Words, block: bytes) -> Words:
    w = list(struct.unpack(">16Q", block))
    for i in range(16, 80):
        s0 = _rotr64(w[i - 15], 1) ^ _rotr64(w[i - 15], 8) ^ (w[i - 15] >> 7)
        s1 = _rotr64(w[i - 2], 19) ^ _rotr64(w[i - 2], 61) ^ (w[i - 2] >> 6)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & M64)
    a, b, c, d, e, f, g, h = state
    for i in range(80):
        t1 = h + (_rotr64(e, 14) ^ _rotr64(e, 18) ^ _rotr64(e, 41)) + ((e & f) ^ (~e & g))
        t1 += SHA512_K[i] + w[i]
        t2 = (_rotr64(a, 28) ^ _rotr64(a, 34) ^ _rotr64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
        h, g, f, e = g, f, e, (d + t1) & M64
        d, c, b, a = c, b, a, (t1 + t2) & M64
    return tuple((x + y) & M64 for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True))


def md5_block(state: Words, block: bytes) -> Words:
    """One MD5 block over the state in FFmpeg's order (D, C, B, A), returned in that order."""
    x = struct.unpack("<16I", block)
    d0, c0, b0, a0 = state
    a, b, c, d = a0, b0, c0, d0
    for i in range(64):
        if i < 16:
            f, g = (b & c) | (~b & d), i
        elif i < 32:
            f, g = (d & b) | (~d & c), (5 * i + 1) % 16
        elif i < 48:
            f, g = b ^ c ^ d, (3 * i + 5) % 16
        else:
            f, g = c ^ (b | (~d & M32)), (7 * i) % 16
        rotated = _rotl32((a + (f & M32) + MD5_T[i] + x[g]) & M32, MD5_SHIFTS[i])
        a, d, c, b = d, c, b, (b + rotated) & M32
    return ((d + d0) & M32, (c + c0) & M32, (b + b0) & M32, (a + a0) & M32)


@dataclass(frozen=True, slots=True)
class HashAlgorithm:
    """What the Merkle-Damgard framing needs to know about one hash."""

    name: str
    block_size: int
    length_size: int  # bytes of the bit length in the final block
    length_order: str  # "big" or "little"
    compress: Callable[[Words, bytes], Words]
    digest: Callable[[Words], bytes]


SHA1: Final = HashAlgorithm(
    "sha1", 64, 8, "big", sha1_block, lambda s: struct.pack(">5I", *s)
)  # fmt: skip
SHA256: Final = HashAlgorithm(
    "sha256", 64, 8, "big", sha256_block, lambda s: struct.pack(">8I", *s)
)  # fmt: skip
SHA512: Final = HashAlgorithm(
    "sha512", 128, 16, "big", sha512_block, lambda s: struct.pack(">8Q", *s)
)  # fmt: skip
MD5: Final = HashAlgorithm(
    "md5", 64, 8, "little", md5_block, lambda s: struct.pack("<4I", *reversed(s))
)  # fmt: skip


#: Compresses whole blocks from the given words (crypto_native offers OpenSSL's; same answer).
Blocks = Callable[[Words, bytes], Words]


def absorb(
    alg: HashAlgorithm, state: Words, pending: bytes, data: bytes, blocks: Blocks | None = None
) -> tuple[Words, bytes]:
    """Feed ``data`` after the buffered ``pending`` bytes: the new state and what stays buffered.

    ``blocks``, if given, compresses the whole blocks in one call; otherwise
    :attr:`HashAlgorithm.compress` runs once per block.
    """
    stream = pending + data
    size = alg.block_size
    whole = len(stream) - len(stream) % size
    if blocks is not None:
        return (blocks(state, stream[:whole]) if whole else state), stream[whole:]
    for offset in range(0, whole, size):
        state = alg.compress(state, stream[offset : offset + size])
    return state, stream[whole:]


def finish(
    alg: HashAlgorithm, state: Words, pending: bytes, count: int, blocks: Blocks | None = None
) -> tuple[bytes, Words]:
    """Pad after ``count`` message bytes (the last ``pending`` buffered): digest, final state."""
    size = alg.block_size
    pad = b"\x80" + b"\0" * ((size - alg.length_size - 1 - len(pending)) % size)
    length = ((count * 8) & ((1 << (8 * alg.length_size)) - 1)).to_bytes(
        alg.length_size,
        "big" if alg.length_order == "big" else "little",
    )
    state, rest = absorb(alg, state, pending, pad + length, blocks)
    assert not rest
    return alg.digest(state), state
