"""Kernel APC and DPC objects: KeInitialize/KeInsertQueue/KeRemoveQueue Apc and Dpc.

**APCs** (the 0x28-byte KAPC): +0 type byte 18, +2 mode (0 kernel, 1 user),
+3 inserted, +4 target KTHREAD, +8 list entry, +0x10 kernel routine, +0x14
rundown routine, +0x18 normal routine, +0x1C normal context, +0x20 / +0x24
the two system arguments. A user-mode APC joins the same queue
NtQueueApcThread feeds and runs at the target's next alertable wait: first
its kernel routine, given pointers to the normal routine, context and
arguments it may rewrite, then the normal routine with what they hold.
Canary's insert does not end an alertable wait already in progress (quirk
``ke_insert_apc_no_alert``). Kernel-mode APCs are queued and removable but
never delivered: canary delivers none, and x360k has no APC interrupt. The
guest list entry and the KTHREAD's list heads are not linked; the queue is
the kernel's.

**DPCs** (the 0x1C-byte KDPC): +0 type 19 (u16), +2 / +3 CPU numbers, +4
list entry, +0xC routine, +0x10 context, +0x14 / +0x18 system arguments.
Canary queues an inserted DPC and never runs it (quirk ``dpc_never_runs``).
The console runs a DPC inserted below DISPATCH_LEVEL before the insert
returns, on the inserting thread at DISPATCH_LEVEL (see
:mod:`x360k.exports.nested`); one inserted at DISPATCH_LEVEL or above stays
queued until a thread lowers its IRQL below it (KfLowerIrql,
KfReleaseSpinLock), and runs on that thread before the call returns. (The
console keeps a queue per processor; x360k keeps one.) One inserted while an
interrupted wait's return is held back waits for the next such point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.nested import can_nest, routine_program, run_before_return
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.memory import GuestMemoryError
from x360k.native.spinlock import DISPATCH_LEVEL, PCR_IRQL
from x360k.objects.thread import Program, UserApc

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("apc dpc")

APC_TYPE: Final = 0x00
APC_MODE: Final = 0x02
APC_INSERTED: Final = 0x03
APC_THREAD: Final = 0x04
APC_KERNEL_ROUTINE: Final = 0x10
APC_RUNDOWN_ROUTINE: Final = 0x14
APC_NORMAL_ROUTINE: Final = 0x18
APC_NORMAL_CONTEXT: Final = 0x1C
APC_ARG1: Final = 0x20
APC_ARG2: Final = 0x24
KAPC_SIZE: Final = 0x28
APC_OBJECT_TYPE: Final = 18
USER_MODE: Final = 1
#: Canary's stand-in kernel routine for the APCs it makes itself (nothing to call).
DUMMY_KERNEL_ROUTINE: Final = 0xF00DFF00

DPC_TYPE: Final = 0x00
DPC_SELECTED_CPU: Final = 0x02
DPC_DESIRED_CPU: Final = 0x03
DPC_ROUTINE: Final = 0x0C
DPC_CONTEXT: Final = 0x10
DPC_ARG1: Final = 0x14
DPC_ARG2: Final = 0x18
KDPC_SIZE: Final = 0x1C
DPC_OBJECT_TYPE: Final = 19
#: PRCB (PCR + 0x100) DpcActive word: set while a DPC routine runs.
PCR_DPC_ACTIVE: Final = 0x150


class ApcDpcState:
    """Which KAPC / KDPC structures are queued (kept in ``k.ext["apc_dpc"]``)."""

    __slots__ = ("apcs", "dpcs", "trampoline")

    def __init__(self) -> None:
        #: KAPC address -> (target thread, its entry in the thread's user APC queue or None).
        self.apcs: dict[int, tuple[Thread, UserApc | None]] = {}
        #: Queued KDPC addresses, in insertion order.
        self.dpcs: dict[int, None] = {}
        #: The routine address the user APC queue entries of KAPCs name (0: not yet made).
        self.trampoline = 0


def _state(k: KernelState) -> ApcDpcState:
    state: ApcDpcState | None = k.ext.get("apc_dpc")
    if state is None:
        state = k.ext["apc_dpc"] = ApcDpcState()
        k.ext.setdefault("hook:thread_exit", []).append(lambda t: _run_down(k, state, t))
    return state


def dpc_state(k: KernelState) -> ApcDpcState:
    """The queued KAPCs and KDPCs (timer DPCs join the same queue: x360k.exports.callbacks)."""
    return _state(k)


def _run_down(k: KernelState, state: ApcDpcState, t: Thread) -> None:
    """A thread that ends takes its queued KAPCs with it: each is marked not inserted.

    The kernel would call a user APC's rundown routine here; x360k cannot run
    guest code on an ended thread, so a marker names any rundown routine skipped.
    """
    mem = k.memory
    for apc, (target, _entry) in list(state.apcs.items()):
        if target is not t:
            continue
        del state.apcs[apc]
        try:
            mem.write_u8(apc + APC_INSERTED, 0)
            rundown = mem.read_u32(apc + APC_RUNDOWN_ROUTINE)
        except GuestMemoryError:
            continue
        if rundown:
            k.emit(t, "marker", text=f"apc 0x{apc:08x}: rundown routine 0x{rundown:08x} not run")


# -- APCs ------------------------------------------------------------------------------------


@GROUP.export(
    "KeInitializeApc",
    0x6D,
    Param("apc", K.PTR),
    Param("thread", K.KOBJECT),
    Param("kernel_routine", K.ROUTINE, optional=True),
    Param("rundown_routine", K.ROUTINE, optional=True),
    Param("normal_routine", K.ROUTINE, optional=True),
    Param("processor_mode", K.U32),
    Param("normal_context", K.CONTEXT),
    returns=Returns.VOID,
)
def ke_initialize_apc(
    k: KernelState,
    t: Thread,
    apc: int,
    thread_ptr: int,
    kernel_routine: int,
    rundown: int,
    normal: int,
    mode: int,
    context: int,
) -> int:
    """Fill a KAPC for ``thread``; without a normal routine it is a kernel-mode APC, context 0."""
    mem = k.memory
    mem.require(apc, KAPC_SIZE)
    # The type is one byte followed by a zero one (canary stores a host-order u16 18, which
    # lands as the same two bytes).
    mem.write_u8(apc + APC_TYPE, APC_OBJECT_TYPE)
    mem.write_u8(apc + APC_TYPE + 1, 0)
    mem.write_u32(apc + APC_THREAD, thread_ptr)
    mem.write_u32(apc + APC_KERNEL_ROUTINE, kernel_routine)
    mem.write_u32(apc + APC_RUNDOWN_ROUTINE, rundown)
    mem.write_u32(apc + APC_NORMAL_ROUTINE, normal)
    mem.write_u8(apc + APC_MODE, mode & 0xFF if normal else 0)
    mem.write_u32(apc + APC_NORMAL_CONTEXT, context if normal else 0)
    mem.write_u8(apc + APC_INSERTED, 0)
    return 0


def _deliver(k: KernelState, t: Thread, apc: int) -> Program:
    """What a queued user-mode KAPC runs: its kernel routine, then its normal routine."""
    mem = k.memory
    _state(k).apcs.pop(apc, None)
    try:
        mem.write_u8(apc + APC_INSERTED, 0)
        kernel_routine = mem.read_u32(apc + APC_KERNEL_ROUTINE)
        fields = [mem.read_u32(apc + off) for off in (0x18, 0x1C, 0x20, 0x24)]
    except GuestMemoryError:
        # The title unmapped the KAPC while it was queued: the kernel would fault here.
        k.emit(t, "marker", text=f"apc 0x{apc:08x} is no longer mapped: not delivered")
        return 0
    if kernel_routine not in (0, DUMMY_KERNEL_ROUTINE):
        # The kernel routine gets pointers it may rewrite the other four through.
        try:
            scratch = mem.alloc_system(16, 8)
        except MemoryError:
            k.emit(t, "marker", text=f"apc 0x{apc:08x}: no memory to run its kernel routine")
            return 0
        try:
            for i, value in enumerate(fields):
                mem.write_u32(scratch + 4 * i, value)
            args = (apc, scratch, scratch + 4, scratch + 8, scratch + 12)
            program = routine_program(k, t, "APC kernel routine", kernel_routine, args)
            if program is not None:
                yield from program
            fields = [mem.read_u32(scratch + 4 * i) for i in range(4)]
        finally:
            mem.free_system(scratch, 16, 8)
    normal, context, arg1, arg2 = fields
    if normal:
        program = routine_program(k, t, "APC normal routine", normal, (context, arg1, arg2))
        if program is not None:
            yield from program
    return 0


def _trampoline(k: KernelState) -> int:
    state = _state(k)
    if not state.trampoline:
        state.trampoline = k.register_routine(
            lambda thread, args: _deliver(k, thread, args[0] if args else 0)
        )
    return state.trampoline


@GROUP.export(
    "KeInsertQueueApc",
    0x7A,
    Param("apc", K.PTR),
    Param("system_argument1", K.U32),
    Param("system_argument2", K.U32),
    Param("priority_increment", K.U32),
    returns=Returns.VALUE,
)
def ke_insert_queue_apc(
    k: KernelState, t: Thread, apc: int, arg1: int, arg2: int, boost: int
) -> int:
    """Queue the KAPC on its thread: 1, or 0 with no thread, an ended one, or already queued."""
    mem = k.memory
    mem.require(apc, KAPC_SIZE)
    thread_ptr = mem.read_u32(apc + APC_THREAD)
    if not thread_ptr:
        return 0
    target = k.threads_by_kthread.get(thread_ptr)
    if target is None or target.terminated or mem.read_u8(apc + APC_INSERTED):
        return 0
    mem.write_u32(apc + APC_ARG1, arg1)
    mem.write_u32(apc + APC_ARG2, arg2)
    mem.write_u8(apc + APC_INSERTED, 1)
    entry: UserApc | None = None
    if mem.read_u8(apc + APC_MODE) == USER_MODE:
        entry = UserApc(_trampoline(k), apc, arg1, arg2)
        ahead = None
        if not mem.read_u32(apc + APC_NORMAL_ROUTINE):
            # One with only a kernel routine goes ahead of those with a normal routine.
            ahead = next((i for i, e in enumerate(target.apcs) if _has_normal(k, e)), None)
        if ahead is not None:
            target.apcs.insert(ahead, entry)
        elif k.quirks.ke_insert_apc_no_alert:
            target.apcs.append(entry)
        else:
            k.queue_apc(target, entry)
    _state(k).apcs[apc] = (target, entry)
    return 1


def _has_normal(k: KernelState, entry: UserApc) -> bool:
    """Whether a queued user APC has a normal routine (every NtQueueApcThread one has)."""
    if entry.routine != _state(k).trampoline:
        return True
    return k.memory.read_u32(entry.context + APC_NORMAL_ROUTINE) != 0


@GROUP.export("KeRemoveQueueApc", 0x2F0, Param("apc", K.PTR), returns=Returns.VALUE)
def ke_remove_queue_apc(k: KernelState, t: Thread, apc: int) -> int:
    """Take a queued KAPC off its thread's queue: 1, or 0 if it was not queued."""
    mem = k.memory
    mem.require(apc, KAPC_SIZE)
    if not mem.read_u32(apc + APC_THREAD) or not mem.read_u8(apc + APC_INSERTED):
        return 0
    mem.write_u8(apc + APC_INSERTED, 0)
    queued = _state(k).apcs.pop(apc, None)
    if queued is not None:
        target, entry = queued
        for i, e in enumerate(target.apcs):
            if e is entry:
                del target.apcs[i]
                break
    return 1


