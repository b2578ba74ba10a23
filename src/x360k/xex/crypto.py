"""AES-128-CBC as the XEX2 basefile uses it, through the ``cryptography`` package.

The header's file key is itself encrypted with one of two keys: the retail
key (signed, shipped titles) or the development kit's (all zero). Loaders try
the retail key first and then the devkit key, as canary does; the key that
yields a valid image is the right one. Both keys are published constants of
the format. IVs are zero throughout.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RETAIL_KEY: Final = bytes.fromhex("20b185a59d28fdc340583fbb0896bf91")
DEVKIT_KEY: Final = bytes(16)
#: The keys tried, in order, with the name ``x360k xex info`` reports.
KEYS: Final = (("retail", RETAIL_KEY), ("devkit", DEVKIT_KEY))
_ZERO_IV: Final = bytes(16)


def decrypt(key: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption with a zero IV; ``data`` must be whole 16-byte blocks."""
    d = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).decryptor()
    return d.update(bytes(data)) + d.finalize()


def encrypt(key: bytes, data: bytes) -> bytes:
    """AES-128-CBC encryption with a zero IV (the writer and tests)."""
    e = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).encryptor()
    return e.update(bytes(data)) + e.finalize()


def session_key(master: bytes, file_key: bytes) -> bytes:
    """The key the basefile is encrypted with: the header's file key decrypted."""
    return decrypt(master, file_key)
