"""Named objects: create + close and open by name, canary's flat table against the console's tree.

The baseline, measured in the same run and profile, is an unnamed
NtCreateEvent + NtClose: the ratio is what resolving and attaching a name
costs on top. Console names are paths (``\\Win32NamedObjects\\...``, given
relative to root 0xFFFFFFFC as titles pass them); canary's are flat strings.
"""

from __future__ import annotations

from benchmarks.bench_kernel import _per_call_us
from x360k.kernel import Kernel
from x360k.object_namespace import NAMED_OBJECTS_ROOT
from x360k.quirks import PROFILES

N = 10_000


def _measure(profile: str) -> dict[str, float]:
    k = Kernel(profile)  # type: ignore[arg-type]
    mem = k.memory
    out = mem.alloc(4)
    call = k.call
    read = mem.read_u32
    named = mem.new_object_attributes("BenchEvent", root=NAMED_OBJECTS_ROOT)
    held = mem.new_object_attributes("BenchHeld", root=NAMED_OBJECTS_ROOT)
    call("NtCreateEvent", out, held, 1, 0)

    def unnamed() -> None:
        call("NtCreateEvent", out, 0, 1, 0)
        call("NtClose", read(out))

    def create_named() -> None:
        call("NtCreateEvent", out, named, 1, 0)
        call("NtClose", read(out))

    def open_named() -> None:
        call("ObOpenObjectByName", held, 0, 0, out)
        call("NtClose", read(out))

    return {
        "unnamed create + close (baseline)": _per_call_us(unnamed, N),
        "named create + close": _per_call_us(create_named, N),
        "ObOpenObjectByName + close": _per_call_us(open_named, N),
    }


def main() -> None:
    results = {profile: _measure(profile) for profile in PROFILES}
    head = f"{'canary us':>10s} {'x base':>7s} {'console us':>11s} {'x base':>7s}"
    print(f"   {'pair of calls':36s} {head}")
    for name in results["canary"]:
        c, s = results["canary"][name], results["console"][name]
        cb = results["canary"]["unnamed create + close (baseline)"]
        sb = results["console"]["unnamed create + close (baseline)"]
        print(f"   {name:36s} {c:10.2f} {c / cb:7.2f} {s:11.2f} {s / sb:7.2f}")