@GROUP.export(
    "KiApcNormalRoutineNop",
    0x1DF,
    Param("normal_context", K.U32),
    Param("system_argument1", K.U32),
    returns=Returns.VALUE,
)
def ki_apc_normal_routine_nop(k: KernelState, t: Thread, context: int, arg1: int) -> int:
    """The normal routine that does nothing (titles queue kernel-routine-only work with it)."""
    return 0


# -- DPCs ------------------------------------------------------------------------------------


@GROUP.export(
    "KeInitializeDpc",
    0x6F,
    Param("dpc", K.PTR),
    Param("deferred_routine", K.ROUTINE),
    Param("deferred_context", K.CONTEXT),
    returns=Returns.VOID,
)
def ke_initialize_dpc(k: KernelState, t: Thread, dpc: int, routine: int, context: int) -> int:
    """Fill a KDPC: type 19, no CPU chosen, the routine and its context."""
    mem = k.memory
    mem.require(dpc, KDPC_SIZE)
    mem.write_u16(dpc + DPC_TYPE, DPC_OBJECT_TYPE)
    mem.write_u8(dpc + DPC_SELECTED_CPU, 0)
    mem.write_u8(dpc + DPC_DESIRED_CPU, 0)
    mem.write_u32(dpc + DPC_ROUTINE, routine)
    mem.write_u32(dpc + DPC_CONTEXT, context)
    return 0


