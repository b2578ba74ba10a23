"""XeCrypt hashes and HMACs, and the XeKeys calls built on them, with the state in guest memory.

The running-hash exports keep their whole state in the caller's structure,
laid out as canary lays it out (:data:`SHA1_STATE` and friends), so a title
may copy a state, continue both copies or read the chaining words; the
block functions that needs are OpenSSL's, run from the guest's words
(crypto_native.py), or x360k's own (crypto_hashes.py) where OpenSSL's
cannot load: the guest memory they leave is the same. The one-shot exports use
the ``cryptography`` package. Every input is read before anything is
written, so a bad pointer fails the call with STATUS_ACCESS_VIOLATION and
leaves the state and the output as they were. An output shorter than the
digest gets the digest's first bytes; a null input or a zero size is
skipped, as canary skips it.

The console's keys are secret: XeKeysHmacSha knows only key 0x19 (the
retail key canary carries) and fails any other with STATUS_UNSUCCESSFUL,
and an "obscured" key is one encrypted under an all-zero key, canary's
stand-in for the console's per-box obfuscation key (docs/hardware.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from x360k.exports import crypto_hashes as H
from x360k.exports.crypto_ciphers import deobscure
from x360k.exports.crypto_native import backend
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import STATUS_INVALID_PARAMETER, STATUS_SUCCESS, STATUS_UNSUCCESSFUL

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread

GROUP = ExportGroup("crypto")

#: The one console key canary knows: retail key 0x19 (XeKeysHmacSha).
RETAIL_KEY_19: Final = bytes.fromhex("E1BC159C73B1EAE9AB3170F3AD47EBF3")
#: What XeKeysGetConsoleType reports (0 and 1 are development kits).
CONSOLE_TYPE_RETAIL: Final = 2


@dataclass(frozen=True, slots=True)
class StateLayout:
    """Where a running hash keeps its byte count, chaining words and partial block."""

    algorithm: H.HashAlgorithm
    count_size: int  # 4 or 8 bytes at offset 0
    state_offset: int
    word_size: int
    words: int
    buffer_offset: int
    size: int  # the whole structure

    def read(self, mem: GuestMemory, ptr: int) -> tuple[int, H.Words, bytes]:
        """(byte count, chaining words, buffered bytes) from a guest state."""
        raw = mem.read_bytes(ptr, self.size)
        count = int.from_bytes(raw[: self.count_size], "big")
        fmt = f">{self.words}{'I' if self.word_size == 4 else 'Q'}"
        words = struct.unpack_from(fmt, raw, self.state_offset)
        pending = count % self.algorithm.block_size
        return count, words, raw[self.buffer_offset : self.buffer_offset + pending]

    def write(self, mem: GuestMemory, ptr: int, count: int, words: H.Words, pending: bytes) -> None:
        """Store the count, the words and the buffered bytes (later buffer bytes are left)."""
        mem.write_bytes(
            ptr, (count % (1 << (8 * self.count_size))).to_bytes(self.count_size, "big")
        )
        self.write_words(mem, ptr, words)
        mem.write_bytes(ptr + self.buffer_offset, pending)

    def write_words(self, mem: GuestMemory, ptr: int, words: H.Words) -> None:
        fmt = f">{self.words}{'I' if self.word_size == 4 else 'Q'}"
        mem.write_bytes(ptr + self.state_offset, struct.pack(fmt, *words))


SHA1_STATE: Final = StateLayout(H.SHA1, 4, 0x04, 4, 5, 0x18, 0x58)
SHA256_STATE: Final = StateLayout(H.SHA256, 4, 0x04, 4, 8, 0x24, 0x64)
SHA512_STATE: Final = StateLayout(H.SHA512, 8, 0x08, 8, 8, 0x48, 0xC8)
MD5_STATE: Final = StateLayout(H.MD5, 8, 0x08, 4, 4, 0x18, 0x58)


def _init(k: KernelState, ptr: int, layout: StateLayout, iv: H.Words) -> int:
    mem = k.memory
    mem.require(ptr, layout.size)
    mem.fill(ptr, layout.size)
    layout.write_words(mem, ptr, iv)
    return 0


def _update(k: KernelState, ptr: int, data_ptr: int, size: int, layout: StateLayout) -> int:
    mem = k.memory
    count, words, pending = layout.read(mem, ptr)
    data = mem.read_bytes(data_ptr, size)
    blocks = backend(k).blocks[layout.algorithm.name]
    words, pending = H.absorb(layout.algorithm, words, pending, data, blocks)
    layout.write(mem, ptr, count + size, words, pending)
    return 0


def _write_digest(k: KernelState, out: int, out_size: int, digest: bytes) -> None:
    n = min(len(digest), out_size)
    if n:
        k.memory.write_bytes(out, digest[:n])


def _require_out(k: KernelState, out: int, out_size: int, digest_size: int) -> None:
    n = min(digest_size, out_size)
    if n:
        k.memory.require(out, n)


def _final(
    k: KernelState, ptr: int, out: int, out_size: int, layout: StateLayout, keep: bool
) -> int:
    """Finish a running hash: the digest to ``out``; ``keep`` stores the final words in the
    state (SHA-1), otherwise the digest lands at the start of the state's buffer (canary)."""
    mem = k.memory
    count, words, pending = layout.read(mem, ptr)
    blocks = backend(k).blocks[layout.algorithm.name]
    digest, final_words = H.finish(layout.algorithm, words, pending, count, blocks)
    _require_out(k, out, out_size, len(digest))
    _write_digest(k, out, out_size, digest)
    if keep:
        layout.write_words(mem, ptr, final_words)
    else:
        mem.write_bytes(ptr + layout.buffer_offset, digest)
    return 0


