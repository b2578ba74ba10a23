"""The memory manager: allocate/free pairs per call, and host memory after a big release.

1. NtAllocateVirtualMemory + NtFreeVirtualMemory pairs (64 KiB, commit then
   release) through ``Kernel.call``, as a ratio to NtSetEvent in the same run.
   A title's allocator calls them in bursts; each pair maps and unmaps backing.
2. Resident memory of this process after committing 400 MiB of guest memory
   in 64 KiB pages and writing every byte, then after releasing it all: the
   sparse 4 GiB space must give the host memory back, not keep it.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.bench_kernel import _per_call_us
from x360k.heaps import (
    MEM_COMMIT,
    MEM_LARGE_PAGES,
    MEM_RELEASE,
    MEM_RESERVE,
)
from x360k.kernel import Kernel

PAIRS = 5_000
PAGE = 0x10000
TOTAL = 400 * 1024 * 1024


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def _pairs_us(k: Kernel) -> float:
    mem = k.memory
    base_ptr, size_ptr = mem.alloc(4, 4), mem.alloc(4, 4)
    call = k.call
    kind = MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES

    def pair() -> None:
        mem.write_u32(base_ptr, 0)
        mem.write_u32(size_ptr, PAGE)
        call("NtAllocateVirtualMemory", base_ptr, size_ptr, kind, 4, 0)
        mem.write_u32(size_ptr, 0)
        call("NtFreeVirtualMemory", base_ptr, size_ptr, MEM_RELEASE, 0)

    return _per_call_us(pair, PAIRS)


def _rss_after_release(profile: str) -> tuple[float, float, float]:
    k = Kernel(profile)  # type: ignore[arg-type]
    mem = k.memory
    base_ptr, size_ptr = mem.alloc(4, 4), mem.alloc(4, 4)
    start = _rss_mib()
    bases = []
    page = b"\xa5" * PAGE
    for _ in range(TOTAL // PAGE):
        mem.write_u32(base_ptr, 0)
        mem.write_u32(size_ptr, PAGE)
        status = k.call(
            "NtAllocateVirtualMemory",
            base_ptr,
            size_ptr,
            MEM_RESERVE | MEM_COMMIT | MEM_LARGE_PAGES,
            4,
            0,
        )
        assert status == 0, hex(status)
        base = mem.read_u32(base_ptr)
        mem.write_bytes(base, page)
        bases.append(base)
    committed = _rss_mib()
    for base in bases:
        mem.write_u32(base_ptr, base)
        mem.write_u32(size_ptr, 0)
        assert k.call("NtFreeVirtualMemory", base_ptr, size_ptr, MEM_RELEASE, 0) == 0
    released = _rss_mib()
    return start, committed, released


def main() -> None:
    k = Kernel()
    out = k.memory.alloc(4)
    k.call("NtCreateEvent", out, 0, 1, 0)
    ev = k.memory.read_u32(out)
    call = k.call
    set_event = _per_call_us(lambda: call("NtSetEvent", ev, 0), PAIRS)
    pair = _pairs_us(k)
    print(f"   baseline: NtSetEvent through Kernel.call           {set_event:8.3f} us")
    ratio = pair / set_event
    print(f"   NtAllocateVirtualMemory + NtFreeVirtualMemory (64K) {pair:8.3f} us  {ratio:6.1f}x")
    for profile in ("canary", "console"):
        start, committed, released = _rss_after_release(profile)
        grown, kept = committed - start, released - start
        print(
            f"   {profile:7} RSS: start {start:4.0f} MiB, 400 MiB committed+written "
            f"{committed:4.0f} MiB (+{grown:.0f}), released {released:4.0f} MiB "
            f"(+{kept:.0f}, {kept / grown:5.1%} kept)"
        )


if __name__ == "__main__":
    main()
