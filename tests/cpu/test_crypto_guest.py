"""The crypto guest: XeCrypt called from PowerPC code, checked against the host's libraries.

The guest hashes a message in two XeCryptShaUpdate calls through a state on
its stack, takes the one-shot SHA-1 and an HMAC, encrypts two AES-CBC blocks
in two calls chained through a feed, and draws 16 bytes of RC4 key stream
from a 5-byte key; it exits with the FNV-1a of every output. The expected
value is computed here with hashlib, hmac and ``cryptography``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from x360k.cpu.runner import execute_guest
from x360k.quirks import PROFILES, Profile

MESSAGE = b"The quick brown fox jumps over the lazy dog"
KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RC4_KEY = bytes([1, 2, 3, 4, 5, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0, 0])


def _fnv(data: bytes, h: int = 2166136261) -> int:
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def expected(profile: Profile) -> int:
    digest = hashlib.sha1(MESSAGE).digest()
    mac = hmac.new(KEY, MESSAGE, "sha1").digest()
    aes = Cipher(algorithms.AES(KEY), modes.CBC(bytes(range(16)))).encryptor()
    block = aes.update(MESSAGE[:32]) + aes.finalize()
    rc4_key = RC4_KEY if profile == "canary" else RC4_KEY[:5]  # canary keys with 16 bytes
    stream = Cipher(ARC4(rc4_key), mode=None).encryptor().update(bytes(16))
    return _fnv(digest + digest + mac + block + stream)


@pytest.mark.parametrize("profile", PROFILES)
def test_crypto_guest(guest: Callable[[str], Path], profile: Profile) -> None:
    run = execute_guest(guest("crypto"), profile=profile)
    assert run.outcome == "finished"
    assert run.kernel.threads[0].exit_code == expected(profile)
    assert expected("canary") != expected("console")
