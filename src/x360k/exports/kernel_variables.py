"""The kernel's data exports beyond the object types: where they live and what they hold.

A title imports a kernel *variable* by ordinal and the loader writes the
variable's guest address into the import slot (docs/xex.md, docs/cpu.md). The
object types sit at the start of the kernel data region (``Kernel._startup``);
the variables below follow them in the same region at fixed offsets, so
installing them allocates nothing and every later kernel allocation (and so
every trace) keeps its address.

What each holds is what canary puts there at start-up (its xboxkrnl module,
video and kernel-state set-up), values a real retail console also shows:

* ``XboxHardwareInfo``: 16 bytes, flags 0x20 then a 6-thread CPU count byte;
* ``XboxKrnlVersion``: major 2, minor 0, build 1888, qfe 0 (four u16);
* ``ExConsoleGameRegion``: 0xFFFFFFFF (every region);
* ``KeDebugMonitorData`` / ``KeCertMonitorData``: a null pointer (no monitor);
* ``KeTimeStampBundle``: interrupt time, system time (u64 each), tick count in
  milliseconds, padding; refreshed from the virtual clock whenever guest code
  resumes from the run loop and every 1 ms of guest time while calls are
  served (canary refreshes it from a 1 ms host timer; neither is exact);
* ``XexExecutableModuleHandle``: the title's HMODULE (its loader entry, see
  :mod:`x360k.exports.module_table`);
* ``ExLoadedImageName`` (256 bytes) and ``ExLoadedCommandLine`` (1024 bytes):
  the title's path and ``"NAME.xex"``;
* ``VdGlobalDevice`` / ``VdGlobalXamDevice``: null D3D device pointers (no GPU);
  ``VdGpuClockInMHz``: 500;
* ``VdHSIOCalibrationLock``: an initialised critical section (spin count 10000);
* ``UsbdBootEnumerationDoneEvent``: a notification KEVENT, signalled (boot USB
  enumeration is over before the title starts); under canary it is the
  start-up slot 0 event, its header stamped with that slot.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from x360k.clock import SYSTEM_TIME_BASE
from x360k.native import critical_section as CS
from x360k.native import header as H

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState

EXT_KEY: Final = "kernel_variables"
#: Offsets inside the kernel data region (the object types use the first 0x140 bytes).
_SCALARS: Final = 0x400
TIME_STAMP_BUNDLE_OFFSET: Final = 0x800
IMAGE_NAME_OFFSET: Final = 0x900
COMMAND_LINE_OFFSET: Final = 0xA00
HSIO_LOCK_OFFSET: Final = 0xE00
USB_EVENT_OFFSET: Final = 0xE40
IMAGE_NAME_SIZE: Final = 256
COMMAND_LINE_SIZE: Final = 1024
KERNEL_BUILD: Final = 1888
HSIO_SPIN_COUNT: Final = 10000
GPU_CLOCK_MHZ: Final = 500
TIME_STAMP_BUNDLE: Final = struct.Struct(">QQII")
#: How often the CPU runtime refreshes KeTimeStampBundle while it serves calls (1 ms).
STAMP_PERIOD: Final = 10_000


@dataclass(frozen=True, slots=True)
class KernelVariable:
    """One data export: its name, ordinal, offset in the kernel data region and size."""

    name: str
    ordinal: int
    offset: int
    size: int
    doc: str


def _scalar(name: str, ordinal: int, slot: int, size: int, doc: str) -> KernelVariable:
    return KernelVariable(name, ordinal, _SCALARS + 0x20 * slot, size, doc)


#: Every variable this module installs (the object types are in exports/ob.py).
KERNEL_VARIABLES: Final[tuple[KernelVariable, ...]] = (
    _scalar("ExConsoleGameRegion", 0x0C, 0, 4, "the console's game region (all regions)"),
    _scalar("KeDebugMonitorData", 0x59, 1, 4, "pointer to debug-monitor data (null: none)"),
    _scalar("XboxHardwareInfo", 0x156, 2, 16, "hardware flags and CPU count"),
    _scalar("XboxKrnlVersion", 0x158, 3, 8, "kernel version 2.0.1888.0"),
    _scalar("XexExecutableModuleHandle", 0x193, 4, 4, "the title's HMODULE"),
    _scalar("VdGlobalDevice", 0x1BE, 5, 4, "the title's D3D device pointer (null)"),
    _scalar("VdGlobalXamDevice", 0x1BF, 6, 4, "XAM's D3D device pointer (null)"),
    _scalar("VdGpuClockInMHz", 0x1C0, 7, 4, "GPU clock, 500 MHz"),
    _scalar("KeCertMonitorData", 0x266, 8, 4, "pointer to cert-monitor data (null: none)"),
    KernelVariable(
        "KeTimeStampBundle", 0xAD, TIME_STAMP_BUNDLE_OFFSET, 0x18, "interrupt/system time, ticks"
    ),
    KernelVariable(
        "ExLoadedImageName", 0x1AF, IMAGE_NAME_OFFSET, IMAGE_NAME_SIZE, "the title's path"
    ),
    KernelVariable(
        "ExLoadedCommandLine",
        0x1AE,
        COMMAND_LINE_OFFSET,
        COMMAND_LINE_SIZE,
        "the title's command line",
    ),
    KernelVariable("VdHSIOCalibrationLock", 0x1C1, HSIO_LOCK_OFFSET, 0x1C, "a critical section"),
    KernelVariable(
        "UsbdBootEnumerationDoneEvent", 0x2DB, USB_EVENT_OFFSET, 0x10, "a signalled KEVENT"
    ),
)
BY_NAME: Final[dict[str, KernelVariable]] = {v.name: v for v in KERNEL_VARIABLES}


def install(k: KernelState, region_base: int) -> None:
    """Write every variable's start-up value and publish its address in ``k.data_exports``."""
    mem = k.memory
    for var in KERNEL_VARIABLES:
        k.data_exports[var.name] = region_base + var.offset
    at = k.data_exports
    mem.write_u32(at["ExConsoleGameRegion"], 0xFFFFFFFF)
    mem.write_u32(at["XboxHardwareInfo"], 0x20)
    mem.write_u8(at["XboxHardwareInfo"] + 4, 6)
    mem.write_bytes(at["XboxKrnlVersion"], struct.pack(">HHHH", 2, 0, KERNEL_BUILD, 0))
    mem.write_u32(at["VdGpuClockInMHz"], GPU_CLOCK_MHZ)
    lock = CS.LockCount(k.quirks.critical_section_lock_host_order)
    CS.initialize(
        mem,
        at["VdHSIOCalibrationLock"],
        lock,
        HSIO_SPIN_COUNT,
        console=not k.quirks.bridge_stamps_header,
    )
    H.write_header(
        mem,
        at["UsbdBootEnumerationDoneEvent"],
        H.GuestType.NOTIFICATION_EVENT,
        1,
        size_bytes=H.HEADER_SIZE,
    )
    _bind_boot_event(k, at["UsbdBootEnumerationDoneEvent"])
    refresh_time_stamp_bundle(k)


