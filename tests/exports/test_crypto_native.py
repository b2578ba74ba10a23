"""The OpenSSL path for guest-state hashes and RC4 leaves guest memory as the pure one does.

Two kernels run the same random sequence of calls, one pinned to the
hand-written path (``use_pure``), one on its default backend; after every
call the states, outputs and data buffers of both must be the same bytes.
The sequences split messages at random points, copy a state into the other
slot mid-way, poke random bytes of a state as a guest might, and
interleave two states.
"""

from __future__ import annotations

import ctypes.util
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.exports import crypto_native as N
from x360k.exports.crypto import MD5_STATE, SHA1_STATE, SHA256_STATE, SHA512_STATE, StateLayout
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile

from .cryptokit import get, put

#: Whether this machine has a libcrypto at all; if it does, every function must load from it.
HAVE_LIBCRYPTO = ctypes.util.find_library("crypto") is not None
FAMILIES = {
    "XeCryptSha": SHA1_STATE,
    "XeCryptSha256": SHA256_STATE,
    "XeCryptSha512": SHA512_STATE,
    "XeCryptMd5": MD5_STATE,
}


def test_native_backend_loads_every_function_when_libcrypto_is_present() -> None:
    chosen = N.native_backend()
    expected = {"sha1", "sha256", "sha512", "md5", "rc4"} if HAVE_LIBCRYPTO else set()
    assert chosen.native == expected


def test_no_library_means_the_pure_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(N, "_load_library", lambda: None)
    k = Kernel()
    state, out = put(k, bytes(0x58)), put(k, bytes(20))
    k.call("XeCryptShaInit", state)
    k.call("XeCryptShaUpdate", state, put(k, b"abc"), 3)
    k.call("XeCryptShaFinal", state, out, 20)
    assert N.backend(k).native == set()
    assert get(k, out, 20).hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"


