"""Thread lifecycle: making a guest thread, starting it, ending it, and freeing what it held.

A thread is a KTHREAD, a PCR and a stack in guest memory, a slot in the object
table with a self reference, and a *program* (the generator it runs) found
from its start routine's address. Starting honours canary's start delay
(quirk ``thread_start_delay``); ending abandons its mutants, signals waiters
and drops the self reference, and once its last handle goes its blocks return
to the system arena.
"""

from __future__ import annotations

from typing import Final

from x360k.kernel_state import KernelParts, RoutineFactory
from x360k.memory import GuestMemory
from x360k.objects.thread import Program, Thread, ThreadState

M32: Final = 0xFFFFFFFF
KTHREAD_SIZE: Final = 0xAB0
PCR_SIZE: Final = 0x2D8
DEFAULT_STACK: Final = 64 * 1024
#: Canary sleeps 10 ms before a new thread's start routine (quirk thread_start_delay).
START_DELAY: Final = 10 * 10_000
#: First guest thread id: canary's counter is shared with five host threads started earlier.
CANARY_FIRST_THREAD_ID: Final = 6
#: Where routine addresses handed out by ``register_routine`` start.
FIRST_ROUTINE: Final = 0x82F00000


def _allocate_all(mem: GuestMemory, sizes: tuple[int, ...]) -> list[int]:
    """System blocks of ``sizes`` (16-aligned), all or none: MemoryError frees what was taken."""
    got: list[int] = []
    try:
        for size in sizes:
            got.append(mem.alloc_system(size, 16))
    except MemoryError:
        for address, size in zip(got, sizes, strict=False):
            mem.free_system(address, size, 16)
        raise
    return got