def run_dpc(k: KernelState, t: Thread, program: Program) -> Program:
    """``program`` run in DPC context on ``t`` (the kernel's workers run routines so)."""
    return _run_dpc(k, t, 0, program)


def _run_dpc(k: KernelState, t: Thread, dpc: int, program: Program) -> Program:
    """A DPC routine as the CPU would run it: at DISPATCH_LEVEL with the PRCB's DpcActive set."""
    mem = k.memory
    irql = mem.read_u8(t.pcr + PCR_IRQL)
    mem.write_u8(t.pcr + PCR_IRQL, DISPATCH_LEVEL)
    mem.write_u32(t.pcr + PCR_DPC_ACTIVE, 1)
    try:
        yield from program
    finally:
        mem.write_u32(t.pcr + PCR_DPC_ACTIVE, 0)
        mem.write_u8(t.pcr + PCR_IRQL, irql)
    return 0


@GROUP.export(
    "KeInsertQueueDpc",
    0x7B,
    Param("dpc", K.PTR),
    Param("system_argument1", K.U32),
    Param("system_argument2", K.U32),
    returns=Returns.VALUE,
)
def ke_insert_queue_dpc(k: KernelState, t: Thread, dpc: int, arg1: int, arg2: int) -> int:
    """Queue the DPC (0 if it already is) and, on the console, run it before returning 1."""
    mem = k.memory
    mem.require(dpc, KDPC_SIZE)
    state = _state(k)
    if dpc in state.dpcs:
        return 0
    mem.write_u32(dpc + DPC_ARG1, arg1)
    mem.write_u32(dpc + DPC_ARG2, arg2)
    state.dpcs[dpc] = None
    return dispatch_pending(k, t, "KeInsertQueueDpc", 1)


