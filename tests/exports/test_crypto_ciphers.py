"""XeCrypt AES, triple DES and RC4 against FIPS / NIST / RFC 6229 vectors, under both profiles."""

from __future__ import annotations

import struct

import pytest

from x360k.kernel import Kernel
from x360k.quirks import PROFILES

from .cryptokit import get, put
from .rtlkit import UNMAPPED

FIPS197_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP800_38A_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
SP800_38A_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP800_38A_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
SP800_38A_CIPHER = bytes.fromhex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def _xtime(a: int) -> int:
    return ((a << 1) ^ 0x11B) & 0xFF if a & 0x80 else a << 1


def _mix_columns(block: bytes) -> bytes:
    """FIPS 197 MixColumns, written out here to check the inverse table independently."""
    out = bytearray()
    for c in range(0, 16, 4):
        a = block[c : c + 4]
        for r in range(4):
            x0, x1, x2, x3 = a[r], a[(r + 1) % 4], a[(r + 2) % 4], a[(r + 3) % 4]
            out.append(_xtime(x0) ^ _xtime(x1) ^ x1 ^ x2 ^ x3)
    return bytes(out)


def _aes_state(k: Kernel, key: bytes) -> int:
    state = put(k, bytes(0x160))
    k.call("XeCryptAesKey", state, put(k, key))
    return state


def test_aes_key_table(k: Kernel) -> None:
    table = get(k, _aes_state(k, SP800_38A_KEY), 0x160)
    enc = [table[16 * i : 16 * i + 16] for i in range(11)]
    dec = [table[0xB0 + 16 * i : 0xB0 + 16 * i + 16] for i in range(11)]
    assert enc[0] == SP800_38A_KEY
    assert enc[10].hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6"  # FIPS 197 A.1, w[40..43]
    assert dec[0] == enc[10] and dec[10] == enc[0]
    for i in range(1, 10):
        assert _mix_columns(dec[i]) == enc[10 - i]


def test_aes_ecb_fips197(k: Kernel) -> None:
    state = _aes_state(k, FIPS197_KEY)
    block = put(k, bytes.fromhex("00112233445566778899aabbccddeeff"))
    out = put(k, bytes(16))
    k.call("XeCryptAesEcb", state, block, out, 1)
    assert get(k, out, 16).hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    k.call("XeCryptAesEcb", state, out, out, 0)  # in place
    assert get(k, out, 16).hex() == "00112233445566778899aabbccddeeff"


def test_aes_cbc_sp800_38a_across_calls(k: Kernel) -> None:
    state = _aes_state(k, SP800_38A_KEY)
    feed = put(k, SP800_38A_IV)
    inp, out = put(k, SP800_38A_PLAIN), put(k, bytes(32))
    k.call("XeCryptAesCbc", state, inp, 16, out, feed, 1)  # one block, then the next:
    k.call("XeCryptAesCbc", state, inp + 16, 16, out + 16, feed, 1)  # the feed chains them
    assert get(k, out, 32) == SP800_38A_CIPHER
    assert get(k, feed, 16) == SP800_38A_CIPHER[16:]
    k.memory.write_bytes(feed, SP800_38A_IV)
    k.call("XeCryptAesCbc", state, out, 32, out, feed, 0)
    assert get(k, out, 32) == SP800_38A_PLAIN
    assert get(k, feed, 16) == SP800_38A_CIPHER[16:]


def test_keys_aes_cbc_using_key(k: Kernel) -> None:
    blob = put(k, bytes(16))
    k.call("XeKeysObscureKey", put(k, bytes(16)), blob)
    assert get(k, blob, 16).hex() == "66e94bd4ef8a2c3b884cfa59ca342b2e"  # AES(0, 0)
    k.call("XeKeysObscureKey", put(k, SP800_38A_KEY), blob)
    feed, out = put(k, SP800_38A_IV), put(k, bytes(32))
    assert k.call("XeKeysAesCbcUsingKey", blob, put(k, SP800_38A_PLAIN), 32, out, feed, 1) == 0
    assert get(k, out, 32) == SP800_38A_CIPHER


def _des3_state(k: Kernel, keys: bytes) -> int:
    state = put(k, bytes(0x180))
    k.call("XeCryptDes3Key", state, put(k, keys))
    return state


def test_des3_key_table_and_ecb(k: Kernel) -> None:
    key = bytes.fromhex("133457799BBCDFF1")
    state = _des3_state(k, key * 3)  # three equal keys: single DES
    (k1,) = struct.unpack("<Q", get(k, state, 8))  # canary's table: little-endian round keys
    assert k1 == 0b000110_110000_001011_101111_111111_000111_000001_110010  # FIPS 46 example
    assert get(k, state + 0x80, 0x80) == get(k, state, 0x80)
    block, out = put(k, bytes.fromhex("0123456789ABCDEF")), put(k, bytes(8))
    k.call("XeCryptDes3Ecb", state, block, out, 1)
    assert get(k, out, 8).hex() == "85e813540f0ab405"
    k.call("XeCryptDes3Ecb", state, out, out, 0)
    assert get(k, out, 8).hex() == "0123456789abcdef"