def test_a_disagreeing_function_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load-time check drops a native function whose answer differs from the pure one."""
    real_blocks, real_rc4 = N._native_blocks, N._native_rc4

    def off_by_one(lib: ctypes.CDLL, ctx: N._Context) -> N.Blocks:
        run = real_blocks(lib, ctx)
        if ctx.update != "SHA256_Update":
            return run
        return lambda words, data: tuple(w ^ 1 for w in run(words, data))

    def wrong_index(lib: ctypes.CDLL) -> N.Rc4:
        run = real_rc4(lib)

        def step(state: bytearray, data: bytes) -> bytes:
            out = run(state, data)
            state[257] ^= 1
            return out

        return step

    monkeypatch.setattr(N, "_native_blocks", off_by_one)
    monkeypatch.setattr(N, "_native_rc4", wrong_index)
    expected = {"sha1", "sha512", "md5"} if HAVE_LIBCRYPTO else set()
    assert N.native_backend().native == expected


def test_use_pure_pins_the_kernel() -> None:
    k = Kernel()
    N.use_pure(k)
    assert N.backend(k).native == set()
    fresh = Kernel()
    assert N.backend(fresh) is N.backend(fresh)  # loaded once per kernel, kept in k.ext


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["sha1", "sha256", "sha512", "md5"]),
    seed=st.binary(min_size=64, max_size=64),
    blocks=st.integers(0, 6),
    filler=st.binary(min_size=1, max_size=128),
)
def test_block_functions_agree(name: str, seed: bytes, blocks: int, filler: bytes) -> None:
    fast, pure = N.native_backend(), N.pure_backend()
    alg = {"sha1": SHA1_STATE, "sha256": SHA256_STATE, "sha512": SHA512_STATE, "md5": MD5_STATE}[
        name
    ].algorithm
    count = {"sha1": 5, "md5": 4}.get(name, 8)
    width = 8 if name == "sha512" else 4
    words = tuple(int.from_bytes(seed[i * width : (i + 1) * width], "big") for i in range(count))
    data = (filler * (blocks * alg.block_size // len(filler) + 1))[: blocks * alg.block_size]
    assert fast.blocks[name](words, data) == pure.blocks[name](words, data)


# -- export-level identity ----------------------------------------------------------------------

Op = tuple[str, int, bytes, int]  # (kind, slot, data, number)

#: Message chunks up to several blocks long, with bytes that are not all zero (hypothesis
#: shrinks binaries towards zeros, which would hide a wrong block).
_CHUNKS = st.builds(
    lambda size, a, b: bytes((a + b * n + (n >> 5)) & 0xFF for n in range(size)),
    st.integers(0, 700),
    st.integers(0, 255),
    st.integers(1, 255),
)

_OPS = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 1), _CHUNKS, st.just(0)),
    st.tuples(st.just("copy"), st.integers(0, 1), st.just(b""), st.just(0)),
    st.tuples(st.just("poke"), st.integers(0, 1), st.binary(min_size=1, max_size=4),
              st.integers(0, 0xFFFF)),
    st.tuples(st.just("final"), st.integers(0, 1), st.just(b""), st.integers(0, 80)),
    st.tuples(st.just("init"), st.integers(0, 1), st.just(b""), st.just(0)),
)  # fmt: skip


@dataclass
class _Side:
    """One kernel and the guest addresses of its two states and its output buffer."""

    k: Kernel
    states: list[int]
    out: int

    def snapshot(self, size: int) -> bytes:
        return b"".join(get(self.k, s, size) for s in self.states) + get(self.k, self.out, 80)


def _sides(profile: Profile, size: int) -> list[_Side]:
    pure, fast = Kernel(profile), Kernel(profile)
    N.use_pure(pure)
    sides = []
    for k in (pure, fast):
        states = [put(k, b"\xa5" * size), put(k, b"\x5a" * size)]
        sides.append(_Side(k, states, put(k, bytes(80))))
    return sides


def _hash_op(side: _Side, prefix: str, layout: StateLayout, op: Op) -> None:
    kind, slot, data, number = op
    k, state = side.k, side.states[slot]
    if kind == "update":
        k.call(f"{prefix}Update", state, put(k, data), len(data))
    elif kind == "copy":
        k.memory.write_bytes(side.states[1 - slot], get(k, state, layout.size))
    elif kind == "poke":
        k.memory.write_bytes(state + number % (layout.size - len(data) + 1), data)
    elif kind == "final":
        k.call(f"{prefix}Final", state, side.out, number)
    else:
        k.call(f"{prefix}Init", state)


@settings(max_examples=80, deadline=None)
@given(
    prefix=st.sampled_from(sorted(FAMILIES)),
    profile=st.sampled_from(PROFILES),
    ops=st.lists(_OPS, min_size=1, max_size=14),
)
def test_running_hashes_leave_identical_memory(
    prefix: str, profile: Profile, ops: list[Op]
) -> None:
    layout = FAMILIES[prefix]
    sides = _sides(profile, layout.size)
    for side in sides:
        side.k.call(f"{prefix}Init", side.states[0])
        side.k.call(f"{prefix}Init", side.states[1])
    for op in [*ops, ("final", 0, b"", 80), ("final", 1, b"", 80)]:
        for side in sides:
            _hash_op(side, prefix, layout, op)
        assert sides[0].snapshot(layout.size) == sides[1].snapshot(layout.size), op


@pytest.mark.parametrize("prefix", sorted(FAMILIES))
def test_long_stream_identical(prefix: str) -> None:
    """Many whole blocks in one call (the case the fast path exists for), then odd tails."""
    layout = FAMILIES[prefix]
    sides = _sides("canary", layout.size)
    message = bytes((n * 7 + n // 256) & 0xFF for n in range(5000))
    for side in sides:
        k, state = side.k, side.states[0]
        k.call(f"{prefix}Init", state)
        for cut in (4096, 3, 901):
            k.call(f"{prefix}Update", state, put(k, message[:cut]), cut)
        k.call(f"{prefix}Final", state, side.out, 80)
    assert sides[0].snapshot(layout.size) == sides[1].snapshot(layout.size)


_RC4_OPS = st.one_of(
    st.tuples(st.just("ecb"), st.integers(0, 1), _CHUNKS, st.just(0)),
    st.tuples(st.just("copy"), st.integers(0, 1), st.just(b""), st.just(0)),
    st.tuples(st.just("poke"), st.integers(0, 1), st.binary(min_size=1, max_size=3),
              st.integers(0, 0xFFFF)),
    st.tuples(st.just("key"), st.integers(0, 1), st.binary(min_size=16, max_size=40),
              st.integers(0, 40)),
)  # fmt: skip


def _rc4_op(side: _Side, op: Op) -> bytes:
    kind, slot, data, number = op
    k, state = side.k, side.states[slot]
    if kind == "ecb":
        buf = put(k, data)
        k.call("XeCryptRc4Ecb", state, buf, len(data))
        return get(k, buf, len(data))
    if kind == "copy":
        k.memory.write_bytes(side.states[1 - slot], get(k, state, 0x102))
    elif kind == "poke":
        k.memory.write_bytes(state + number % (0x102 - len(data) + 1), data)
    else:
        k.call("XeCryptRc4Key", state, put(k, data), number)
    return b""


@settings(max_examples=80, deadline=None)
@given(profile=st.sampled_from(PROFILES), ops=st.lists(_RC4_OPS, min_size=1, max_size=12))
def test_rc4_leaves_identical_memory(profile: Profile, ops: list[Op]) -> None:
    sides = _sides(profile, 0x102)
    for side in sides:
        for state in side.states:
            side.k.call("XeCryptRc4Key", state, put(side.k, bytes(range(16))), 16)
    for op in [*ops, ("ecb", 0, bytes(300), 0), ("ecb", 1, b"\xff" * 5, 0)]:
        texts = [_rc4_op(side, op) for side in sides]
        assert texts[0] == texts[1], op
        assert sides[0].snapshot(0x102) == sides[1].snapshot(0x102), op