def dispatch_pending(k: KernelState, t: Thread, export: str, result: int) -> int:
    """Run the queued DPCs on ``t`` if its IRQL is below DISPATCH_LEVEL (console); then return.

    Called when a DPC is inserted and whenever a thread lowers its IRQL
    (KfLowerIrql, KfReleaseSpinLock): the DPCs run, oldest first, each
    dequeued before its routine starts, and ``export`` returns ``result``
    after them. Returns ``result`` itself when nothing is to run now, else
    BLOCKED for the handler to return.
    """
    state = _state(k)
    if k.quirks.dpc_never_runs or not state.dpcs:
        return result
    mem = k.memory
    if mem.read_u8(t.pcr + PCR_IRQL) >= DISPATCH_LEVEL or not can_nest(t):
        return result
    due = list(state.dpcs)
    state.dpcs.clear()
    programs: list[Program] = []
    for dpc in due:
        try:
            routine = mem.read_u32(dpc + DPC_ROUTINE)
            args = (dpc, *(mem.read_u32(dpc + o) for o in (DPC_CONTEXT, DPC_ARG1, DPC_ARG2)))
        except GuestMemoryError:
            k.emit(t, "marker", text=f"dpc 0x{dpc:08x} is no longer mapped: not run")
            continue
        program = routine_program(k, t, "DPC routine", routine, args)
        if program is not None:
            k.emit(t, "marker", text=f"dpc 0x{routine:08x}", entry=routine)
            programs.append(_run_dpc(k, t, dpc, program))
    if not programs:
        return result
    return run_before_return(k, t, export, result, _in_turn(programs))


def _in_turn(programs: list[Program]) -> Program:
    for program in programs:
        yield from program
    return 0


@GROUP.export("KeRemoveQueueDpc", 0x8E, Param("dpc", K.PTR), returns=Returns.VALUE)
def ke_remove_queue_dpc(k: KernelState, t: Thread, dpc: int) -> int:
    """Take a queued DPC off the queue: 1, or 0 if it was not queued."""
    state = _state(k)
    if dpc in state.dpcs:
        del state.dpcs[dpc]
        return 1
    return 0
