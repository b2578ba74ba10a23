"""IRQL and spin locks: the PCR's IRQL byte and the lock word, as guest code sees them."""

from __future__ import annotations

import pytest

from x360k.native.spinlock import PCR_IRQL
from x360k.quirks import PROFILES, Profile

from ..threadkit import Prog, World


@pytest.mark.parametrize("profile", PROFILES)
def test_acquire_release_and_irql_bytes(profile: Profile) -> None:
    w = World(profile)
    t = w.k.main_thread
    lock = w.m.alloc(4, 4)
    assert w.k.call("KfAcquireSpinLock", lock) == 0
    assert w.m.read_u32(lock) == t.pcr and w.m.read_u8(t.pcr + PCR_IRQL) == 2
    assert w.k.call("KeTryToAcquireSpinLockAtRaisedIrql", lock) == 0
    w.k.call("KfReleaseSpinLock", lock, 0)
    assert w.m.read_u32(lock) == 0 and w.m.read_u8(t.pcr + PCR_IRQL) == 0
    assert w.k.call("KeRaiseIrqlToDpcLevel") == 0
    assert w.k.call("KfRaiseIrql", 5) == 2
    w.k.call("KfReleaseSpinLock", lock, 2)  # old IRQL >= DISPATCH_LEVEL: IRQL untouched
    assert w.m.read_u8(t.pcr + PCR_IRQL) == 5
    w.k.call("KfLowerIrql", 1)
    assert w.m.read_u8(t.pcr + PCR_IRQL) == 1
    w.k.call("KeAcquireSpinLockAtRaisedIrql", lock)
    assert w.m.read_u32(lock) == t.pcr and w.m.read_u8(t.pcr + PCR_IRQL) == 1
    w.k.call("KeReleaseSpinLockFromRaisedIrql", lock)
    assert w.m.read_u32(lock) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_contended_lock_is_handed_over_on_release(profile: Profile) -> None:
    w = World(profile)
    lock = w.m.alloc(4, 4)

    def holder() -> Prog:
        old = yield ("KfAcquireSpinLock", (lock,))
        while not other.wait:
            yield ("KeDelayExecutionThread", (1, 0, w.li(-10_000)))
        w.log.append("release")
        yield ("KfReleaseSpinLock", (lock, old))
        return 0

    def contender() -> Prog:
        old = yield ("KfAcquireSpinLock", (lock,))
        w.log.append(("got", old, w.m.read_u32(lock) == other.pcr))
        yield ("KfReleaseSpinLock", (lock, old))
        return 0

    w.main(holder())
    other = w.spawn(contender())
    assert w.run().outcome == "finished"
    assert w.log == ["release", ("got", 0, True)]
    assert w.m.read_u32(lock) == 0


def test_lock_never_released_is_a_wedge_naming_the_word() -> None:
    w = World("console")
    lock = w.m.alloc(4, 4)
    w.m.write_u32(lock, 0x12345678)

    def main() -> Prog:
        yield ("KfAcquireSpinLock", (lock,))
        return 0

    w.main(main())
    result = w.run()
    assert result.outcome == "wedge"
    assert f"spin lock word at 0x{lock:08X}, held by PCR 0x12345678" in result.wedge.render_text()
