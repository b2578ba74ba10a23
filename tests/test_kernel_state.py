"""The Kernel facade offers every member of the protocols its parts and handlers use."""

from __future__ import annotations

import inspect

from x360k.kernel import Kernel
from x360k.kernel_state import KernelParts, KernelState


def _members(proto: type) -> set[str]:
    names = set(getattr(proto, "__annotations__", {}))
    for klass in proto.__mro__:
        if klass is object:
            continue
        names |= {n for n, v in vars(klass).items() if inspect.isfunction(v)}
        names |= set(vars(klass).get("__annotations__", {}))
    return {n for n in names if not n.startswith("_")}


def test_kernel_has_every_member_of_the_handlers_view() -> None:
    k = Kernel()
    missing = sorted(n for n in _members(KernelState) if not hasattr(k, n))
    assert missing == []


def test_kernel_has_every_member_of_the_parts_view() -> None:
    k = Kernel("console")
    members = _members(KernelParts)
    assert {"invoke", "finish_call", "drive_until_unblocked"} <= members
    assert sorted(n for n in members if not hasattr(k, n)) == []


def test_the_facades_operations_act_on_one_shared_state() -> None:
    k = Kernel()
    out = k.memory.alloc(4)
    assert k.call("NtCreateEvent", out, 0, 1, 0) == 0
    handle = k.memory.read_u32(out)
    before = k.calls, k.clock
    assert k.call("NtSetEvent", handle, 0) == 0
    assert k.calls == before[0] + 1 and k.clock > before[1]
    assert k.table.lookup(handle, k.main_thread) is not None
