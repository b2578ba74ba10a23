"""Hand-written key schedules: the AES and DES round-key tables canary leaves in guest memory.

Why hand-written: XeCryptAesKey and XeCryptDes3Key fill a guest structure
with the expanded round keys (XECRYPT_AES_STATE, 0x160 bytes: eleven
encryption round keys, then the eleven of the equivalent inverse cipher;
XECRYPT_DES3_STATE, 0x180 bytes: sixteen 48-bit round keys per DES, each
stored as a little-endian 64-bit integer, canary's host order). The
``cryptography`` package expands keys inside OpenSSL and never shows the
tables, so the expansions are written here from FIPS 197 and FIPS 46-3;
the ciphers themselves run in ``cryptography``, keyed from the table (the
AES key is round key 0; the DES key is read back out of its round keys by
:func:`des_key_from_round_keys`). Tests check the tables against those
standards' worked examples and the ciphers against NIST vectors.
"""

from __future__ import annotations

import struct
from typing import Final

# -- AES-128 ------------------------------------------------------------------------------------


def _gf_mul(a: int, b: int) -> int:
    """Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        a = ((a << 1) ^ 0x11B) if a & 0x80 else a << 1
        b >>= 1
    return out


def _sbox() -> bytes:
    """The AES S-box from its definition: the field inverse, then the affine map.

    Inverses come from powers of the generator 3 (x^-1 = 3^(255 - log x)).
    """
    exp, log = [0] * 255, [0] * 256
    value = 1
    for power in range(255):
        exp[power], log[value] = value, power
        value = _gf_mul(value, 3)
    table = bytearray(256)
    for x in range(256):
        inv = exp[(255 - log[x]) % 255] if x else 0
        s = inv
        for shift in range(1, 5):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        table[x] = s ^ 0x63
    return bytes(table)


SBOX: Final = _sbox()
AES_STATE_SIZE: Final = 0x160
AES_DECRYPT_TABLE: Final = 0xB0


def aes128_round_keys(key: bytes) -> list[bytes]:
    """The eleven 16-byte round keys of AES-128 (FIPS 197 5.2)."""
    words = [key[i : i + 4] for i in range(0, 16, 4)]
    rcon = 1
    for i in range(4, 44):
        temp = words[i - 1]
        if i % 4 == 0:
            temp = bytes(SBOX[b] for b in temp[1:] + temp[:1])
            temp = bytes([temp[0] ^ rcon]) + temp[1:]
            rcon = _gf_mul(rcon, 2)
        words.append(bytes(x ^ y for x, y in zip(words[i - 4], temp, strict=True)))
    return [b"".join(words[r * 4 : r * 4 + 4]) for r in range(11)]


_INV_MIX: Final = (14, 11, 13, 9)


def inv_mix_columns(block: bytes) -> bytes:
    """FIPS 197 InvMixColumns over one 16-byte round key (four columns)."""
    out = bytearray()
    for c in range(0, 16, 4):
        a = block[c : c + 4]
        for row in range(4):
            coeffs = _INV_MIX[-row:] + _INV_MIX[:-row]  # row r: the row above, rotated right
            value = 0
            for coeff, byte in zip(coeffs, a, strict=True):
                value ^= _gf_mul(byte, coeff)
            out.append(value)
    return bytes(out)


def aes_state_table(key: bytes) -> bytes:
    """The 0x160-byte XECRYPT_AES_STATE: encryption round keys, then the inverse cipher's."""
    enc = aes128_round_keys(key)
    dec = [enc[10], *(inv_mix_columns(enc[10 - i]) for i in range(1, 10)), enc[0]]
    return b"".join(enc) + b"".join(dec)


# -- DES ----------------------------------------------------------------------------------------

#: FIPS 46-3's permuted choices (bit numbers, 1 = the most significant bit) and shifts.
PC1: Final = (
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
    60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37,
    29, 21, 13, 5, 28, 20, 12, 4,
)  # fmt: skip
PC2: Final = (
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
)  # fmt: skip
SHIFTS: Final = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)
DES_TABLE_SIZE: Final = 16 * 8
DES3_STATE_SIZE: Final = 3 * DES_TABLE_SIZE
_M28: Final = (1 << 28) - 1


def _rotl28(x: int, n: int) -> int:
    return ((x << n) | (x >> (28 - n))) & _M28


def des_round_keys(key: int) -> list[int]:
    """The sixteen 48-bit round keys of a 64-bit DES key (parity bits ignored)."""
    cd = 0
    for bit in PC1:
        cd = (cd << 1) | ((key >> (64 - bit)) & 1)
    c, d = cd >> 28, cd & _M28
    out = []
    for shift in SHIFTS:
        c, d = _rotl28(c, shift), _rotl28(d, shift)
        joined = (c << 28) | d
        sub = 0
        for bit in PC2:
            sub = (sub << 1) | ((joined >> (56 - bit)) & 1)
        out.append(sub)
    return out


def des_table(key: int) -> bytes:
    """One DES's 128-byte table as canary stores it: each round key a little-endian u64."""
    return b"".join(struct.pack("<Q", sub) for sub in des_round_keys(key))


def des_key_from_round_keys(table: bytes) -> int:
    """The 64-bit key (parity bits 0) whose round keys are ``table`` (inverts PC2, shifts, PC1).

    Each round key shows 48 of the 56 key bits, rotated by that round's total
    shift; together they show every bit. A table not made by des_table gives
    the key of its last rounds' bits, where canary would use the table as is.
    """
    c_bits = [0] * 28
    d_bits = [0] * 28
    total = 0
    for index, shift in enumerate(SHIFTS):
        total += shift
        (sub,) = struct.unpack_from("<Q", table, 8 * index)
        for j, bit in enumerate(PC2):
            value = (sub >> (47 - j)) & 1
            if bit <= 28:
                c_bits[(bit - 1 + total) % 28] = value
            else:
                d_bits[(bit - 29 + total) % 28] = value
    cd_bits = c_bits + d_bits
    key = 0
    for position, bit in enumerate(PC1):
        key |= cd_bits[position] << (64 - bit)
    return key
