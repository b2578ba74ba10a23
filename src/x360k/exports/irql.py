"""IRQL and spin-lock exports, with their effects on guest memory.

The current IRQL is the byte at PCR+0x18 (r13 points at the PCR); a spin lock
is a guest word holding the owner's PCR address, 0 when free. A thread that
finds a lock taken waits (see :mod:`x360k.native.spinlock`) instead of
spinning, so a lock that is never released shows up as a wedge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from x360k.exports.apc_dpc import dispatch_pending
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.native.bridge import fail, native_state
from x360k.native.spinlock import DISPATCH_LEVEL, PCR_IRQL, SpinLockWord

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("irql")


def set_irql(k: KernelState, t: Thread, irql: int) -> int:
    """Store a new IRQL in the caller's PCR; returns the previous one."""
    previous = k.memory.read_u8(t.pcr + PCR_IRQL)
    k.memory.write_u8(t.pcr + PCR_IRQL, irql)
    return previous


def acquire(k: KernelState, t: Thread, lock: int, result: int) -> int:
    """Take the lock word now, or wait until a release hands it over; then return ``result``."""
    mem = k.memory
    word = mem.read_u32(lock)
    if word == 0:
        mem.write_u32(lock, t.pcr)
        return result
    if word == t.pcr:
        fail(k, t, lock, "spin lock already held by this thread: it would spin for ever")
    waiter = native_state(k).spinlocks.get(lock)
    if waiter is None:
        waiter = native_state(k).spinlocks[lock] = SpinLockWord(mem, lock)
    return k.wait(
        t,
        [waiter],
        wait_all=False,
        alertable=False,
        deadline=None,
        finish=lambda status: result,
        note=f"spin lock 0x{lock:08X}",
    )


def release(k: KernelState, lock: int) -> None:
    """Free the lock word and hand it to the first waiter, if any."""
    k.memory.write_u32(lock, 0)
    waiter = native_state(k).spinlocks.get(lock)
    if waiter is not None and waiter.waiters:
        k.dispatcher.signal(waiter)


@GROUP.export("KfAcquireSpinLock", 0xB1, Param("lock", K.PTR), returns=Returns.VALUE)
def kf_acquire_spin_lock(k: KernelState, t: Thread, lock: int) -> int:
    """Raise to DISPATCH_LEVEL and take the lock; returns the previous IRQL."""
    k.memory.require(lock, 4)
    return acquire(k, t, lock, set_irql(k, t, DISPATCH_LEVEL))


@GROUP.export(
    "KfReleaseSpinLock",
    0xB4,
    Param("lock", K.PTR),
    Param("old_irql", K.U32),
    returns=Returns.VOID,
)
def kf_release_spin_lock(k: KernelState, t: Thread, lock: int, old_irql: int) -> int:
    """Free the lock and go back to ``old_irql`` (unless that is DISPATCH_LEVEL or above)."""
    k.memory.require(lock, 4)
    release(k, lock)
    if old_irql < DISPATCH_LEVEL:
        set_irql(k, t, old_irql)
    return dispatch_pending(k, t, "KfReleaseSpinLock", 0)


@GROUP.export("KeAcquireSpinLockAtRaisedIrql", 0x4D, Param("lock", K.PTR), returns=Returns.VOID)
def ke_acquire_spin_lock_at_raised_irql(k: KernelState, t: Thread, lock: int) -> int:
    """Take the lock without touching the IRQL."""
    k.memory.require(lock, 4)
    return acquire(k, t, lock, 0)


@GROUP.export("KeReleaseSpinLockFromRaisedIrql", 0x89, Param("lock", K.PTR), returns=Returns.VOID)
def ke_release_spin_lock_from_raised_irql(k: KernelState, t: Thread, lock: int) -> int:
    """Free the lock without touching the IRQL."""
    k.memory.require(lock, 4)
    release(k, lock)
    return 0


@GROUP.export(
    "KeTryToAcquireSpinLockAtRaisedIrql", 0xAE, Param("lock", K.PTR), returns=Returns.VALUE
)
def ke_try_to_acquire_spin_lock_at_raised_irql(k: KernelState, t: Thread, lock: int) -> int:
    """Take the lock if it is free: 1, else 0."""
    if k.memory.read_u32(lock) != 0:
        return 0
    k.memory.write_u32(lock, t.pcr)
    return 1


@GROUP.export("KeRaiseIrqlToDpcLevel", 0x85, returns=Returns.VALUE)
def ke_raise_irql_to_dpc_level(k: KernelState, t: Thread) -> int:
    """IRQL := DISPATCH_LEVEL; returns the previous IRQL."""
    return set_irql(k, t, DISPATCH_LEVEL)


@GROUP.export("KfRaiseIrql", 0xB2, Param("new_irql", K.U32), returns=Returns.VALUE)
def kf_raise_irql(k: KernelState, t: Thread, new_irql: int) -> int:
    """IRQL := ``new_irql``; returns the previous IRQL."""
    return set_irql(k, t, new_irql & 0xFF)


@GROUP.export("KfLowerIrql", 0xB3, Param("new_irql", K.U32), returns=Returns.VOID)
def kf_lower_irql(k: KernelState, t: Thread, new_irql: int) -> int:
    """IRQL := ``new_irql``; DPCs queued meanwhile run if it is now below DISPATCH_LEVEL."""
    set_irql(k, t, new_irql & 0xFF)
    return dispatch_pending(k, t, "KfLowerIrql", 0)
