"""XeCrypt hashes and HMACs against hashlib / hmac and the RFC vectors, under both profiles.

Expected digests are computed here with the standard library (or are the
published vectors), never with x360k's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.exports.crypto_hashes import SHA512, finish
from x360k.kernel import Kernel
from x360k.quirks import PROFILES
from x360k.status import STATUS_INVALID_PARAMETER, STATUS_UNSUCCESSFUL

from .cryptokit import get, put
from .rtlkit import UNMAPPED

#: (export prefix, hashlib name, state size, digest size)
RUNNING = [
    ("XeCryptSha", "sha1", 0x58, 20),
    ("XeCryptSha256", "sha256", 0x64, 32),
    ("XeCryptMd5", "md5", 0x58, 16),
]


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def _running(k: Kernel, prefix: str, size: int, chunks: list[bytes], out_size: int) -> bytes:
    state = put(k, b"\xee" * size)
    k.call(f"{prefix}Init", state)
    for chunk in chunks:
        k.call(f"{prefix}Update", state, put(k, chunk), len(chunk))
    out = put(k, bytes(out_size))
    k.call(f"{prefix}Final", state, out, out_size)
    return get(k, out, out_size)


def test_published_vectors(k: Kernel) -> None:
    assert _running(k, "XeCryptSha", 0x58, [b"abc"], 20).hex() == (
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    )
    assert _running(k, "XeCryptMd5", 0x58, [b"a", b"bc"], 16).hex() == (
        "900150983cd24fb0d6963f7d28e17f72"
    )
    assert _running(k, "XeCryptSha256", 0x64, [b"ab", b"c"], 32).hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@settings(max_examples=25, deadline=None)
@given(
    message=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=5),
    which=st.sampled_from(RUNNING),
)
def test_split_updates_match_hashlib(
    message: bytes, cuts: list[int], which: tuple[str, str, int, int]
) -> None:
    prefix, name, size, digest = which
    k = Kernel("console")
    points = sorted({min(c, len(message)) for c in cuts} | {0, len(message)})
    chunks = [message[a:b] for a, b in itertools.pairwise(points)]
    assert _running(k, prefix, size, chunks, digest) == hashlib.new(name, message).digest()


@pytest.mark.parametrize("which", RUNNING)
def test_state_lives_in_guest_memory(k: Kernel, which: tuple[str, str, int, int]) -> None:
    """A state copied mid-way continues on its own: nothing is kept in the host."""
    prefix, name, size, digest = which
    first = put(k, bytes(size))
    k.call(f"{prefix}Init", first)
    k.call(f"{prefix}Update", first, put(k, b"x" * 100), 100)
    second = put(k, get(k, first, size))
    k.call(f"{prefix}Update", first, put(k, b"left"), 4)
    k.call(f"{prefix}Update", second, put(k, b"right!"), 6)
    outs = put(k, bytes(2 * digest))
    k.call(f"{prefix}Final", first, outs, digest)
    k.call(f"{prefix}Final", second, outs + digest, digest)
    assert get(k, outs, digest) == hashlib.new(name, b"x" * 100 + b"left").digest()
    assert get(k, outs + digest, digest) == hashlib.new(name, b"x" * 100 + b"right!").digest()


def test_sha1_state_layout(k: Kernel) -> None:
    state = put(k, bytes(0x58))
    k.call("XeCryptShaInit", state)
    assert struct.unpack(">6I", get(k, state, 24)) == (
        0, 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0,
    )  # fmt: skip
    k.call("XeCryptShaUpdate", state, put(k, b"q" * 70), 70)
    assert struct.unpack(">I", get(k, state, 4)) == (70,)
    assert get(k, state + 0x18, 6) == b"q" * 6  # the partial block
    out = put(k, bytes(8))
    k.call("XeCryptShaFinal", state, out, 8)  # a short output gets the digest's first bytes
    full = hashlib.sha1(b"q" * 70).digest()
    assert get(k, out, 8) == full[:8]
    assert get(k, state + 4, 20) == full  # the words become the digest


def test_md5_and_sha256_final_leave_the_digest_in_the_buffer(k: Kernel) -> None:
    state = put(k, bytes(0x64))
    k.call("XeCryptSha256Init", state)
    k.call("XeCryptSha256Update", state, put(k, b"abc"), 3)
    k.call("XeCryptSha256Final", state, 0, 0)
    assert get(k, state + 0x24, 32) == hashlib.sha256(b"abc").digest()
    md5 = put(k, bytes(0x58))
    k.call("XeCryptMd5Init", md5)
    assert struct.unpack(">Q4I", get(k, md5, 24)) == (
        0, 0x10325476, 0x98BADCFE, 0xEFCDAB89, 0x67452301,
    )  # fmt: skip
    k.call("XeCryptMd5Update", md5, put(k, b"abc"), 3)
    k.call("XeCryptMd5Final", md5, 0, 0)
    assert get(k, md5 + 0x18, 16) == hashlib.md5(b"abc").digest()


def test_sha512_running(k: Kernel) -> None:
    state = put(k, bytes(0xC8))
    k.call("XeCryptSha512Init", state)
    for chunk in (b"a" * 100, b"b" * 100, b"c"):
        k.call("XeCryptSha512Update", state, put(k, chunk), len(chunk))
    assert struct.unpack(">Q", get(k, state, 8)) == (201,)
    out = put(k, bytes(64))
    raw = get(k, state, 0x64)
    k.call("XeCryptSha512Final", state, out, 64)
    expected = hashlib.sha512(b"a" * 100 + b"b" * 100 + b"c").digest()
    if k.profile == "console":
        assert get(k, out, 64) == expected
        return
    # Canary reads the SHA-256 layout: count 0 (the u64's high half), u32 words from 4.
    assert get(k, out, 64) != expected
    words = struct.unpack_from(">8I", raw, 4)
    assert words[0] == 201  # the count's low half, taken as a chaining word
    digest, _ = finish(SHA512, words, b"", 0)
    assert get(k, out, 64) == digest
    assert get(k, state + 0x24, 64) == digest


def test_one_shots_skip_null_inputs(k: Kernel) -> None:
    a, b = put(k, b"hello "), put(k, b"world")
    out = put(k, bytes(20))
    k.call("XeCryptSha", a, 6, 0, 99, b, 5, out, 20)
    assert get(k, out, 20) == hashlib.sha1(b"hello world").digest()
    k.call("XeCryptMd5", a, 6, b, 0, b, 5, out, 16)
    assert get(k, out, 16) == hashlib.md5(b"hello world").digest()


def test_hmac_rfc2202(k: Kernel) -> None:
    out = put(k, bytes(20))
    key = put(k, b"\x0b" * 20)
    k.call("XeCryptHmacSha", key, 20, put(k, b"Hi "), 3, put(k, b"There"), 5, 0, 0, out, 20)
    assert get(k, out, 20).hex() == "b617318655057264e28bc0b6fb378c8ef146be00"
    long_key = bytes(range(80)) + bytes(range(20))  # over a block: hashed first
    k.call("XeCryptHmacSha", put(k, long_key), 100, put(k, b"msg"), 3, 0, 0, 0, 0, out, 20)
    assert get(k, out, 20) == hmac.new(long_key, b"msg", "sha1").digest()


def test_keys_hmac(k: Kernel) -> None:
    out = put(k, bytes(20))
    data = put(k, b"payload")
    retail = bytes.fromhex("E1BC159C73B1EAE9AB3170F3AD47EBF3")
    assert k.call("XeKeysHmacSha", 0x19, data, 7, 0, 0, 0, 0, out, 20) == 0
    assert get(k, out, 20) == hmac.new(retail, b"payload", "sha1").digest()
    assert k.call("XeKeysHmacSha", 0x18, data, 7, 0, 0, 0, 0, out, 20) == STATUS_UNSUCCESSFUL
    assert k.call("XeKeysHmacShaUsingKey", 0, data, 7, 0, 0, 0, 0, out, 20) == (
        STATUS_INVALID_PARAMETER
    )
    # An obscured key is the key encrypted under AES with an all-zero key.
    key = bytes(range(16))
    blob = put(k, bytes(16))
    assert k.call("XeKeysObscureKey", put(k, key), blob) == 0
    assert k.call("XeKeysHmacShaUsingKey", blob, data, 7, 0, 0, 0, 0, out, 20) == 0
    assert get(k, out, 20) == hmac.new(key, b"payload", "sha1").digest()


def test_console_type(k: Kernel) -> None:
    out = put(k, bytes(4))
    assert k.call("XeKeysGetConsoleType", out) == 0
    assert k.memory.read_u32(out) == 2
    assert k.call("XeKeysGetConsoleType", UNMAPPED) == 0xC0000005


def test_bad_pointers_change_nothing(k: Kernel) -> None:
    state = put(k, bytes(0x58))
    k.call("XeCryptShaInit", state)
    k.call("XeCryptShaUpdate", state, put(k, b"abc"), 3)
    before = get(k, state, 0x58)
    k.call("XeCryptShaUpdate", state, UNMAPPED, 10)
    k.call("XeCryptShaFinal", state, UNMAPPED, 20)
    assert get(k, state, 0x58) == before
    tail = k.memory.regions[-1].end - 0x40
    k.call("XeCryptShaInit", tail)  # the state would run off the mapping
    assert get(k, tail, 0x40) == bytes(0x40)
    assert k.call("XeKeysHmacSha", 0x19, UNMAPPED, 4, 0, 0, 0, 0, state, 20) == 0xC0000005
    assert get(k, state, 0x58) == before
