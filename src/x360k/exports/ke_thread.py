"""Per-thread Ke* exports that only touch the KTHREAD / PCR fields they name.

Critical regions, affinity, boost, stack pointers and the floating-point
bookkeeping: each reads or writes a field of a guest KTHREAD or of the
caller's PCR (r13), at the offsets canary's X_KTHREAD / X_KPCR give and
guest code reads. A pointer into unmapped memory fails the call with
STATUS_ACCESS_VIOLATION in r3 and changes nothing.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from x360k.exports.common import require
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.native.bridge import fail
from x360k.status import STATUS_INVALID_PARAMETER, STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("ke thread")

#: KTHREAD fields.
KTHREAD_STACK_BASE: Final = 0x5C
KTHREAD_STACK_LIMIT: Final = 0x60
KTHREAD_FPU_EXCEPTIONS: Final = 0x71
KTHREAD_APC_DISABLE: Final = 0xB0
KTHREAD_BOOST_DISABLED: Final = 0xBB
KTHREAD_CURRENT_CPU: Final = 0xBF
KTHREAD_STACK_ALLOC_BASE: Final = 0xD0
#: PCR fields (r13).
PCR_FP_SAVED: Final = 0x0A
PCR_FP_OWNER: Final = 0x10
PCR_STACK_BASE: Final = 0x70
PCR_STACK_LIMIT: Final = 0x74
PCR_CURRENT_CPU: Final = 0x10C
#: Hardware threads of the console's CPU.
HARDWARE_THREADS: Final = 6

_LE: Final = struct.Struct("<i")
_BE: Final = struct.Struct(">i")


def _adjust_apc_disable(k: KernelState, t: Thread, delta: int) -> None:
    """Add ``delta`` to the caller's kernel APC disable count, in the profile's byte order."""
    fmt = _LE if k.quirks.apc_disable_count_host_order else _BE
    buf, off = k.memory.span(t.kthread + KTHREAD_APC_DISABLE, 4)
    value = fmt.unpack_from(buf, off)[0] + delta
    fmt.pack_into(buf, off, ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000)


def apc_disable_count(k: KernelState, t: Thread) -> int:
    """The caller's kernel APC disable count as this profile stores it (0 outside regions)."""
    fmt = _LE if k.quirks.apc_disable_count_host_order else _BE
    buf, off = k.memory.span(t.kthread + KTHREAD_APC_DISABLE, 4)
    value: int = fmt.unpack_from(buf, off)[0]
    return value


@GROUP.export("KeEnterCriticalRegion", 0x5F, returns=Returns.VOID)
def ke_enter_critical_region(k: KernelState, t: Thread) -> int:
    """Disable normal kernel APCs for the caller: its KTHREAD's disable count goes down by one."""
    _adjust_apc_disable(k, t, -1)
    return 0


@GROUP.export("KeLeaveCriticalRegion", 0x7D, returns=Returns.VOID)
def ke_leave_critical_region(k: KernelState, t: Thread) -> int:
    """Undo one KeEnterCriticalRegion (no pending kernel APCs are delivered: x360k queues none)."""
    _adjust_apc_disable(k, t, 1)
    return 0


def _cpu_for(k: KernelState, affinity: int) -> int:
    """The hardware thread an affinity mask puts a thread on: its highest of the low 8 bits.

    An empty low byte picks the next hardware thread in turn (canary's choice).
    """
    mask = affinity & 0xFF
    if mask:
        return mask.bit_length() - 1
    turn: int = (k.ext.get("ke:next_cpu", 0) + 1) % HARDWARE_THREADS
    k.ext["ke:next_cpu"] = turn
    return turn


@GROUP.export(
    "KeSetAffinityThread",
    0x97,
    Param("thread", K.KOBJECT),
    Param("affinity", K.U32),
    Param("previous_affinity", K.OUT_U32, optional=True),
)
def ke_set_affinity_thread(
    k: KernelState, t: Thread, thread_ptr: int, affinity: int, previous_ptr: int
) -> int:
    """Move a thread to one hardware thread; the old one is written as a mask, the status returned.

    Unlike NT the console returns a status and writes the previous affinity
    through the third argument. An empty mask is STATUS_INVALID_PARAMETER; a
    pointer that is no thread is accepted and nothing changes.
    """
    if not affinity:
        return STATUS_INVALID_PARAMETER
    target = k.threads_by_kthread.get(thread_ptr)
    if target is None:
        return STATUS_SUCCESS
    require(k, previous_ptr)
    mem = k.memory
    if previous_ptr:
        mem.write_u32(previous_ptr, 1 << (mem.read_u8(target.pcr + PCR_CURRENT_CPU) & 31))
    cpu = _cpu_for(k, affinity)
    mem.write_u8(target.pcr + PCR_CURRENT_CPU, cpu)
    mem.write_u8(target.kthread + KTHREAD_CURRENT_CPU, cpu)
    return STATUS_SUCCESS


