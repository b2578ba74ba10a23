"""Rtl exception and image exports: RtlRaiseException, KeBugCheck(Ex), RtlImageNtHeader, stacks.

x360k has no structured-exception dispatcher (no unwinder over the guest's
``.pdata``), so RtlUnwind, __C_specific_handler and RtlCaptureContext are not
declared: a title that imports them is told so by ``x360k exports`` rather
than by a silent success. RtlRaiseException follows canary: the two
exceptions titles raise for a debugger (SetThreadName, a C++ throw) return
to the caller with a ``marker`` event; any other code returns under canary
(``raise_exception_returns``) and, under the console profile, stops the run
with a report shaped like a guest fault, because the console would dispatch
it to handlers x360k cannot run. A bug-check stops the run under both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.kernel_stop import stop_at
from x360k.memory import GuestMemoryError

if TYPE_CHECKING:
    from x360k.cpu.fault import GuestFault
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl exceptions")

#: Exception codes a title raises for a debugger.
SET_THREAD_NAME: Final = 0x406D1388
CPP_EXCEPTION: Final = 0xE06D7363
#: EXCEPTION_RECORD: Code, Flags, Record*, Address, NumberParameters, Information[15].
RECORD_SIZE: Final = 0x50


def stop_run(k: KernelState, t: Thread, call: str, reason: str) -> GuestFault:
    """The fault that stops the run at ``call`` (the kernel state is left as it is)."""
    return stop_at(k, t, call, reason)


def _thread_name(k: KernelState, record: int) -> str:
    mem = k.memory
    name_ptr = mem.read_u32(record + 0x18)
    if not name_ptr:
        return ""
    raw = mem.read_bytes(name_ptr, len(mem.read_cstring(name_ptr, 256)))
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in raw)


@GROUP.export("RtlRaiseException", 0x136, Param("record", K.PTR), returns=Returns.VOID)
def rtl_raise_exception(k: KernelState, t: Thread, record: int) -> int:
    """Raise a software exception: debugger notices return, others per profile."""
    mem = k.memory
    code = mem.read_u32(record)
    if code == SET_THREAD_NAME:
        k.emit(t, "marker", text=f"SetThreadName: {_thread_name(k, record)!r}")
        return 0
    if code == CPP_EXCEPTION:
        k.emit(t, "marker", text="C++ exception raised (not dispatched)")
        if k.quirks.raise_exception_returns:
            return 0
        raise stop_run(
            k, t, "RtlRaiseException", "C++ exception 0xE06D7363: x360k cannot dispatch it"
        )
    k.emit(t, "marker", text=f"exception 0x{code:08X} raised (not dispatched)")
    if k.quirks.raise_exception_returns:
        return 0
    raise stop_run(k, t, "RtlRaiseException", f"exception 0x{code:08X}: x360k cannot dispatch it")


@GROUP.export(
    "KeBugCheckEx",
    0x53,
    Param("code", K.U32),
    Param("parameter1", K.U32),
    Param("parameter2", K.U32),
    Param("parameter3", K.U32),
    Param("parameter4", K.U32),
    returns=Returns.VOID,
)
def ke_bug_check_ex(
    k: KernelState, t: Thread, code: int, p1: int, p2: int, p3: int, p4: int
) -> int:
    """Stop the run: the kernel halts with a STOP code and four parameters."""
    params = ", ".join(f"0x{p:08X}" for p in (p1, p2, p3, p4))
    raise stop_run(k, t, "KeBugCheckEx", f"*** STOP 0x{code:08X} ({params})")


@GROUP.export("KeBugCheck", 0x52, Param("code", K.U32), returns=Returns.VOID)
def ke_bug_check(k: KernelState, t: Thread, code: int) -> int:
    """KeBugCheckEx with four zero parameters."""
    raise stop_run(k, t, "KeBugCheck", f"*** STOP 0x{code:08X} (0, 0, 0, 0)")


def nt_header(k: KernelState, base: int) -> int:
    """The address of a PE image's NT headers ('PE\\0\\0'), or 0 (little-endian fields)."""
    if not base:
        return 0
    mem = k.memory
    try:
        if mem.read_bytes(base, 2) != b"MZ":
            return 0
        lfanew = int.from_bytes(mem.read_bytes(base + 0x3C, 4), "little", signed=True)
        header = (base + lfanew) & 0xFFFFFFFF
        return header if mem.read_bytes(header, 4) == b"PE\0\0" else 0
    except GuestMemoryError:
        return 0


@GROUP.export("RtlImageNtHeader", 0x1A9, Param("module", K.PTR), returns=Returns.VALUE)
def rtl_image_nt_header(k: KernelState, t: Thread, base: int) -> int:
    """The NT headers of the PE image at ``module``; 0 when it is not one (or unreadable)."""
    return nt_header(k, base)


@GROUP.export(
    "RtlGetStackLimits",
    0x12A,
    Param("low_limit", K.OUT_U32),
    Param("high_limit", K.OUT_U32),
    returns=Returns.VOID,
)
def rtl_get_stack_limits(k: KernelState, t: Thread, low: int, high: int) -> int:
    """The calling thread's stack: its lowest address and its base (from the PCR)."""
    mem = k.memory
    mem.require(low, 4)
    mem.require(high, 4)
    mem.write_u32(low, t.stack_base - t.stack_size)
    mem.write_u32(high, t.stack_base)
    return 0


@GROUP.export(
    "RtlRip",
    0x138,
    Param("message1", K.PTR, optional=True),
    Param("message2", K.PTR, optional=True),
    returns=Returns.VOID,
)
def rtl_rip(k: KernelState, t: Thread, m1: int, m2: int) -> int:
    """A debug-build assertion message: a ``marker`` event, and the call returns."""
    mem = k.memory
    parts = []
    for ptr in (m1, m2):
        try:
            parts.append(mem.read_cstring(ptr, 1024).decode("latin-1") if ptr else "")
        except GuestMemoryError:
            parts.append(f"<unreadable 0x{ptr:08X}>")
    k.emit(t, "marker", text=f"RtlRip: {parts[0]} {parts[1]}".rstrip())
    return 0
