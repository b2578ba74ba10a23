"""XeCrypt through Kernel.call, as ratios to NtSetEvent measured in the same run.

The running hashes keep their state in guest memory, so their block
function is x360k's own Python (crypto_hashes.py); the one-shot XeCryptSha
runs in ``cryptography``. This shows what that costs on a 4 KiB buffer
(a save-game block), and the RC4 state stepping beside the library's AES.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from x360k.kernel import Kernel

N = 200
SIZE = 4096


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    k = Kernel()
    mem = k.memory
    out = mem.alloc(4)
    k.call("NtCreateEvent", out, 0, 1, 0)
    ev = mem.read_u32(out)
    data = mem.alloc(SIZE, 16)
    mem.write_bytes(data, bytes(range(256)) * (SIZE // 256))
    digest = mem.alloc(64, 8)
    sha_state, rc4_state, aes_state = mem.alloc(0x58, 8), mem.alloc(0x102, 8), mem.alloc(0x160, 8)
    feed = mem.alloc(16, 16)
    k.call("XeCryptShaInit", sha_state)
    k.call("XeCryptRc4Key", rc4_state, data, 16)
    k.call("XeCryptAesKey", aes_state, data)
    call = k.call
    base = _per_call_us(lambda: call("NtSetEvent", ev, 0), 20 * N)
    rows: list[tuple[str, Callable[[], object]]] = [
        ("XeCryptSha (one-shot, cryptography)",
         lambda: call("XeCryptSha", data, SIZE, 0, 0, 0, 0, digest, 20)),
        ("XeCryptShaUpdate (guest state, Python)",
         lambda: call("XeCryptShaUpdate", sha_state, data, SIZE)),
        ("XeCryptRc4Ecb (guest state, Python)",
         lambda: call("XeCryptRc4Ecb", rc4_state, data, SIZE)),
        ("XeCryptAesCbc (cryptography)",
         lambda: call("XeCryptAesCbc", aes_state, data, SIZE, data, feed, 1)),
    ]  # fmt: skip
    print(f"   baseline: NtSetEvent through Kernel.call      {base:9.3f} us")
    for label, fn in rows:
        cost = _per_call_us(fn, N)
        print(f"   {label:<41} {cost:9.3f} us  {cost / base:8.1f}x  ({SIZE} bytes)")


if __name__ == "__main__":
    main()
