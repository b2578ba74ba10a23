"""Loading a 32 MiB LZX XEX2: read, AES-decrypt, de-block, LZX-decode and map, in MB/s.

The baseline is ``zlib.decompress`` of the same 32 MiB image (compressed by
zlib at level 6) in the same run: inflate is C, the LZX decoder pure Python,
so the ratio says how far the Python decoder is from a C one. The image is
PE headers then a 32 KiB code-like frame repeated (matches kept inside each
frame so the test encoder writes the frame once); the decoder does the full
work for every frame. Figures: MB of image per second (MiB/s, 2**20 bytes).
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable

from x360k.memory import GuestMemory
from x360k.xex.lzx import BLOCK_ALIGNED, BLOCK_VERBATIM
from x360k.xex.reader import read_xex
from x360k.xex.writer import XexSpec, build_xex, pe_headers

SIZE = 32 * 1024 * 1024
BASE = 0x82000000


def _frame(seed: int = 7) -> bytes:
    """32 KiB that look like PowerPC code and data: repeated words with varied fields."""
    rnd = random.Random(seed)
    opcodes = [0x38600000, 0x7C0802A6, 0x4E800020, 0x81610000, 0x91610000, 0x48000001]
    out = bytearray()
    while len(out) < 32768:
        if rnd.random() < 0.8:
            out += (rnd.choice(opcodes) | rnd.randrange(0, 64) * 4).to_bytes(4, "big")
        else:
            out += rnd.randbytes(4)
    return bytes(out[:32768])


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (the CPU figure survives a loaded machine better)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    frame = _frame()
    image = bytearray(frame * (SIZE // len(frame)))
    headers = pe_headers(BASE, BASE + 0x1000, SIZE, [(".text", BASE + 0x1000, SIZE - 0x1000,
                                                       0x60000020)])  # fmt: skip
    image[: len(headers)] = headers
    image[len(headers) : 0x1000] = bytes(0x1000 - len(headers))
    spec = XexSpec(bytes(image), BASE, BASE + 0x1000, compression="lzx", encryption="retail",
                   lzx_block_types=(BLOCK_VERBATIM, BLOCK_ALIGNED), lzx_cross_frame=False,
                   pages=[(1, SIZE // 0x10000)])  # fmt: skip
    t0 = time.perf_counter()
    xex = build_xex(spec)
    built = time.perf_counter() - t0
    deflated = zlib.compress(bytes(image), 6)
    mib = SIZE / 2**20

    def load() -> None:
        f = read_xex(xex)
        memory = GuestMemory()
        region = memory.map(f.base, len(f.image), "image")
        region.data[:] = f.image

    loaded = read_xex(xex)
    assert loaded.image == image, "LZX round trip differs"
    t_load, c_load = _best(load, 2)
    t_zlib, c_zlib = _best(lambda: zlib.decompress(deflated), 5)
    sizes = f"XEX {len(xex) / 2**20:.2f} MiB (LZX), zlib {len(deflated) / 2**20:.2f} MiB"
    print(f"   image {mib:.0f} MiB, {sizes}; XEX built in {built:.1f} s")
    print(f"   load (AES + de-block + LZX + map): {mib / t_load:6.1f} MiB/s wall, "
          f"{mib / c_load:6.1f} MiB/s CPU  ({t_load:.2f} s)")  # fmt: skip
    print(f"   zlib inflate of the same image:    {mib / t_zlib:6.1f} MiB/s wall, "
          f"{mib / c_zlib:6.1f} MiB/s CPU  ({t_zlib:.3f} s)")  # fmt: skip
    print(f"   ratio load / inflate: {t_zlib / t_load:.4f} wall, {c_zlib / c_load:.4f} CPU")
