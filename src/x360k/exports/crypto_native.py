"""OpenSSL's block functions for the guest-state hashes and RC4, with the exact state exposed.

Why: the running hashes (XeCryptShaUpdate and friends) and XeCryptRc4Ecb
keep their whole state in guest memory, so after every call the guest must
see the chaining words, or RC4's permutation and indices, exactly as the
pure-Python path (crypto_hashes.py's block functions, :func:`pure_rc4`
here) leaves them. ``hashlib`` and ``cryptography`` hide that state, which
is why the pure path exists, and it runs at under 1 MB/s. OpenSSL's low-level API does
not hide it: ``SHA_CTX``, ``SHA256_CTX``, ``SHA512_CTX``, ``MD5_CTX`` and
``RC4_KEY`` are public structures whose chaining words (or S-box and
indices) a caller may set and read. So a call here builds the context from
the words the guest state holds, lets OpenSSL compress whole blocks (or
step RC4), and reads the words back: nothing is cached between calls, so a
state the guest copied, edited or interleaved with another is simply read
afresh, exactly as the pure path reads it.

The library is the ``libcrypto`` the interpreter's ``hashlib`` links
against (found by ``ctypes.util.find_library``); it is optional. Each
function is checked against the pure one on fixed inputs when a kernel
first loads it and is used only if it agrees, so a missing library, a
build without the deprecated API, or a structure laid out differently
leaves that function on the pure path. A kernel's choice lives in
``k.ext`` (:func:`backend`); :func:`use_pure` pins a kernel to the pure
path (tests and the benchmark compare the two).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from x360k.exports import crypto_hashes as H

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState

EXT_KEY: Final = "crypto.backend"
#: Compresses whole blocks (a multiple of the block size) from the given chaining words.
Blocks = Callable[[H.Words, bytes], H.Words]
#: XORs data with RC4's key stream, advancing the 0x102-byte state (S, i, j) in place.
Rc4 = Callable[[bytearray, bytes], bytes]


def pure_blocks(alg: H.HashAlgorithm) -> Blocks:
    """The fold of the hand-written block function over whole blocks (the reference)."""
    compress, size = alg.compress, alg.block_size

    def run(words: H.Words, data: bytes) -> H.Words:
        for offset in range(0, len(data), size):
            words = compress(words, data[offset : offset + size])
        return words

    return run


@dataclass(frozen=True, slots=True)
class _Context:
    """Where one OpenSSL context keeps its chaining words (host-endian), and its size."""

    update: str  # the *_Update function
    size: int  # sizeof the context structure
    words_format: str  # struct format of the chaining words at offset 0
    reverse: bool  # MD5: OpenSSL keeps A, B, C, D; the guest state D, C, B, A


_CONTEXTS: Final = {
    "sha1": _Context("SHA1_Update", 96, "=5I", False),
    "sha256": _Context("SHA256_Update", 112, "=8I", False),
    "sha512": _Context("SHA512_Update", 216, "=8Q", False),
    "md5": _Context("MD5_Update", 92, "=4I", True),
}
_ALGORITHMS: Final = {"sha1": H.SHA1, "sha256": H.SHA256, "sha512": H.SHA512, "md5": H.MD5}


def _native_blocks(lib: ctypes.CDLL, ctx: _Context) -> Blocks:
    update = getattr(lib, ctx.update)
    update.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
    update.restype = ctypes.c_int
    fmt, size, reverse = ctx.words_format, ctx.size, ctx.reverse

    def run(words: H.Words, data: bytes) -> H.Words:
        # A zeroed context but for the words: num = 0, so Update compresses every
        # whole block and buffers nothing (the caller passes whole blocks only).
        buf = ctypes.create_string_buffer(size)
        struct.pack_into(fmt, buf, 0, *(reversed(words) if reverse else words))
        update(buf, data, len(data))
        out = struct.unpack_from(fmt, buf, 0)
        return tuple(reversed(out)) if reverse else out

    return run


def _native_rc4(lib: ctypes.CDLL) -> Rc4:
    rc4 = lib.RC4
    rc4.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p)
    rc4.restype = None

    def run(state: bytearray, data: bytes) -> bytes:
        # RC4_KEY is RC4_INT x, y; RC4_INT data[256], RC4_INT an unsigned int here
        # (the load-time check catches a build that differs): widen the bytes.
        key = np.empty(258, dtype=np.uint32)
        key[0], key[1] = state[256], state[257]
        key[2:] = np.frombuffer(state, dtype=np.uint8, count=256)
        out = ctypes.create_string_buffer(len(data))
        rc4(key.ctypes.data, len(data), data, out)
        state[:256] = key[2:].astype(np.uint8).tobytes()
        state[256], state[257] = int(key[0]), int(key[1])
        return out.raw

    return run


def _agrees_blocks(fast: Blocks, reference: Blocks, ctx: _Context, alg: H.HashAlgorithm) -> bool:
    """Both paths from odd chaining words over three blocks of patterned data."""
    count, bits = int(ctx.words_format[1:-1]), 64 if ctx.words_format.endswith("Q") else 32
    words = tuple(((0x9E3779B97F4A7C15 * (n + 1)) >> 3) & ((1 << bits) - 1) for n in range(count))
    data = bytes((n * 131 + 7) & 0xFF for n in range(3 * alg.block_size))
    return fast(words, data) == reference(words, data) and fast(words, b"") == words


def _agrees_rc4(fast: Rc4, reference: Rc4) -> bool:
    state = bytearray((n * 167 + 13) & 0xFF for n in range(256)) + bytes([250, 3])
    data = bytes((n * 29) & 0xFF for n in range(300))
    a, b = bytearray(state), bytearray(state)
    return fast(a, data) == reference(b, data) and a == b


@dataclass(slots=True)
class Backend:
    """One kernel's block functions and RC4 step; ``native`` names the ones OpenSSL runs."""

    blocks: dict[str, Blocks]
    rc4: Rc4
    native: set[str] = field(default_factory=set)


