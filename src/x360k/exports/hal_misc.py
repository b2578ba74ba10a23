"""Hal and the process-level odds and ends: process type, AV pack, firmware return, breakpoints.

* ``KeGetCurrentProcessType`` answers the calling thread's process type; every
  x360k thread belongs to the title process (1). ``KeSetCurrentProcessType``
  changes the type only inside a DPC, which x360k never runs guest code in,
  so it changes nothing (canary's rule; the console's is the same).
* ``HalGetCurrentAVPack``: the AV cable's id; canary always says 4, and x360k's
  console has that cable too.
* ``HalReturnToFirmware``: the title leaves for the dashboard or a reboot;
  canary exits the emulator. Both profiles stop the run with a report shaped
  like a guest fault (outcome ``fault``), naming the routine.
* ``DbgBreakPoint``: a breakpoint for an attached debugger. Canary's stub
  returns (quirk ``dbg_break_point_returns``); on the console, with no
  debugger, the break is an unhandled exception and the title dies: the run
  stops with a report.
* ``ExRegisterTitleTerminateNotification`` keeps (or drops) a routine to run
  when the title terminates, by priority; x360k has no title termination, so
  the routines are only recorded (``title_terminate_routines``).
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.exports.rtl_exceptions import stop_run

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("hal")

PROCESS_TYPE_TITLE: Final = 1
AV_PACK: Final = 4
EXT_TERMINATE: Final = "title_terminate"
#: Routine names for HalReturnToFirmware's argument (FIRMWARE_REENTRY).
FIRMWARE_ROUTINES: Final = {0: "halt", 1: "reboot", 2: "quiesce reboot", 3: "kd reboot",
                            4: "fatal error", 5: "power down"}  # fmt: skip


@GROUP.export("KeGetCurrentProcessType", 0x66, returns=Returns.VALUE)
def ke_get_current_process_type(k: KernelState, t: Thread) -> int:
    """The calling thread's process type: the title's (1)."""
    return PROCESS_TYPE_TITLE


@GROUP.export("KeSetCurrentProcessType", 0x9A, Param("type", K.U32), returns=Returns.VOID)
def ke_set_current_process_type(k: KernelState, t: Thread, process_type: int) -> int:
    """Outside a DPC (always, in x360k) the type does not change."""
    return 0


@GROUP.export("HalGetCurrentAVPack", 0x22, returns=Returns.VALUE)
def hal_get_current_av_pack(k: KernelState, t: Thread) -> int:
    """The AV pack the console reports: 4, canary's answer."""
    return AV_PACK


@GROUP.export("HalReturnToFirmware", 0x28, Param("routine", K.U32), returns=Returns.VOID)
def hal_return_to_firmware(k: KernelState, t: Thread, routine: int) -> int:
    """The title leaves for the firmware: the run stops with a report."""
    what = FIRMWARE_ROUTINES.get(routine, f"routine {routine}")
    raise stop_run(k, t, "HalReturnToFirmware", f"the title returned to the firmware ({what})")


@GROUP.export("DbgBreakPoint", 0x1, returns=Returns.VOID)
def dbg_break_point(k: KernelState, t: Thread) -> int:
    """A debugger breakpoint: canary returns, the console (no debugger) stops the title."""
    k.emit(t, "marker", text="DbgBreakPoint")
    if k.quirks.dbg_break_point_returns:
        return 0
    raise stop_run(k, t, "DbgBreakPoint", "breakpoint with no debugger attached")


def title_terminate_routines(k: KernelState) -> list[tuple[int, int]]:
    """The registered (priority, routine) pairs, highest priority last."""
    routines = k.ext.setdefault(EXT_TERMINATE, [])
    assert isinstance(routines, list)
    return routines


@GROUP.export(
    "ExRegisterTitleTerminateNotification",
    0x15,
    Param("registration", K.PTR),
    Param("create", K.BOOL),
    returns=Returns.VOID,
)
def ex_register_title_terminate_notification(
    k: KernelState, t: Thread, registration: int, create: int
) -> int:
    """Add (``create``) or remove a title-terminate routine; {routine, priority} at the pointer."""
    routine = k.memory.read_u32(registration)
    routines = title_terminate_routines(k)
    if create:
        priority = k.memory.read_s32(registration + 4)
        bisect.insort(routines, (priority, routine))
    else:
        routines[:] = [(p, r) for p, r in routines if r != routine]
    return 0