def _inputs(k: KernelState, *pairs: int) -> list[bytes]:
    """The (pointer, size) inputs of a one-shot hash, each read whole; null or empty skipped."""
    mem = k.memory
    it = iter(pairs)
    return [mem.read_bytes(p, n) for p, n in zip(it, it, strict=True) if p and n]


def _one_shot(algorithm: hashes.HashAlgorithm, parts: list[bytes]) -> bytes:
    h = hashes.Hash(algorithm)
    for part in parts:
        h.update(part)
    return h.finalize()


def hmac_sha1(key: bytes, parts: list[bytes]) -> bytes:
    """HMAC-SHA1 (a key over 64 bytes is hashed first, as RFC 2104 says)."""
    mac = crypto_hmac.HMAC(key, hashes.SHA1())
    for part in parts:
        mac.update(part)
    return mac.finalize()


#: The parameters every running hash's Update and Final take.
_UPDATE: Final = (Param("state", K.PTR), Param("input", K.BUFFER), Param("size", K.U32))
_FINAL: Final = (Param("state", K.PTR), Param("output", K.BUFFER), Param("size", K.U32))


# -- SHA-1 --------------------------------------------------------------------------------------


@GROUP.export("XeCryptShaInit", 0x18F, Param("state", K.PTR), returns=Returns.VOID)
def xe_crypt_sha_init(k: KernelState, t: Thread, state: int) -> int:
    """Zero the 0x58-byte XECRYPT_SHA_STATE and set SHA-1's initial words."""
    return _init(k, state, SHA1_STATE, H.SHA1_IV)


@GROUP.export(
    "XeCryptShaUpdate",
    0x190,
    *_UPDATE,
    returns=Returns.VOID,
)
def xe_crypt_sha_update(k: KernelState, t: Thread, state: int, data: int, size: int) -> int:
    """Hash ``size`` more bytes into the guest state."""
    return _update(k, state, data, size, SHA1_STATE)


@GROUP.export(
    "XeCryptShaFinal",
    0x191,
    *_FINAL,
    returns=Returns.VOID,
)
def xe_crypt_sha_final(k: KernelState, t: Thread, state: int, out: int, size: int) -> int:
    """Write the digest's first min(20, size) bytes; the state's words become the digest."""
    return _final(k, state, out, size, SHA1_STATE, keep=True)


def _sha_like_params() -> tuple[Param, ...]:
    return (
        Param("input1", K.BUFFER),
        Param("size1", K.U32),
        Param("input2", K.BUFFER),
        Param("size2", K.U32),
        Param("input3", K.BUFFER),
        Param("size3", K.U32),
        Param("output", K.BUFFER),
        Param("output_size", K.U32),
    )