@GROUP.export(
    "KeSetDisableBoostThread",
    0x9C,
    Param("thread", K.KOBJECT),
    Param("disabled", K.U32),
    returns=Returns.VALUE,
)
def ke_set_disable_boost_thread(k: KernelState, t: Thread, thread_ptr: int, disabled: int) -> int:
    """Swap the KTHREAD's boost-disabled byte; returns the old one (x360k boosts no priority)."""
    mem = k.memory
    old = mem.read_u8(thread_ptr + KTHREAD_BOOST_DISABLED)
    mem.write_u8(thread_ptr + KTHREAD_BOOST_DISABLED, disabled & 0xFF)
    return old


def _set_guest_stack_pointer(k: KernelState, t: Thread, sp: int) -> bool:
    """Put ``sp`` in the caller's r1; False when no CPU context of the caller is loaded.

    A scripted thread has only the register copy in ``t.gpr``; a CPU thread's
    r1 lives in the engine while its code runs.
    """
    t.gpr[1] = sp
    runtime = k.ext.get("cpu")
    if runtime is None:
        return True
    loaded = getattr(runtime, "loaded", None)
    if loaded is None or getattr(loaded, "thread", None) is not t:
        return False
    from unicorn import ppc_const

    runtime.engine.write_reg(ppc_const.UC_PPC_REG_1, sp)
    return True


@GROUP.export(
    "KeSetCurrentStackPointers",
    0x9B,
    Param("stack_pointer", K.PTR),
    Param("thread", K.KOBJECT),
    Param("stack_alloc_base", K.PTR),
    Param("stack_base", K.PTR),
    Param("stack_limit", K.PTR),
    returns=Returns.VOID,
)
def ke_set_current_stack_pointers(
    k: KernelState, t: Thread, sp: int, thread_ptr: int, alloc_base: int, base: int, limit: int
) -> int:
    """Switch stacks (fibers): the KTHREAD's three stack fields, the caller's PCR pair and r1."""
    mem = k.memory
    mem.require(thread_ptr + KTHREAD_STACK_BASE, KTHREAD_STACK_ALLOC_BASE + 4 - KTHREAD_STACK_BASE)
    mem.write_u32(thread_ptr + KTHREAD_STACK_ALLOC_BASE, alloc_base)
    mem.write_u32(thread_ptr + KTHREAD_STACK_BASE, base)
    mem.write_u32(thread_ptr + KTHREAD_STACK_LIMIT, limit)
    mem.write_u32(t.pcr + PCR_STACK_BASE, base)
    mem.write_u32(t.pcr + PCR_STACK_LIMIT, limit)
    if not _set_guest_stack_pointer(k, t, sp):
        fail(k, t, thread_ptr, "KeSetCurrentStackPointers: r1 not switched (no loaded CPU context)")
    return 0


@GROUP.export("KeSaveFloatingPointState", 0x95, returns=Returns.VALUE)
def ke_save_floating_point_state(k: KernelState, t: Thread) -> int:
    """Take the floating-point unit for the caller; returns the PCR's previous owner word.

    Canary has this export compiled out (``save_fp_state_unregistered``): r3
    keeps its value. x360k models no floating-point registers, so there is no
    register image to save; the PCR bookkeeping is what guest code can see.
    """
    if k.quirks.save_fp_state_unregistered:
        return t.gpr[3] & 0xFFFFFFFF
    mem = k.memory
    previous = mem.read_u32(t.pcr + PCR_FP_OWNER)
    mem.write_u32(t.pcr + PCR_FP_OWNER, t.kthread)
    mem.write_u8(t.pcr + PCR_FP_SAVED, 1)
    return previous


@GROUP.export("KeEnableFpuExceptions", 0x5D, Param("enabled", K.BOOL), returns=Returns.VOID)
def ke_enable_fpu_exceptions(k: KernelState, t: Thread, enabled: int) -> int:
    """Record in the caller's KTHREAD whether floating-point exceptions are on (none are raised)."""
    k.memory.write_u8(t.kthread + KTHREAD_FPU_EXCEPTIONS, 1 if enabled else 0)
    return 0