class ThreadLifecycle:
    """Creates, starts and ends the threads of one kernel."""

    __slots__ = ("_next_routine", "_next_thread_id", "k")

    def __init__(self, k: KernelParts) -> None:
        self.k = k
        self._next_routine = FIRST_ROUTINE
        self._next_thread_id = CANARY_FIRST_THREAD_ID if k.profile == "canary" else 1

    # -- routines -----------------------------------------------------------------------------

    def register_routine(self, factory: RoutineFactory, address: int | None = None) -> int:
        """Make ``factory`` the program behind a guest code address (allocated if not given).

        Scripted threads name their start routines and APC routines this way; the
        CPU runtime instead installs ``Kernel.routine_resolver`` for real code.
        """
        if address is None:
            address = self._next_routine
            self._next_routine += 0x10
        self.k.routines[address] = factory
        return address

    def program_for(self, thread: Thread, address: int, args: tuple[int, ...]) -> Program | None:
        """The program a routine at ``address`` runs on ``thread`` (None: no code there)."""
        k = self.k
        factory = k.routines.get(address)
        if factory is not None:
            return factory(thread, args)
        if k.routine_resolver is not None:
            return k.routine_resolver(thread, address, args)
        return None

    # -- creating and starting ----------------------------------------------------------------

    def create_thread(
        self,
        start_address: int,
        context: int,
        *,
        suspended: bool = False,
        creator: Thread | None = None,
        stack_size: int = 0,
        traced: bool = True,
        program: Program | None = None,
        startup: int = 0,
        thread_id: int | None = None,
    ) -> Thread:
        """Make a guest thread: KTHREAD, PCR and stack in guest memory, a slot, a self reference.

        Without an explicit ``program`` the thread runs ``startup(start_address,
        context)`` when a XapiThreadStartup routine is given, else
        ``start_address(context)``. A given ``thread_id`` (the kernel's own threads)
        leaves the guest id counter alone.
        """
        k = self.k
        mem = k.memory
        size = max(16 * 1024, (stack_size + 0xFFF) & ~0xFFF) if stack_size else DEFAULT_STACK
        # MemoryError (the guest's system arena cannot hold it) leaves nothing behind: the
        # caller answers STATUS_NO_MEMORY.
        blocks = _allocate_all(mem, (KTHREAD_SIZE, PCR_SIZE, size))
        if thread_id is None:
            thread_id = self._next_thread_id
            self._next_thread_id += 1
        t = Thread(len(k.threads), thread_id)
        t.kthread, t.pcr, stack = blocks
        t.stack_size = size
        t.stack_base = stack + size
        t.body = t.kthread
        k.bodies[t.kthread] = t
        mem.write_u8(t.kthread, 6)  # dispatcher header type: thread
        mem.write_u8(t.kthread + 2, KTHREAD_SIZE // 4 & 0xFF)
        mem.write_u32(t.kthread + 0x5C, t.stack_base)
        mem.write_u32(t.kthread + 0x60, t.stack_base - t.stack_size)
        mem.write_u32(t.kthread + 0x14C, t.thread_id)
        mem.write_u32(t.kthread + 0x150, start_address)
        mem.write_u32(t.pcr + 0x70, t.stack_base)
        mem.write_u32(t.pcr + 0x74, t.stack_base - t.stack_size)
        mem.write_u32(t.pcr + 0x100, t.kthread)
        t.gpr[1] = t.stack_base - 0x100
        t.gpr[13] = t.pcr
        t.start_address = start_address
        t.start_context = context
        t.creator = creator
        k.threads.append(t)
        k.threads_by_kthread[t.kthread] = t
        previous = k.current
        k.current = creator if creator is not None else previous
        try:
            k.table.add_handle(t, traced=traced)
        finally:
            k.current = previous
        # The running thread's self reference: a second count on its slot (canary) or a
        # reference on the object (console); released when the thread ends.
        k.table.reference(t)
        if creator is not None:
            k.emit(
                creator,
                "thread.create",
                child_tid=t.ordinal,
                child_raw_tid=t.thread_id,
                entry=start_address,
                handle=t.handles[0] if t.handles else None,
            )
        if program is None and startup:
            program = self.program_for(t, startup, (start_address, context))
        if program is None and start_address:
            program = self.program_for(t, start_address, (context,))
        t.program = program
        if suspended:
            t.suspend_count = 1
            mem.write_u8(t.kthread + 0xBC, 1)
            t.state = ThreadState.SUSPENDED
        else:
            self.start_thread(t)
        return t

    def start_thread(self, t: Thread) -> None:
        """Make a new (or resumed-for-the-first-time) thread runnable."""
        k = self.k
        t.launched = True
        if k.quirks.thread_start_delay and t.creator is not None and t.pending is None:
            k.delay(t, k.clock + START_DELAY)
            return
        t.state = ThreadState.READY
        if t.program is not None:
            k.scheduler.make_ready(t)

    def start_main(self, program: Program) -> Thread:
        """Give the main thread (ordinal 0) its program and make it runnable."""
        t = self.k.main_thread
        t.program = program
        if t.state is ThreadState.READY:
            self.k.scheduler.make_ready(t)
        return t

    def spawn(self, program: Program, *, suspended: bool = False) -> Thread:
        """A new thread running ``program`` (as if the main thread had created it)."""
        return self.create_thread(
            0, 0, suspended=suspended, creator=self.k.main_thread, program=program
        )

    # -- ending -------------------------------------------------------------------------------

    def exit_thread(self, t: Thread, exit_code: int) -> None:
        """End ``t``: abandon its mutants, signal it, drop its self reference."""
        if t.state is ThreadState.TERMINATED:
            return
        k = self.k
        if t.wait is not None:
            k.dispatcher.detach(t.wait)
        k.scheduler.discard(t)
        t.state = ThreadState.TERMINATED
        t.exit_code = exit_code & M32
        t.program = None
        t.program_stack.clear()
        t.apcs.clear()
        mem = k.memory
        mem.write_u8(t.kthread + 0xBE, 1)
        mem.write_u32(t.kthread + 4, 1)
        mem.write_u32(t.kthread + 0x140, t.exit_code)
        previous = k.current
        k.current = t
        try:
            k.emit(t, "thread.exit", ret=t.exit_code)
            for mutant in list(t.owned_mutants):
                mutant.abandon()
                k.signal(mutant)  # the console's header shows the mutant free
            k.dispatcher.signal(t)
            k.state_changed(t)
            k.table.dereference(t, t)
            k.ext_hook("thread_exit", t)
        finally:
            k.current = previous

    def release(self, t: Thread) -> None:
        """An ended thread's last handle is gone: its KTHREAD, PCR and stack are freed.

        They go back to the system arena, so titles that churn through threads do
        not grow memory.
        """
        k = self.k
        k.bodies.pop(t.kthread, None)
        k.threads_by_kthread.pop(t.kthread, None)
        mem = k.memory
        mem.free_system(t.kthread, KTHREAD_SIZE, 16)
        mem.free_system(t.pcr, PCR_SIZE, 16)
        mem.free_system(t.stack_base - t.stack_size, t.stack_size, 16)

    def thread_by_id(self, thread_id: int) -> Thread | None:
        """The thread with guest thread id ``thread_id``, if any."""
        for t in self.k.threads:
            if t.thread_id == thread_id:
                return t
        return None