@GROUP.export("XeCryptSha", 0x192, *_sha_like_params(), returns=Returns.VOID)
def xe_crypt_sha(
    k: KernelState,
    t: Thread,
    a: int,
    an: int,
    b: int,
    bn: int,
    c: int,
    cn: int,
    out: int,
    size: int,
) -> int:
    """SHA-1 of up to three concatenated inputs."""
    parts = _inputs(k, a, an, b, bn, c, cn)
    _require_out(k, out, size, 20)
    _write_digest(k, out, size, _one_shot(hashes.SHA1(), parts))
    return 0


# -- MD5 ----------------------------------------------------------------------------------------


@GROUP.export("XeCryptMd5Init", 0x184, Param("state", K.PTR), returns=Returns.VOID)
def xe_crypt_md5_init(k: KernelState, t: Thread, state: int) -> int:
    """Zero the 0x58-byte state (u64 count, 4 words, 64-byte buffer) and set MD5's words."""
    return _init(k, state, MD5_STATE, H.MD5_IV_REVERSED)


@GROUP.export(
    "XeCryptMd5Update",
    0x185,
    *_UPDATE,
    returns=Returns.VOID,
)
def xe_crypt_md5_update(k: KernelState, t: Thread, state: int, data: int, size: int) -> int:
    """Hash ``size`` more bytes into the guest state."""
    return _update(k, state, data, size, MD5_STATE)


@GROUP.export(
    "XeCryptMd5Final",
    0x186,
    *_FINAL,
    returns=Returns.VOID,
)
def xe_crypt_md5_final(k: KernelState, t: Thread, state: int, out: int, size: int) -> int:
    """Write the digest's first min(16, size) bytes; the digest also lands in the state's buffer."""
    return _final(k, state, out, size, MD5_STATE, keep=False)


@GROUP.export("XeCryptMd5", 0x187, *_sha_like_params(), returns=Returns.VOID)
def xe_crypt_md5(
    k: KernelState,
    t: Thread,
    a: int,
    an: int,
    b: int,
    bn: int,
    c: int,
    cn: int,
    out: int,
    size: int,
) -> int:
    """MD5 of up to three concatenated inputs."""
    parts = _inputs(k, a, an, b, bn, c, cn)
    _require_out(k, out, size, 16)
    _write_digest(k, out, size, _one_shot(hashes.MD5(), parts))
    return 0


# -- SHA-256 and SHA-512 ------------------------------------------------------------------------


@GROUP.export("XeCryptSha256Init", 0x310, Param("state", K.PTR), returns=Returns.VOID)
def xe_crypt_sha256_init(k: KernelState, t: Thread, state: int) -> int:
    """Zero the 0x64-byte state (u32 count, 8 words, 64-byte buffer) and set SHA-256's words."""
    return _init(k, state, SHA256_STATE, H.SHA256_IV)


@GROUP.export(
    "XeCryptSha256Update",
    0x311,
    *_UPDATE,
    returns=Returns.VOID,
)
def xe_crypt_sha256_update(k: KernelState, t: Thread, state: int, data: int, size: int) -> int:
    """Hash ``size`` more bytes into the guest state."""
    return _update(k, state, data, size, SHA256_STATE)


@GROUP.export(
    "XeCryptSha256Final",
    0x312,
    *_FINAL,
    returns=Returns.VOID,
)
def xe_crypt_sha256_final(k: KernelState, t: Thread, state: int, out: int, size: int) -> int:
    """Write the digest's first min(32, size) bytes; the digest also lands in the state's buffer."""
    return _final(k, state, out, size, SHA256_STATE, keep=False)


@GROUP.export("XeCryptSha512Init", 0x31F, Param("state", K.PTR), returns=Returns.VOID)
def xe_crypt_sha512_init(k: KernelState, t: Thread, state: int) -> int:
    """Zero the 0xC8-byte state (u64 count, 8 u64 words, 128-byte buffer), set SHA-512's words."""
    return _init(k, state, SHA512_STATE, H.SHA512_IV)


@GROUP.export(
    "XeCryptSha512Update",
    0x323,
    *_UPDATE,
    returns=Returns.VOID,
)
def xe_crypt_sha512_update(k: KernelState, t: Thread, state: int, data: int, size: int) -> int:
    """Hash ``size`` more bytes into the guest state."""
    return _update(k, state, data, size, SHA512_STATE)


