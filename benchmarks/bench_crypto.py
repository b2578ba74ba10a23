"""XeCrypt through Kernel.call, as ratios to NtSetEvent measured in the same run.

The running hashes and RC4 keep their state in guest memory. Each is timed
twice in this run: on a kernel pinned to the hand-written Python path
(``crypto_native.use_pure``, the reference) and on a default kernel, which
runs OpenSSL's block functions from the chaining words the guest state holds
(crypto_native.py; the pure path if no libcrypto loads). The one-shot
XeCryptSha and XeCryptAesCbc (``cryptography``) show what library speed is.
The buffer is 4 KiB (a save-game block).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from x360k.exports import crypto_native
from x360k.kernel import Kernel

N = 200
N_PURE = 10  # the pure path takes milliseconds per call
SIZE = 4096
#: (export, its init export, state size, backend function) of the calls timed on both paths.
STREAMING = [
    ("XeCryptShaUpdate", "XeCryptShaInit", 0x58, "sha1"),
    ("XeCryptMd5Update", "XeCryptMd5Init", 0x58, "md5"),
    ("XeCryptSha256Update", "XeCryptSha256Init", 0x64, "sha256"),
    ("XeCryptSha512Update", "XeCryptSha512Init", 0xC8, "sha512"),
    ("XeCryptRc4Ecb", "XeCryptRc4Key", 0x102, "rc4"),
]


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def _bind(k: Kernel, name: str, state: int, data: int) -> Callable[[], object]:
    return lambda: k.call(name, state, data, SIZE)


def _streaming(k: Kernel, data: int) -> dict[str, Callable[[], object]]:
    """One closure per streaming export, each on its own freshly set-up state."""
    calls: dict[str, Callable[[], object]] = {}
    for name, init, size, _ in STREAMING:
        state = k.memory.alloc(size, 8)
        if name == "XeCryptRc4Ecb":
            k.call(init, state, data, 16)
        else:
            k.call(init, state)
        calls[name] = _bind(k, name, state, data)
    return calls


def main() -> None:
    k = Kernel()
    pure = Kernel()
    crypto_native.use_pure(pure)
    mem = k.memory
    out = mem.alloc(4)
    k.call("NtCreateEvent", out, 0, 1, 0)
    ev = mem.read_u32(out)
    buffers = []
    for kernel in (k, pure):
        data = kernel.memory.alloc(SIZE, 16)
        kernel.memory.write_bytes(data, bytes(range(256)) * (SIZE // 256))
        buffers.append(data)
    data = buffers[0]
    digest, feed = mem.alloc(64, 8), mem.alloc(16, 16)
    aes_state = mem.alloc(0x160, 8)
    k.call("XeCryptAesKey", aes_state, data)
    call = k.call
    base = _per_call_us(lambda: call("NtSetEvent", ev, 0), 20 * N)
    print(f"   baseline: NtSetEvent through Kernel.call      {base:9.3f} us")
    library: list[tuple[str, Callable[[], object]]] = [
        ("XeCryptSha (one-shot, cryptography)",
         lambda: call("XeCryptSha", data, SIZE, 0, 0, 0, 0, digest, 20)),
        ("XeCryptAesCbc (cryptography)",
         lambda: call("XeCryptAesCbc", aes_state, data, SIZE, data, feed, 1)),
    ]  # fmt: skip
    for label, fn in library:
        cost = _per_call_us(fn, N)
        print(f"   {label:<41} {cost:9.3f} us  {cost / base:8.1f}x  ({SIZE} bytes)")
    native = crypto_native.backend(k).native
    fast_calls, pure_calls = _streaming(k, buffers[0]), _streaming(pure, buffers[1])
    for name, _, _, function in STREAMING:
        slow = _per_call_us(pure_calls[name], N_PURE)
        fast = _per_call_us(fast_calls[name], N)
        path = "OpenSSL" if function in native else "no libcrypto: pure"
        print(f"   {name + ' pure':<41} {slow:9.3f} us  {slow / base:8.1f}x")
        print(
            f"   {name + ' fast':<41} {fast:9.3f} us  {fast / base:8.1f}x"
            f"  ({slow / fast:.0f}x faster, {path})"
        )


if __name__ == "__main__":
    main()
