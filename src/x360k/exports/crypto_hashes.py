"""Hand-written block functions for the hashes whose running state lives in guest memory.

Why hand-written: XeCryptShaUpdate, XeCryptSha256Update, XeCryptSha512Update
and XeCryptMd5Update keep the whole running hash in a guest structure
(chaining words, byte count, buffered partial block), so a title can copy a
state and continue both copies, or read the words back. ``hashlib`` and the
``cryptography`` package hash objects neither start from given chaining
words nor expose them, so the compression functions are written here (the
one-shot exports, XeCryptSha, XeCryptMd5 and the HMACs, use ``cryptography``).
OpenSSL's low-level contexts do expose them: crypto_native.py runs those
when libcrypto loads, and these functions are its fallback and the reference
its tests compare guest memory against.
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


_BE16I: Final = struct.Struct(">16I").unpack
_BE16Q: Final = struct.Struct(">16Q").unpack
_LE16I: Final = struct.Struct("<16I").unpack

# The block functions below are the fallback when OpenSSL's cannot load (crypto_native.py)
# and the reference that path is tested against. They are written for CPython: rotations
# inline rather than calls, one loop per round group so no round tests its index, the
# choice and majority functions in their fewer-operation forms (d ^ (b & (c ^ d)),
# (b & c) | (d & (b | c))), and the message words unpacked with one precompiled struct.
# That measured ~1.3-1.5x faster than a loop calling rotation helpers (BENCHMARKS.md).


def sha1_block(state: Words, block: bytes) -> Words:
    w = list(_BE16I(block))
    for i in range(16, 80):
        x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
        w.append(((x << 1) | (x >> 31)) & M32)
    a, b, c, d, e = state
    for wi in w[:20]:
        t = (((a << 5) | (a >> 27)) + (d ^ (b & (c ^ d))) + e + 0x5A827999 + wi) & M32
        a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & M32, c, d
    for wi in w[20:40]:
        t = (((a << 5) | (a >> 27)) + (b ^ c ^ d) + e + 0x6ED9EBA1 + wi) & M32
        a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & M32, c, d
    for wi in w[40:60]:
        t = (((a << 5) | (a >> 27)) + ((b & c) | (d & (b | c))) + e + 0x8F1BBCDC + wi) & M32
        a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & M32, c, d
    for wi in w[60:]:
        t = (((a << 5) | (a >> 27)) + (b ^ c ^ d) + e + 0xCA62C1D6 + wi) & M32
        a, b, c, d, e = t, a, ((b << 30) | (b >> 2)) & M32, c, d
    h0, h1, h2, h3, h4 = state
    return ((h0 + a) & M32, (h1 + b) & M32, (h2 + c) & M32, (h3 + d) & M32, (h4 + e) & M32)


def sha256_block(state: Words, block: bytes) -> Words:
    w = list(_BE16I(block))
    for i in range(16, 64):
        x, y = w[i - 15], w[i - 2]
        s0 = ((x >> 7) | (x << 25)) ^ ((x >> 18) | (x << 14)) ^ (x >> 3)
        s1 = ((y >> 17) | (y << 15)) ^ ((y >> 19) | (y << 13)) ^ (y >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & M32)
    a, b, c, d, e, f, g, h = state
    for k, wi in zip(SHA256_K, w, strict=True):
        big_e = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))
        t1 = h + (big_e & M32) + (g ^ (e & (f ^ g))) + k + wi
        big_a = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))
        t2 = (big_a & M32) + ((a & b) | (c & (a | b)))
        h, g, f, e = g, f, e, (d + t1) & M32
        d, c, b, a = c, b, a, (t1 + t2) & M32
    return tuple((x + y) & M32 for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True))


def sha512_block(state: Words, block: bytes) -> Words:
    w = list(_BE16Q(block))
    for i in range(16, 80):
        x, y = w[i - 15], w[i - 2]
        s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
        s1 = ((y >> 19) | (y << 45)) ^ ((y >> 61) | (y << 3)) ^ (y >> 6)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & M64)
    a, b, c, d, e, f, g, h = state
    for k, wi in zip(SHA512_K, w, strict=True):
        big_e = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
        t1 = h + (big_e & M64) + (g ^ (e & (f ^ g))) + k + wi
        big_a = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
        t2 = (big_a & M64) + ((a & b) | (c & (a | b)))
        h, g, f, e = g, f, e, (d + t1) & M64
        d, c, b, a = c, b, a, (t1 + t2) & M64
    return tuple((x + y) & M64 for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True))


def _md5_rounds(start: int, index: Callable[[int], int]) -> tuple[tuple[int, int, int], ...]:
    """(sine constant, message word, shift) for the sixteen rounds from ``start``."""
    return tuple((MD5_T[i], index(i), MD5_SHIFTS[i]) for i in range(start, start + 16))


_MD5_R1: Final = _md5_rounds(0, lambda i: i)
_MD5_R2: Final = _md5_rounds(16, lambda i: (5 * i + 1) % 16)
_MD5_R3: Final = _md5_rounds(32, lambda i: (3 * i + 5) % 16)
_MD5_R4: Final = _md5_rounds(48, lambda i: (7 * i) % 16)


def md5_block(state: Words, block: bytes) -> Words:
    """One MD5 block over the state in FFmpeg's order (D, C, B, A), returned in that order."""
    x = _LE16I(block)
    d0, c0, b0, a0 = state
    a, b, c, d = a0, b0, c0, d0
    for t, g, s in _MD5_R1:
        v = (a + (d ^ (b & (c ^ d))) + t + x[g]) & M32
        a, d, c, b = d, c, b, (b + ((v << s) | (v >> (32 - s)))) & M32
    for t, g, s in _MD5_R2:
        v = (a + (c ^ (d & (b ^ c))) + t + x[g]) & M32
        a, d, c, b = d, c, b, (b + ((v << s) | (v >> (32 - s)))) & M32
    for t, g, s in _MD5_R3:
        v = (a + (b ^ c ^ d) + t + x[g]) & M32
        a, d, c, b = d, c, b, (b + ((v << s) | (v >> (32 - s)))) & M32
    for t, g, s in _MD5_R4:
        v = (a + (c ^ (b | (~d & M32))) + t + x[g]) & M32
        a, d, c, b = d, c, b, (b + ((v << s) | (v >> (32 - s)))) & M32
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
