"""XeCrypt ciphers (AES-128, triple DES, RC4) and the XeKeys AES calls, state in guest memory.

AES and DES run in the ``cryptography`` package, keyed from the round-key
tables XeCryptAesKey / XeCryptDes3Key leave in the guest (crypto_schedules.py
writes them as canary lays them out). RC4's running state (the permutation
and its two indices, XECRYPT_RC4_STATE, 0x102 bytes) lives in guest memory
between XeCryptRc4Ecb calls, which ``cryptography``'s ARC4 cannot start from
or hand back, so the keyed-state exports step it through OpenSSL's RC4_KEY,
filled from and read back into the guest state (crypto_native.py), or here
(:func:`rc4_schedule`, and crypto_native's ``pure_rc4``, hand-written for
that reason) when OpenSSL's cannot load; the one-shot XeCryptRc4
uses ARC4 whenever the key has a length ARC4 accepts (5, 7, 8, 10, 16, 20, 24 or
32 bytes; RC4 itself takes 1 to 256, and the rest go through the same schedule).

CBC feeds are updated in place to the last ciphertext block, as canary
does. AES-CBC processes whole 16-byte blocks, a trailing partial block as a
whole one (canary's loop); DES-CBC only whole 8-byte blocks. Everything is
read and every output range checked before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from x360k.exports import crypto_schedules as S
from x360k.exports.crypto_native import backend
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("crypto ciphers")

#: Canary's stand-in for the console's per-box key obfuscation key (key 0x18): all zeros.
OBFUSCATION_KEY: Final = bytes(16)
RC4_STATE_SIZE: Final = 0x102


def _aes(key: bytes, mode: modes.ECB | modes.CBC, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), mode)
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def deobscure(obscured: bytes) -> bytes:
    """The key an XeKeysObscureKey blob hides: AES-128 decryption under the obfuscation key."""
    return _aes(OBFUSCATION_KEY, modes.ECB(), obscured, encrypt=False)


def _aes_cbc(
    k: KernelState, key: bytes, inp: int, size: int, out: int, feed: int, encrypt: bool
) -> None:
    mem = k.memory
    blocks = (size + 15) // 16
    if not blocks:
        return
    data = mem.read_bytes(inp, 16 * blocks)
    iv = mem.read_bytes(feed, 16)
    mem.require(out, 16 * blocks)
    result = _aes(key, modes.CBC(iv), data, encrypt)
    mem.write_bytes(out, result)
    mem.write_bytes(feed, (result if encrypt else data)[-16:])


# -- AES ----------------------------------------------------------------------------------------


@GROUP.export(
    "XeCryptAesKey", 0x159, Param("state", K.PTR), Param("key", K.BUFFER), returns=Returns.VOID
)
def xe_crypt_aes_key(k: KernelState, t: Thread, state: int, key: int) -> int:
    """Expand a 16-byte key into the 0x160-byte XECRYPT_AES_STATE."""
    table = S.aes_state_table(k.memory.read_bytes(key, 16))
    k.memory.require(state, S.AES_STATE_SIZE)
    k.memory.write_bytes(state, table)
    return 0


@GROUP.export(
    "XeCryptAesEcb",
    0x15A,
    Param("state", K.PTR),
    Param("input", K.BUFFER),
    Param("output", K.BUFFER),
    Param("encrypt", K.BOOL),
    returns=Returns.VOID,
)
def xe_crypt_aes_ecb(
    k: KernelState, t: Thread, state: int, inp: int, out: int, encrypt: int
) -> int:
    """Encrypt (``encrypt`` non-zero) or decrypt one 16-byte block."""
    mem = k.memory
    key = mem.read_bytes(state, 16)  # round key 0 is the cipher key
    block = mem.read_bytes(inp, 16)
    mem.require(out, 16)
    mem.write_bytes(out, _aes(key, modes.ECB(), block, bool(encrypt)))
    return 0


@GROUP.export(
    "XeCryptAesCbc",
    0x15B,
    Param("state", K.PTR),
    Param("input", K.BUFFER),
    Param("size", K.U32),
    Param("output", K.BUFFER),
    Param("feed", K.BUFFER),
    Param("encrypt", K.BOOL),
    returns=Returns.VOID,
)
def xe_crypt_aes_cbc(
    k: KernelState, t: Thread, state: int, inp: int, size: int, out: int, feed: int, encrypt: int
) -> int:
    """AES-128-CBC over ``size`` bytes (rounded up to blocks), chaining through ``feed``."""
    _aes_cbc(k, k.memory.read_bytes(state, 16), inp, size, out, feed, bool(encrypt))
    return 0


@GROUP.export(
    "XeKeysObscureKey", 0x24E, Param("input", K.BUFFER), Param("output", K.BUFFER)
)  # fmt: skip
def xe_keys_obscure_key(k: KernelState, t: Thread, inp: int, out: int) -> int:
    """Encrypt a 16-byte key under the obfuscation key (all zeros here, as in canary)."""
    key = k.memory.read_bytes(inp, 16)
    k.memory.require(out, 16)
    k.memory.write_bytes(out, _aes(OBFUSCATION_KEY, modes.ECB(), key, encrypt=True))
    return STATUS_SUCCESS


@GROUP.export(
    "XeKeysAesCbcUsingKey",
    0x251,
    Param("obscured_key", K.BUFFER),
    Param("input", K.BUFFER),
    Param("size", K.U32),
    Param("output", K.BUFFER),
    Param("feed", K.BUFFER),
    Param("encrypt", K.BOOL),
)
def xe_keys_aes_cbc_using_key(
    k: KernelState, t: Thread, obscured: int, inp: int, size: int, out: int, feed: int, encrypt: int
) -> int:
    """AES-128-CBC under the key an XeKeysObscureKey blob hides."""
    key = deobscure(k.memory.read_bytes(obscured, 16))
    _aes_cbc(k, key, inp, size, out, feed, bool(encrypt))
    return STATUS_SUCCESS


# -- DES ----------------------------------------------------------------------------------------


@GROUP.export(
    "XeCryptDesParity",
    0x174,
    Param("input", K.BUFFER),
    Param("size", K.U32),
    Param("output", K.BUFFER),
    returns=Returns.VOID,
)
def xe_crypt_des_parity(k: KernelState, t: Thread, inp: int, size: int, out: int) -> int:
    """Set each key byte's low bit for odd parity.

    Canary's test folds in the low bit itself (``des_parity_counts_low_bit``),
    so a byte whose low bit was set comes out with even parity; the console
    makes every byte odd.
    """
    mem = k.memory
    data = mem.read_bytes(inp, size)
    mem.require(out, size)
    counts_low = k.quirks.des_parity_counts_low_bit
    result = bytearray()
    for byte in data:
        ones = bin(byte if counts_low else byte & 0xFE).count("1")
        result.append((byte & 0xFE) | (0 if ones & 1 else 1))
    mem.write_bytes(out, bytes(result))
    return 0


def _des3_key(k: KernelState, state: int) -> bytes:
    table = k.memory.read_bytes(state, S.DES3_STATE_SIZE)
    parts = [table[i * S.DES_TABLE_SIZE : (i + 1) * S.DES_TABLE_SIZE] for i in range(3)]
    return b"".join(S.des_key_from_round_keys(p).to_bytes(8, "big") for p in parts)


def _des3(key: bytes, mode: modes.ECB | modes.CBC, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(TripleDES(key), mode)
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


@GROUP.export(
    "XeCryptDes3Key", 0x178, Param("state", K.PTR), Param("keys", K.BUFFER), returns=Returns.VOID
)
def xe_crypt_des3_key(k: KernelState, t: Thread, state: int, keys: int) -> int:
    """Expand three 8-byte DES keys (encrypt-decrypt-encrypt) into the 0x180-byte state."""
    raw = k.memory.read_bytes(keys, 24)
    table = b"".join(S.des_table(int.from_bytes(raw[i : i + 8], "big")) for i in (0, 8, 16))
    k.memory.require(state, S.DES3_STATE_SIZE)
    k.memory.write_bytes(state, table)
    return 0


@GROUP.export(
    "XeCryptDes3Ecb",
    0x179,
    Param("state", K.PTR),
    Param("input", K.BUFFER),
    Param("output", K.BUFFER),
    Param("encrypt", K.BOOL),
    returns=Returns.VOID,
)
def xe_crypt_des3_ecb(
    k: KernelState, t: Thread, state: int, inp: int, out: int, encrypt: int
) -> int:
    """Encrypt or decrypt one 8-byte block."""
    key = _des3_key(k, state)
    block = k.memory.read_bytes(inp, 8)
    k.memory.require(out, 8)
    k.memory.write_bytes(out, _des3(key, modes.ECB(), block, bool(encrypt)))
    return 0


@GROUP.export(
    "XeCryptDes3Cbc",
    0x17A,
    Param("state", K.PTR),
    Param("input", K.BUFFER),
    Param("size", K.U32),
    Param("output", K.BUFFER),
    Param("feed", K.BUFFER),
    Param("encrypt", K.BOOL),
    returns=Returns.VOID,
)
def xe_crypt_des3_cbc(
    k: KernelState, t: Thread, state: int, inp: int, size: int, out: int, feed: int, encrypt: int
) -> int:
    """Triple-DES-CBC over the whole 8-byte blocks of ``size``, chaining through ``feed``."""
    mem = k.memory
    key = _des3_key(k, state)
    iv = mem.read_bytes(feed, 8)
    blocks = size // 8
    if not blocks:
        return 0
    data = mem.read_bytes(inp, 8 * blocks)
    mem.require(out, 8 * blocks)
    result = _des3(key, modes.CBC(iv), data, bool(encrypt))
    mem.write_bytes(out, result)
    mem.write_bytes(feed, (result if encrypt else data)[-8:])
    return 0


# -- RC4 ----------------------------------------------------------------------------------------


def rc4_key_bytes(k: KernelState, key: int, size: int) -> bytes:
    """The key bytes the schedule cycles through: canary always takes 16
    (``rc4_key_uses_16_bytes``); the console takes ``size`` (at most 256 matter)."""
    if k.quirks.rc4_key_uses_16_bytes:
        return k.memory.read_bytes(key, 16)
    return k.memory.read_bytes(key, min(size, 256))


def rc4_schedule(key: bytes) -> bytearray:
    """RC4's key schedule: the permutation, then i = j = 0 (0x102 bytes, canary's layout).

    An empty key (the console with size 0) schedules as a single zero byte.
    """
    key = key or b"\0"
    s = bytearray(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    return s + b"\0\0"


@GROUP.export(
    "XeCryptRc4Key",
    0x18B,
    Param("state", K.PTR),
    Param("key", K.BUFFER),
    Param("size", K.U32),
    returns=Returns.VOID,
)
def xe_crypt_rc4_key(k: KernelState, t: Thread, state: int, key: int, size: int) -> int:
    """Schedule a key into the 0x102-byte XECRYPT_RC4_STATE."""
    table = rc4_schedule(rc4_key_bytes(k, key, size))
    k.memory.require(state, RC4_STATE_SIZE)
    k.memory.write_bytes(state, bytes(table))
    return 0


@GROUP.export(
    "XeCryptRc4Ecb",
    0x18C,
    Param("state", K.PTR),
    Param("data", K.BUFFER),
    Param("size", K.U32),
    returns=Returns.VOID,
)
def xe_crypt_rc4_ecb(k: KernelState, t: Thread, state: int, data: int, size: int) -> int:
    """Encrypt or decrypt ``size`` bytes in place, continuing the guest state's key stream."""
    mem = k.memory
    table = bytearray(mem.read_bytes(state, RC4_STATE_SIZE))
    text = mem.read_bytes(data, size)
    result = backend(k).rc4(table, text)
    mem.write_bytes(data, result)
    mem.write_bytes(state, bytes(table))
    return 0


@GROUP.export(
    "XeCryptRc4",
    0x18D,
    Param("key", K.BUFFER),
    Param("key_size", K.U32),
    Param("data", K.BUFFER),
    Param("size", K.U32),
    returns=Returns.VOID,
)
def xe_crypt_rc4(k: KernelState, t: Thread, key: int, key_size: int, data: int, size: int) -> int:
    """Encrypt or decrypt ``size`` bytes in place under a fresh key schedule."""
    key_bytes = rc4_key_bytes(k, key, key_size)
    text = k.memory.read_bytes(data, size)
    if len(key_bytes) * 8 in ARC4.key_sizes:
        result = Cipher(ARC4(key_bytes), mode=None).encryptor().update(text)
    else:
        result = backend(k).rc4(rc4_schedule(key_bytes), text)
    k.memory.write_bytes(data, result)
    return 0
