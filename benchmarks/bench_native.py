"""Microseconds per uncontended critical-section pair and per KeSetEvent on a bridged event.

Each figure is measured two ways: through ``Kernel.call`` (the guest calling
convention, dispatch and trace bookkeeping, tracing off) and by calling the
export handler directly (the native-object work alone). Baselines measured in
the same run: NtSetEvent through ``Kernel.call`` and directly, so the ratios
say what the bridge and the critical-section rules add. Target: under 2 us
for the enter + leave pair's own work.
"""

from __future__ import annotations

from benchmarks.bench_kernel import _per_call_us
from x360k.kernel import Kernel
from x360k.native import header as H


def _measure(profile: str) -> dict[str, float]:
    k = Kernel(profile)  # type: ignore[arg-type]
    t = k.main_thread
    mem = k.memory
    out = mem.alloc(4)
    k.call("NtCreateEvent", out, 0, 1, 0)
    handle = mem.read_u32(out)
    cs = mem.alloc(28, 8)
    k.call("RtlInitializeCriticalSection", cs)
    ev = mem.alloc(16, 8)
    mem.write_u8(ev + H.TYPE, H.GuestType.SYNCHRONIZATION_EVENT)
    k.call("KeSetEvent", ev, 0, 0)  # bridge it before timing
    call = k.call
    handler = {
        name: k.exports.get(name).handler
        for name in (
            "NtSetEvent",
            "KeSetEvent",
            "RtlEnterCriticalSection",
            "RtlLeaveCriticalSection",
        )
    }
    nt_set, ke_set = handler["NtSetEvent"], handler["KeSetEvent"]
    enter, leave = handler["RtlEnterCriticalSection"], handler["RtlLeaveCriticalSection"]

    def cs_pair_call() -> None:
        call("RtlEnterCriticalSection", cs)
        call("RtlLeaveCriticalSection", cs)

    def cs_pair_direct() -> None:
        enter(k, t, cs)
        leave(k, t, cs)

    return {
        "NtSetEvent, Kernel.call (baseline)": _per_call_us(lambda: call("NtSetEvent", handle, 0)),
        "NtSetEvent, handler (baseline)": _per_call_us(lambda: nt_set(k, t, handle, 0)),
        "KeSetEvent on a bridged event, Kernel.call": _per_call_us(
            lambda: call("KeSetEvent", ev, 0, 0)
        ),
        "KeSetEvent on a bridged event, handler": _per_call_us(lambda: ke_set(k, t, ev, 0, 0)),
        "RtlEnter+RtlLeaveCriticalSection pair, Kernel.call": _per_call_us(cs_pair_call),
        "RtlEnter+RtlLeaveCriticalSection pair, handlers": _per_call_us(cs_pair_direct),
    }


def main() -> None:
    for profile in ("canary", "console"):
        figures = _measure(profile)
        via_call = figures["NtSetEvent, Kernel.call (baseline)"]
        direct = figures["NtSetEvent, handler (baseline)"]
        print(f"profile {profile}:")
        for name, us in figures.items():
            base = via_call if "Kernel.call" in name else direct
            print(f"  {name:<55} {us:6.2f} us  ({us / base:4.2f}x NtSetEvent the same way)")


if __name__ == "__main__":
    main()
