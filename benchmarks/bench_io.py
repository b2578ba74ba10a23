"""File I/O through the kernel: sequential NtReadFile throughput and open/close latency.

Baselines measured in the same run on the same host file: plain Python reads
of the same 64 KiB blocks (``os.preadv`` into one reused buffer, the same
system call the kernel path makes; ``os.pread`` plus a copy into a
``bytearray``, whose speed swings with the allocator's state because every
block is a fresh 64 KiB ``bytes``; unbuffered ``readinto``) and ``os.open`` +
``os.close`` of the same file. The kernel path adds the export call, the
IO_STATUS_BLOCK and the sandbox's checks; opens are timed with the path spelt
as on the host and in other letter case (which needs the directories'
case-folded names).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from x360k import vfs
from x360k.kernel import Kernel

BLOCK = 64 * 1024
FILE_SIZE = 64 * 1024 * 1024
OPENS = 2_000


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        title = Path(tmp) / "title"
        (title / "data").mkdir(parents=True)
        target = title / "data" / "big.bin"
        target.write_bytes(os.urandom(FILE_SIZE))
        k = Kernel()
        vfs.mount(k, title)
        mem = k.memory
        out, iosb, buf = mem.alloc(4), mem.alloc(8), mem.alloc(BLOCK, 64)
        attrs = mem.new_object_attributes(b"game:\\data\\big.bin")
        status = k.call("NtCreateFile", out, 0x80000000, attrs, iosb, 0, 0, 1, 1, 0x20)
        assert status == 0, hex(status)
        handle = mem.read_u32(out)
        offset = mem.alloc(8, 8)
        call = k.call
        blocks = FILE_SIZE // BLOCK

        def kernel_read() -> None:
            mem.write_s64(offset, 0)
            call("NtReadFile", handle, 0, 0, 0, iosb, buf, BLOCK, offset)
            for _ in range(blocks - 1):
                call("NtReadFile", handle, 0, 0, 0, iosb, buf, BLOCK, 0)

        fd = os.open(target, os.O_RDONLY)
        sink = bytearray(BLOCK)

        def plain_pread() -> None:
            for i in range(blocks):
                sink[:] = os.pread(fd, BLOCK, i * BLOCK)

        def plain_preadv() -> None:
            views = (memoryview(sink),)
            for i in range(blocks):
                os.preadv(fd, views, i * BLOCK)

        def plain_readinto() -> None:
            view = memoryview(sink)
            with open(target, "rb", buffering=0) as f:
                while f.readinto(view):
                    pass

        kernel_read()  # warm the page cache and the code paths
        t_kernel = _best(kernel_read)
        t_pread = _best(plain_pread)
        t_preadv = _best(plain_preadv)
        t_readinto = _best(plain_readinto)
        assert mem.read_bytes(buf, 16) == target.read_bytes()[FILE_SIZE - BLOCK :][:16]
        mb = FILE_SIZE / 1e6
        print(f"sequential 64 KiB reads of a {FILE_SIZE >> 20} MiB file (best of 3):")
        print(f"  NtReadFile through the kernel : {mb / t_kernel:8.0f} MB/s")
        print(f"  os.preadv into one buffer     : {mb / t_preadv:8.0f} MB/s")
        print(f"  os.pread + copy               : {mb / t_pread:8.0f} MB/s")
        print(f"  readinto, unbuffered          : {mb / t_readinto:8.0f} MB/s")
        print(f"  kernel / preadv ratio         : {t_preadv / t_kernel:8.2f}")
        print(f"  kernel / pread ratio          : {t_pread / t_kernel:8.2f}")
        print(f"  kernel / readinto ratio       : {t_readinto / t_kernel:8.2f}")

        def kernel_open_close(where: int) -> Callable[[], None]:
            def loop() -> None:
                for _ in range(OPENS):
                    call("NtCreateFile", out, 0x80000000, where, iosb, 0, 0, 1, 1, 0x20)
                    call("NtClose", mem.read_u32(out))

            return loop

        def plain_open_close() -> None:
            for _ in range(OPENS):
                os.close(os.open(target, os.O_RDONLY))

        folded = mem.new_object_attributes(b"GAME:\\Data\\Big.BIN")
        status = call("NtCreateFile", out, 0x80000000, folded, iosb, 0, 0, 1, 1, 0x20)
        assert status == 0, hex(status)
        call("NtClose", mem.read_u32(out))
        t_open = _best(kernel_open_close(attrs)) / OPENS * 1e6
        t_folded = _best(kernel_open_close(folded)) / OPENS * 1e6
        t_plain = _best(plain_open_close) / OPENS * 1e6
        print(f"open + close of an existing file ({OPENS} pairs, best of 3):")
        print(f"  NtCreateFile + NtClose, game:\\data\\big.bin : {t_open:8.1f} us")
        print(f"  same, spelt GAME:\\Data\\Big.BIN         : {t_folded:8.1f} us")
        print(f"  os.open + os.close (baseline)              : {t_plain:8.1f} us")
        print(f"  ratio, exact spelling                      : {t_open / t_plain:8.1f}x")
        print(f"  ratio, other case                          : {t_folded / t_plain:8.1f}x")
        os.close(fd)


if __name__ == "__main__":
    main()
