"""Guest routines the kernel runs by itself: timer DPCs, the vsync callback, audio clients.

Each runs on a kernel-owned worker thread (:mod:`x360k.kernel_workers`) on
virtual time, so a run's trace is the same every time:

- **Timer DPCs.** A timer armed by KeSetTimer / KeSetTimerEx with a KDPC
  queues that DPC on each expiry, SystemArgument1 / 2 the low and high words
  of the expiry's due time (as a system time), unless it is still queued from
  an earlier one. Its routine then runs on the ``dpc`` worker in DPC context
  (DISPATCH_LEVEL, DpcActive set) as ``DeferredRoutine(dpc, DeferredContext,
  SystemArgument1, SystemArgument2)``; it is dequeued as it starts, so
  KeRemoveQueueDpc before then keeps it from running. Canary has no
  KeSetTimer(Ex) (quirk ``ke_mutant_timer_missing``) and runs no DPC (quirk
  ``dpc_never_runs``: the DPC stays queued).
- **The graphics interrupt callback** (VdSetGraphicsInterruptCallback): while
  one is set, a vertical blank falls every 1/60 s of virtual time (the n-th at
  ceil(n * 10^7 / 60) ticks), and each runs ``callback(0, user_data)`` (source
  0: vblank) on the ``vsync`` worker in DPC context, as canary's frame
  limiter does at 60 Hz. A vblank that falls while the previous one's call
  has not yet run is counted but adds no call.
- **Audio render clients** (XAudioRegisterRenderDriverClient): as canary's
  audio worker, a client's callback runs once for each frame the device
  wants: 8 at registration (canary's default queue depth), then one each time
  a submitted frame has been consumed; frames play back to back, 256 samples
  at 48 kHz (16/3 ms) each. The callback's argument is, as in canary, the
  address of a kernel word holding the registered argument.

A routine with no code in this host leaves a marker, as a nested routine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from x360k.clock import SYSTEM_TIME_BASE
from x360k.exports.apc_dpc import DPC_ARG1, DPC_ARG2, DPC_CONTEXT, DPC_ROUTINE, dpc_state, run_dpc
from x360k.kernel_workers import Job, guest_alive, submit, worker, worker_state
from x360k.memory import GuestMemoryError

if TYPE_CHECKING:
    from x360k.exports.audio import RenderClient
    from x360k.kernel_state import KernelState
    from x360k.objects.timer import Timer

M32: Final = 0xFFFFFFFF
TICKS_PER_SECOND: Final = 10_000_000
VBLANK_HZ: Final = 60
#: The vblank interrupt's source number (canary's MarkVblank passes 0).
VBLANK_SOURCE: Final = 0
#: One audio frame, 256 samples at 48 kHz, in thirds of a tick (16/3 ms is not whole ticks).
FRAME_TICKS_X3: Final = 256 * 3 * TICKS_PER_SECOND // 48_000
#: Frames a new client is asked for at once (canary's apu_max_queued_frames default).
QUEUED_FRAMES: Final = 8


# -- timer DPCs -------------------------------------------------------------------------------


def timer_dpc_armed(k: KernelState) -> None:
    """A timer was armed with a KDPC: the thread its routine will run on is made now."""
    if not k.quirks.dpc_never_runs:
        worker(k, "dpc")


def queue_timer_dpc(k: KernelState, timer: Timer) -> None:
    """``timer`` expired with a KDPC: queue it and have the dpc worker run it."""
    dpc = timer.dpc
    state = dpc_state(k)
    if dpc in state.dpcs:
        return  # still queued from an earlier expiry: KeInsertQueueDpc would answer 0
    due = SYSTEM_TIME_BASE + (timer.due if timer.due is not None else k.clock)
    mem = k.memory
    try:
        mem.write_u32(dpc + DPC_ARG1, due & M32)
        mem.write_u32(dpc + DPC_ARG2, due >> 32 & M32)
        routine = mem.read_u32(dpc + DPC_ROUTINE)
        context = mem.read_u32(dpc + DPC_CONTEXT)
    except GuestMemoryError:
        where = k.current or k.main_thread
        k.emit(where, "marker", text=f"timer dpc 0x{dpc:08x} is not mapped: not queued")
        return
    state.dpcs[dpc] = None
    if k.quirks.dpc_never_runs:
        return
    w = worker(k, "dpc")

    def dequeue() -> bool:
        if dpc not in state.dpcs:
            return False  # KeRemoveQueueDpc took it off first
        del state.dpcs[dpc]
        return True

    submit(
        k,
        w,
        Job(
            why=f"timer dpc 0x{dpc:08x}: timer expired",
            what="timer DPC routine",
            routine=routine,
            args=(dpc, context, due & M32, due >> 32 & M32),
            wrap=lambda t, program: run_dpc(k, t, program),
            prepare=dequeue,
        ),
    )


# -- vertical blanks --------------------------------------------------------------------------


@dataclass(slots=True)
class Vsync:
    """The vblank source: bumped ``generation`` on every change of callback stops old ticks."""

    generation: int = 0
    #: Vblanks that fell while a callback was set, and those whose call had to be skipped.
    vblanks: int = 0
    skipped: int = 0
    #: Whether a vblank's call is queued and not yet run.
    pending: bool = False


def vsync(k: KernelState) -> Vsync:
    src = k.ext.get("vsync")
    if src is None:
        src = k.ext["vsync"] = Vsync()
    assert isinstance(src, Vsync)
    return src


def vblank_time(n: int) -> int:
    """When the n-th vertical blank falls (ticks): n/60 s, rounded up."""
    return -(-n * TICKS_PER_SECOND // VBLANK_HZ)


def interrupt_callback_changed(k: KernelState, callback: int, user_data: int) -> None:
    """VdSetGraphicsInterruptCallback: vblanks call ``callback`` from now on (0: no more)."""
    src = vsync(k)
    src.generation += 1
    sources = worker_state(k).sources
    if not callback:
        sources.pop("vsync", None)
        return
    w = worker(k, "vsync")
    sources["vsync"] = lambda: (
        f"vsync: graphics interrupt callback 0x{callback:08x} on thread {w.thread.ordinal}, "
        f"{src.vblanks} vblank(s) so far"
    )
    _next_vblank(k, src, src.generation, callback, user_data)


def _next_vblank(k: KernelState, src: Vsync, generation: int, callback: int, data: int) -> None:
    n = k.clock * VBLANK_HZ // TICKS_PER_SECOND + 1
    k.scheduler.at(
        vblank_time(n),
        lambda: _vblank(k, src, generation, callback, data),
        kind="interrupt",
        subject=src,
    )


def _vblank(k: KernelState, src: Vsync, generation: int, callback: int, data: int) -> None:
    if generation != src.generation:
        return
    _next_vblank(k, src, generation, callback, data)
    if not guest_alive(k):
        return  # no title thread has work: the vblank calls nobody (and keeps nothing alive)
    src.vblanks += 1
    if src.pending:
        src.skipped += 1
        return
    src.pending = True

    def done() -> None:
        src.pending = False

    submit(
        k,
        worker(k, "vsync"),
        Job(
            why=f"vsync {src.vblanks}: graphics interrupt callback",
            what="graphics interrupt callback",
            routine=callback,
            args=(VBLANK_SOURCE, data),
            wrap=lambda t, program: run_dpc(k, t, program),
            done=done,
        ),
    )


# -- audio render clients ---------------------------------------------------------------------


def audio_client_registered(k: KernelState, slot: int, client: RenderClient) -> None:
    """A new render client: its callback is wanted for the first frames at once."""
    w = worker(k, "audio")
    from x360k.exports.audio import audio_state

    clients = audio_state(k).clients
    worker_state(k).sources["audio"] = lambda: (
        f"audio: {len(clients)} render client(s) on thread {w.thread.ordinal}"
    )
    for _ in range(QUEUED_FRAMES):
        _want_frame(k, slot, client)


def audio_client_unregistered(k: KernelState) -> None:
    from x360k.exports.audio import audio_state

    if not audio_state(k).clients:
        worker_state(k).sources.pop("audio", None)


def _want_frame(k: KernelState, slot: int, client: RenderClient) -> None:
    from x360k.exports.audio import audio_state

    def registered() -> bool:
        return audio_state(k).clients.get(slot) is client

    def done() -> None:
        client.calls += 1

    submit(
        k,
        worker(k, "audio"),
        Job(
            why=f"audio client {slot}: a frame is wanted",
            what="audio render client callback",
            routine=client.callback,
            args=(client.wrapped,),
            prepare=registered,
            done=done,
        ),
    )


def audio_frame_submitted(k: KernelState, slot: int, client: RenderClient) -> None:
    """A frame joins the client's queue; when it has played, another is wanted."""
    start = max(k.clock * 3, client.play_end_x3)
    client.play_end_x3 = start + FRAME_TICKS_X3
    when = -(-client.play_end_x3 // 3)
    k.scheduler.at(when, lambda: _frame_consumed(k, slot, client), kind="interrupt", subject=client)


def _frame_consumed(k: KernelState, slot: int, client: RenderClient) -> None:
    from x360k.exports.audio import audio_state

    if audio_state(k).clients.get(slot) is not client or not guest_alive(k):
        return
    client.consumed += 1
    _want_frame(k, slot, client)
