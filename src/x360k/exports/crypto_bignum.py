"""XeCrypt big numbers: the RSA public operation, PKCS#1 checks, byte swaps; XeCryptRandom.

The console's bignum formats, as the helpers here read them:

* **QwNe**: an array of 64-bit words in the CPU's (big-endian) order, least
  significant word first. An XECRYPT_RSA key is a 16-byte header (u32 size
  in 64-bit words, u32 public exponent, 8 bytes of padding) followed by the
  modulus in that format.
* **DwLe**: the number as little-endian bytes (a PKCS#1 block reversed).

Hand-written, and why: the conversions between these formats and Python
integers (:func:`qwne_to_int`, :func:`int_to_qwne`) and the PKCS#1 block
layout (:func:`pkcs1_block`), which are the console's own formats and no
library knows them. The modular exponentiation itself is Python's built-in
three-argument ``pow``; ``cryptography`` offers no unpadded RSA operation.
"""

from __future__ import annotations

import random
import struct
from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread

GROUP = ExportGroup("crypto bignum")

#: The console's limit on an RSA modulus: 0x40 64-bit words (4096 bits).
MAX_RSA_WORDS: Final = 0x40
#: Canary's build on Windows hands the key to BCrypt, whose RSA keys go up to 16384 bits.
CANARY_MAX_RSA_WORDS: Final = 0x100
#: PKCS#1 signature blocks XeCryptBnDwLePkcs1Verify accepts: 0x27 to 0x200 bytes.
PKCS1_MIN: Final = 0x27
PKCS1_MAX: Final = 0x200
#: The DigestInfo prefixes of the two SHA-1 formats, as they sit (reversed) after the hash.
PKCS1_PREFIX: Final = {
    0: bytes.fromhex("140400051A02030E2B05060930213000"),
    1: bytes.fromhex("14041A02030E2B050607301F3000"),
}
#: What canary's XeCryptRandom writes into every byte.
CANARY_RANDOM_FILL: Final = 0xFD
RANDOM_KEY: Final = "crypto_random"


def qwne_to_int(raw: bytes) -> int:
    """A QwNe number (big-endian 64-bit words, least significant first) as an int."""
    words = struct.unpack(f">{len(raw) // 8}Q", raw)
    return sum(word << (64 * i) for i, word in enumerate(words))


def int_to_qwne(value: int, words: int) -> bytes:
    """``value`` as ``words`` QwNe words (it must fit)."""
    mask = (1 << 64) - 1
    return struct.pack(f">{words}Q", *((value >> (64 * i)) & mask for i in range(words)))


def pkcs1_block(digest: bytes, kind: int, size: int) -> bytes:
    """The DwLe PKCS#1 block of a SHA-1 digest: the reversed hash, the kind's DigestInfo
    prefix (kind 0 or 1; any other kind a single zero), 0xFF padding, then 01 00."""
    block = bytearray(b"\xff" * size)
    block[size - 2 : size] = b"\x01\x00"
    block[0:20] = digest[::-1]
    prefix = PKCS1_PREFIX.get(kind, b"\0")
    block[20 : 20 + len(prefix)] = prefix
    return bytes(block)


@GROUP.export(
    "XeCryptBnQw_SwapDwQwLeBe",
    0x170,
    Param("input", K.BUFFER),
    Param("output", K.BUFFER),
    Param("count", K.U32),
    returns=Returns.VOID,
)
def xe_crypt_bn_qw_swap(k: KernelState, t: Thread, inp: int, out: int, count: int) -> int:
    """Byte-reverse each of ``count`` 64-bit words (input and output may be the same)."""
    if count:
        mem = k.memory
        raw = mem.read_bytes(inp, 8 * count)
        mem.require(out, 8 * count)
        words = struct.unpack(f">{count}Q", raw)
        mem.write_bytes(out, struct.pack(f"<{count}Q", *words))
    return 0


def _rsa_words(k: KernelState) -> int:
    return CANARY_MAX_RSA_WORDS if k.quirks.rsa_pub_crypt_any_size else MAX_RSA_WORDS


def rsa_public(mem: GuestMemory, inp: int, out: int, key: int, limit: int) -> bool:
    """out = inp ^ e mod n in QwNe form; False (nothing written) for a size of 0 or over
    ``limit`` words, or a modulus below 2."""
    size, exponent = struct.unpack(">II", mem.read_bytes(key, 8))
    if size == 0 or size > limit:
        return False
    modulus = qwne_to_int(mem.read_bytes(key + 16, 8 * size))
    value = qwne_to_int(mem.read_bytes(inp, 8 * size))
    mem.require(out, 8 * size)
    if modulus < 2:
        return False
    mem.write_bytes(out, int_to_qwne(pow(value, exponent, modulus), size))
    return True


@GROUP.export(
    "XeCryptBnQwNeRsaPubCrypt",
    0x16D,
    Param("input", K.BUFFER),
    Param("output", K.BUFFER),
    Param("key", K.PTR),
    returns=Returns.VALUE,
)
def xe_crypt_bn_qw_ne_rsa_pub_crypt(k: KernelState, t: Thread, inp: int, out: int, key: int) -> int:
    """The RSA public operation; 1 on success, 0 on failure (not a BOOL in canary's reading).

    The console refuses keys over 0x40 words; canary's Windows build computes
    any size BCrypt takes (``rsa_pub_crypt_any_size``).
    """
    return int(rsa_public(k.memory, inp, out, key, _rsa_words(k)))


@GROUP.export(
    "XeCryptBnDwLePkcs1Verify",
    0x163,
    Param("hash", K.BUFFER),
    Param("signature", K.BUFFER),
    Param("size", K.U32),
    returns=Returns.VALUE,
)
def xe_crypt_bn_dw_le_pkcs1_verify(
    k: KernelState, t: Thread, digest: int, sig: int, size: int
) -> int:
    """TRUE when ``signature`` (a decrypted DwLe block) is the PKCS#1 block of the hash.

    Canary returns TRUE whatever it is given (``pkcs1_verify_always_true``).
    The console takes the format from the block's byte 0x16 (0: DigestInfo
    kind 0, 0x1A: kind 1, else a bare hash) and compares the whole block;
    sizes outside 0x27..0x200 are FALSE.
    """
    if k.quirks.pkcs1_verify_always_true:
        return 1
    if not PKCS1_MIN <= size <= PKCS1_MAX:
        return 0
    mem = k.memory
    block = mem.read_bytes(sig, size)
    hashed = mem.read_bytes(digest, 20)
    kind = {0x00: 0, 0x1A: 1}.get(block[0x16], 2)
    return int(pkcs1_block(hashed, kind, size) == block)


@GROUP.export(
    "XeCryptRandom", 0x18A, Param("buffer", K.BUFFER), Param("size", K.U32), returns=Returns.VOID
)
def xe_crypt_random(k: KernelState, t: Thread, buffer: int, size: int) -> int:
    """Fill the buffer with random bytes.

    Canary fills it with 0xFD (``crypt_random_fills_fd``). The console's
    bytes are random; x360k draws them from a per-kernel generator seeded 0,
    so runs stay reproducible (not for real secrets: x360k has none).
    """
    if not size:
        return 0
    mem = k.memory
    mem.require(buffer, size)
    if k.quirks.crypt_random_fills_fd:
        mem.fill(buffer, size, CANARY_RANDOM_FILL)
        return 0
    generator = k.ext.get(RANDOM_KEY)
    if generator is None:
        generator = k.ext[RANDOM_KEY] = random.Random(0)
    assert isinstance(generator, random.Random)
    mem.write_bytes(buffer, generator.randbytes(size))
    return 0
