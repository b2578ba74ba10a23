"""RtlInitAnsiString through Kernel.call, as a ratio to NtSetEvent measured in the same run.

A title initialises a STRING for every path it opens; the call is a bounded
NUL scan and one 8-byte record write, so it should cost about what the
cheapest kernel call costs.
"""

from __future__ import annotations

from benchmarks.bench_kernel import _per_call_us
from x360k.kernel import Kernel


def main() -> None:
    k = Kernel()
    out = k.memory.alloc(4)
    k.call("NtCreateEvent", out, 0, 1, 0)
    ev = k.memory.read_u32(out)
    dest = k.memory.alloc(8, 4)
    source = k.memory.alloc(64, 1)
    k.memory.write_bytes(source, b"game:\\media\\levels\\level01.bin\0")
    call = k.call
    set_event = _per_call_us(lambda: call("NtSetEvent", ev, 0))
    init = _per_call_us(lambda: call("RtlInitAnsiString", dest, source))
    print(f"   baseline: NtSetEvent through Kernel.call {set_event:7.3f} us")
    print(f"   RtlInitAnsiString (31-byte path)        {init:7.3f} us  {init / set_event:5.2f}x")


if __name__ == "__main__":
    main()
