"""XeCrypt bignum exports: RSA public operation, PKCS#1 checks, swaps, XeCryptRandom."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from x360k.kernel import Kernel
from x360k.quirks import PROFILES

from .cryptokit import get, put


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def qwne(value: int, words: int) -> bytes:
    """Big-endian 64-bit words, least significant first (written out independently here)."""
    return b"".join(((value >> (64 * i)) & (2**64 - 1)).to_bytes(8, "big") for i in range(words))


def rsa_key(k: Kernel, n: int, e: int, words: int) -> int:
    return put(k, struct.pack(">II8x", words, e) + qwne(n, words))


def test_swap_dw_qw_le_be(k: Kernel) -> None:
    buf = put(k, bytes(range(16)))
    k.call("XeCryptBnQw_SwapDwQwLeBe", buf, buf, 2)
    assert get(k, buf, 16) == bytes(range(7, -1, -1)) + bytes(range(15, 7, -1))


def test_rsa_textbook(k: Kernel) -> None:
    key = rsa_key(k, 3233, 17, 1)  # p = 61, q = 53
    inp, out = put(k, qwne(65, 1)), put(k, bytes(8))
    assert k.call("XeCryptBnQwNeRsaPubCrypt", inp, out, key) == 1
    assert get(k, out, 8) == qwne(2790, 1)


def test_rsa_2048_round_trip(k: Kernel) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    message = 0x1234567890ABCDEF << 1000
    signature = pow(message, d, n)
    key = rsa_key(k, n, 65537, 32)
    inp, out = put(k, qwne(signature, 32)), put(k, bytes(256))
    assert k.call("XeCryptBnQwNeRsaPubCrypt", inp, out, key) == 1
    assert get(k, out, 256) == qwne(message, 32)


def test_rsa_size_limits(k: Kernel) -> None:
    out = put(k, bytes(0x41 * 8))
    assert k.call("XeCryptBnQwNeRsaPubCrypt", out, out, rsa_key(k, 0, 3, 0)) == 0
    big = (1 << (64 * 0x41 - 1)) + 1
    key = rsa_key(k, big, 3, 0x41)
    inp = put(k, qwne(2, 0x41))
    result = k.call("XeCryptBnQwNeRsaPubCrypt", inp, out, key)
    if k.profile == "console":
        assert result == 0 and get(k, out, 8) == bytes(8)
    else:
        assert result == 1 and get(k, out, 0x41 * 8) == qwne(8, 0x41)


def pkcs1(digest: bytes, prefix: bytes, size: int) -> bytes:
    """A DwLe PKCS#1 block, laid out by hand: reversed hash, prefix, FF..., 01 00."""
    body = digest[::-1] + prefix
    return body + b"\xff" * (size - len(body) - 2) + b"\x01\x00"


def test_pkcs1_verify(k: Kernel) -> None:
    digest = bytes(range(20))
    prefix0 = bytes.fromhex("140400051A02030E2B05060930213000")
    prefix1 = bytes.fromhex("14041A02030E2B050607301F3000")
    hashed = put(k, digest)
    good0, good1 = put(k, pkcs1(digest, prefix0, 128)), put(k, pkcs1(digest, prefix1, 256))
    bare = put(k, pkcs1(digest, b"\0", 0x27))
    bad = bytearray(pkcs1(digest, prefix0, 128))
    bad[60] ^= 1
    bad_ptr = put(k, bytes(bad))
    results = [
        k.call("XeCryptBnDwLePkcs1Verify", hashed, good0, 128),
        k.call("XeCryptBnDwLePkcs1Verify", hashed, good1, 256),
        k.call("XeCryptBnDwLePkcs1Verify", hashed, bare, 0x27),
        k.call("XeCryptBnDwLePkcs1Verify", hashed, bad_ptr, 128),
        k.call("XeCryptBnDwLePkcs1Verify", hashed, good0, 0x26),
    ]
    if k.profile == "console":
        assert results == [1, 1, 1, 0, 0]
    else:
        assert results == [1, 1, 1, 1, 1]


def test_random(k: Kernel) -> None:
    buf = put(k, bytes(64))
    k.call("XeCryptRandom", buf, 64)
    data = get(k, buf, 64)
    if k.profile == "canary":
        assert data == b"\xfd" * 64
        return
    assert len(set(data)) > 16
    again = Kernel("console")
    other = put(again, bytes(64))
    again.call("XeCryptRandom", other, 64)
    assert get(again, other, 64) == data  # reproducible run to run
    k.call("XeCryptRandom", buf, 64)
    assert get(k, buf, 64) != data  # but not the same bytes twice