def pure_rc4(state: bytearray, data: bytes) -> bytes:
    """XOR ``data`` with the key stream, advancing ``state`` (S, i, j) in place (the reference)."""
    s = state
    i, j = s[256], s[257]
    out = bytearray(len(data))
    for n, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out[n] = byte ^ s[(s[i] + s[j]) & 0xFF]
    s[256], s[257] = i, j
    return bytes(out)


def pure_backend() -> Backend:
    """The hand-written path for everything."""
    return Backend({name: pure_blocks(alg) for name, alg in _ALGORITHMS.items()}, pure_rc4)


def _load_library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def native_backend() -> Backend:
    """OpenSSL for each function it has and agrees on; the pure path for the rest."""
    chosen = pure_backend()
    lib = _load_library()
    if lib is None:
        return chosen
    for name, ctx in _CONTEXTS.items():
        try:
            fast = _native_blocks(lib, ctx)
        except AttributeError:
            continue
        if _agrees_blocks(fast, chosen.blocks[name], ctx, _ALGORITHMS[name]):
            chosen.blocks[name] = fast
            chosen.native.add(name)
    try:
        rc4 = _native_rc4(lib)
    except AttributeError:
        return chosen
    if _agrees_rc4(rc4, chosen.rc4):
        chosen.rc4 = rc4
        chosen.native.add("rc4")
    return chosen


def backend(k: KernelState) -> Backend:
    """The kernel's backend, loaded (and checked) on its first guest-state hash or RC4 call."""
    found = k.ext.get(EXT_KEY)
    if not isinstance(found, Backend):
        found = k.ext[EXT_KEY] = native_backend()
    return found


def use_pure(k: KernelState) -> None:
    """Pin the kernel to the hand-written path (the reference the fast path is tested against)."""
    k.ext[EXT_KEY] = pure_backend()