@GROUP.export(
    "XeCryptSha512Final",
    0x324,
    *_FINAL,
    returns=Returns.VOID,
)
def xe_crypt_sha512_final(k: KernelState, t: Thread, state: int, out: int, size: int) -> int:
    """Write the SHA-512 digest's first min(64, size) bytes.

    Canary reads the state with SHA-256's layout (``sha512_final_reads_sha256_layout``):
    a u32 count at 0, eight u32 words from 4 (widened to 64 bits), a 64-byte
    buffer at 0x24, and writes the digest there; its answer is not the
    message's SHA-512. The console finishes the state Update left.
    """
    if not k.quirks.sha512_final_reads_sha256_layout:
        mem = k.memory
        count, words, pending = SHA512_STATE.read(mem, state)
        digest, _ = H.finish(H.SHA512, words, pending, count, backend(k).blocks["sha512"])
        _require_out(k, out, size, 64)
        _write_digest(k, out, size, digest)
        return 0
    mem = k.memory
    raw = mem.read_bytes(state, SHA256_STATE.size)
    count = int.from_bytes(raw[:4], "big")
    words = struct.unpack_from(">8I", raw, 4)
    block = raw[0x24:0x64] + bytes(64)  # canary's 128-byte buffer: 64 guest bytes, then zeros
    digest, _ = H.finish(H.SHA512, words, block[: count % 128], count, backend(k).blocks["sha512"])
    _require_out(k, out, size, 64)
    _write_digest(k, out, size, digest)
    mem.write_bytes(state + 0x24, digest)
    return 0


# -- HMAC and keys ------------------------------------------------------------------------------


@GROUP.export(
    "XeCryptHmacSha",
    0x182,
    Param("key", K.BUFFER),
    Param("key_size", K.U32),
    *_sha_like_params(),
    returns=Returns.VOID,
)
def xe_crypt_hmac_sha(
    k: KernelState,
    t: Thread,
    key: int,
    key_size: int,
    a: int,
    an: int,
    b: int,
    bn: int,
    c: int,
    cn: int,
    out: int,
    size: int,
) -> int:
    """HMAC-SHA1 of up to three concatenated inputs under the key."""
    key_bytes = k.memory.read_bytes(key, key_size)
    parts = _inputs(k, a, an, b, bn, c, cn)
    _require_out(k, out, size, 20)
    _write_digest(k, out, size, hmac_sha1(key_bytes, parts))
    return 0


@GROUP.export("XeKeysHmacSha", 0x249, Param("key_number", K.U32), *_sha_like_params())
def xe_keys_hmac_sha(
    k: KernelState,
    t: Thread,
    key_number: int,
    a: int,
    an: int,
    b: int,
    bn: int,
    c: int,
    cn: int,
    out: int,
    size: int,
) -> int:
    """HMAC-SHA1 under console key ``key_number``: only 0x19 is known, any other fails."""
    if key_number != 0x19:
        return STATUS_UNSUCCESSFUL
    parts = _inputs(k, a, an, b, bn, c, cn)
    _require_out(k, out, size, 20)
    _write_digest(k, out, size, hmac_sha1(RETAIL_KEY_19, parts))
    return STATUS_SUCCESS


@GROUP.export("XeKeysHmacShaUsingKey", 0x24F, Param("obscured_key", K.BUFFER), *_sha_like_params())
def xe_keys_hmac_sha_using_key(
    k: KernelState,
    t: Thread,
    obscured: int,
    a: int,
    an: int,
    b: int,
    bn: int,
    c: int,
    cn: int,
    out: int,
    size: int,
) -> int:
    """HMAC-SHA1 under a key obscured by XeKeysObscureKey; a null key is invalid."""
    if not obscured:
        return STATUS_INVALID_PARAMETER
    key = deobscure(k.memory.read_bytes(obscured, 16))
    parts = _inputs(k, a, an, b, bn, c, cn)
    _require_out(k, out, size, 20)
    _write_digest(k, out, size, hmac_sha1(key, parts))
    return STATUS_SUCCESS


@GROUP.export("XeKeysGetConsoleType", 0x247, Param("type", K.OUT_U32))
def xe_keys_get_console_type(k: KernelState, t: Thread, out: int) -> int:
    """A retail console (2)."""
    k.memory.write_u32(out, CONSOLE_TYPE_RETAIL)
    return STATUS_SUCCESS