def test_des3_cbc_matches_ede_by_hand(k: Kernel) -> None:
    keys = bytes.fromhex("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123")
    state = _des3_state(k, keys)
    iv = bytes.fromhex("F69F2445DF4F9B17")
    plain = b"The quick brown fox jump"
    feed, out = put(k, iv), put(k, bytes(24))
    k.call("XeCryptDes3Cbc", state, put(k, plain), 24, out, feed, 1)
    ciphertext = get(k, out, 24)
    # The same chain, block by block through XeCryptDes3Ecb.
    chain, block_out = iv, put(k, bytes(8))
    for i in range(0, 24, 8):
        mixed = bytes(a ^ b for a, b in zip(plain[i : i + 8], chain, strict=True))
        k.call("XeCryptDes3Ecb", state, put(k, mixed), block_out, 1)
        chain = get(k, block_out, 8)
        assert ciphertext[i : i + 8] == chain
    assert get(k, feed, 8) == ciphertext[16:]
    k.memory.write_bytes(feed, iv)
    k.call("XeCryptDes3Cbc", state, out, 20, out, feed, 0)  # whole blocks only: two
    assert get(k, out, 16) == plain[:16] and get(k, out + 16, 8) == ciphertext[16:]


@pytest.mark.parametrize("profile", PROFILES)
def test_des_parity(profile: str) -> None:
    k = Kernel(profile)  # type: ignore[arg-type]
    data = bytes(range(256))
    out = put(k, bytes(256))
    k.call("XeCryptDesParity", put(k, data), 256, out)
    result = get(k, out, 256)
    assert all(r & 0xFE == d & 0xFE for r, d in zip(result, data, strict=True))
    if profile == "console":
        assert all(bin(b).count("1") % 2 == 1 for b in result)
        assert result[1] == 0x01 and result[2] == 0x02
    else:
        assert result[1] == 0x00 and result[2] == 0x02  # 0x01 loses its parity bit
        assert any(bin(b).count("1") % 2 == 0 for b in result)


RFC6229_KEY128 = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
RFC6229_STREAM128 = bytes.fromhex("9ac7cc9a609d1ef7b2932899cde41b97")
RFC6229_KEY40 = bytes.fromhex("0102030405")
RFC6229_STREAM40 = bytes.fromhex("b2396305f03dc027ccc3524a0a1118a8")


def test_rc4_keyed_state_across_calls(k: Kernel) -> None:
    state = put(k, bytes(0x102))
    k.call("XeCryptRc4Key", state, put(k, RFC6229_KEY128), 16)
    assert get(k, state + 0x100, 2) == b"\0\0"
    data = put(k, bytes(16))
    k.call("XeCryptRc4Ecb", state, data, 5)
    k.call("XeCryptRc4Ecb", state, data + 5, 11)  # the stream continues from guest state
    assert get(k, data, 16) == RFC6229_STREAM128
    one_shot = put(k, bytes(16))
    k.call("XeCryptRc4", put(k, RFC6229_KEY128), 16, one_shot, 16)
    assert get(k, one_shot, 16) == RFC6229_STREAM128


@pytest.mark.parametrize("export", ["XeCryptRc4", "XeCryptRc4Key"])
def test_rc4_short_key(k: Kernel, export: str) -> None:
    key = put(k, RFC6229_KEY40 + bytes.fromhex("AABBCCDDEEFF00112233445566"))
    data = put(k, bytes(16))
    if export == "XeCryptRc4":
        k.call("XeCryptRc4", key, 5, data, 16)
    else:
        state = put(k, bytes(0x102))
        k.call("XeCryptRc4Key", state, key, 5)
        k.call("XeCryptRc4Ecb", state, data, 16)
    if k.profile == "console":
        assert get(k, data, 16) == RFC6229_STREAM40
    else:  # canary schedules the 16 bytes at the pointer
        assert get(k, data, 16) != RFC6229_STREAM40


def test_bad_pointers_write_nothing(k: Kernel) -> None:
    state = _aes_state(k, FIPS197_KEY)
    feed, out = put(k, SP800_38A_IV), put(k, bytes(32))
    k.call("XeCryptAesCbc", state, put(k, SP800_38A_PLAIN), 32, UNMAPPED, feed, 1)
    assert get(k, feed, 16) == SP800_38A_IV
    k.call("XeCryptAesCbc", state, UNMAPPED, 32, out, feed, 1)
    assert get(k, out, 32) == bytes(32)
    rc4 = put(k, bytes(0x102))
    k.call("XeCryptRc4Key", rc4, put(k, RFC6229_KEY128), 16)
    before = get(k, rc4, 0x102)
    k.call("XeCryptRc4Ecb", rc4, UNMAPPED, 16)
    assert get(k, rc4, 0x102) == before
    assert k.call("XeKeysObscureKey", UNMAPPED, out) == 0xC0000005


def _reference_rc4(key: bytes, data: bytes) -> bytes:
    """RC4 as its description gives it, for keys of any length 1..256."""
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) & 0xFF])
    return bytes(out)


@pytest.mark.parametrize("size", [1, 5, 6, 16, 33, 64, 200, 256])
def test_rc4_one_shot_takes_every_key_length(k: Kernel, size: int) -> None:
    """cryptography's ARC4 takes only eight key lengths; RC4 (and the guest) any of 1..256."""
    key_bytes = bytes((7 * i + 3) & 0xFF for i in range(size))
    plain = bytes(range(48))
    data = put(k, plain)
    key = put(k, key_bytes)
    k.call("XeCryptRc4", key, size, data, 48)
    # canary schedules the 16 bytes at the pointer, whatever the size (rc4_key_uses_16_bytes)
    used = key_bytes if k.profile == "console" else get(k, key, 16)
    assert get(k, data, 48) == _reference_rc4(used, plain)