def _bind_boot_event(k: KernelState, ptr: int) -> None:
    """Canary: the start-up slot 0 event *is* this KEVENT (stamped, signalled).

    Under ``canary_startup_objects`` slot 0 holds the kernel's bridged USB
    boot-enumeration event; canary signals it once enumeration is done, before
    the title starts. Binding it here (header stamped with that slot, as the
    bridge stamps headers) means a title waiting on the variable finds that
    object instead of bridging a second one. Elsewhere the header alone is the
    event, bridged on first use like any guest KEVENT.
    """
    if not (k.quirks.canary_startup_objects and k.quirks.bridge_stamps_header):
        return
    from x360k.objects.event import Event

    for handle, obj in k.table.live_handles():
        if isinstance(obj, Event):
            obj.state = True
            obj.body = ptr
            k.bodies[ptr] = obj
            k.memory.write_u32(ptr + H.WAIT_LIST_FLINK, H.SIGNATURE)
            k.memory.write_u32(ptr + H.WAIT_LIST_BLINK, handle)
            return


def refresh_time_stamp_bundle(k: KernelState) -> None:
    """KeTimeStampBundle from the virtual clock (100 ns units; ticks in milliseconds)."""
    address = k.data_exports.get("KeTimeStampBundle")
    if address is None:
        return
    buf, off = k.memory.span(address, TIME_STAMP_BUNDLE.size)
    clock = k.clock
    TIME_STAMP_BUNDLE.pack_into(
        buf, off, clock, SYSTEM_TIME_BASE + clock, (clock // 10_000) & 0xFFFFFFFF, 0
    )


def set_loaded_image(k: KernelState, path: str, name: str) -> None:
    """ExLoadedImageName and ExLoadedCommandLine for the title at guest ``path``.

    Both are truncated to their buffers with a NUL kept at the end; the command
    line is the title's base name with ``.xex`` in double quotes.
    """
    mem = k.memory
    image = path.encode("latin-1", "replace")[: IMAGE_NAME_SIZE - 1]
    mem.fill(k.data_exports["ExLoadedImageName"], IMAGE_NAME_SIZE)
    mem.write_bytes(k.data_exports["ExLoadedImageName"], image)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    line = f'"{stem}.xex"'.encode("latin-1", "replace")[: COMMAND_LINE_SIZE - 1]
    mem.fill(k.data_exports["ExLoadedCommandLine"], COMMAND_LINE_SIZE)
    mem.write_bytes(k.data_exports["ExLoadedCommandLine"], line)


def variable_addresses(k: KernelState) -> dict[int, int]:
    """Ordinal -> guest address of every kernel variable x360k has (object types too)."""
    from x360k.exports.ob import OBJECT_TYPE_EXPORTS

    out = {
        ordinal: k.data_exports[name]
        for name, (ordinal, _t) in OBJECT_TYPE_EXPORTS.items()
        if name in k.data_exports
    }
    for var in KERNEL_VARIABLES:
        if var.name in k.data_exports:
            out[var.ordinal] = k.data_exports[var.name]
    return out
