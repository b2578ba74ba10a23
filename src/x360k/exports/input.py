"""Input devices x360k does not have: the HID keyboard and the USB camera, as canary answers.

No keyboard is ever connected (HidReadKeys: STATUS_DEVICE_NOT_CONNECTED,
which titles translate to ERROR_DEVICE_NOT_CONNECTED and skip), and the
camera is created successfully but never reports itself connected: canary
found titles that stop initialising when XUsbcamCreate fails. Neither reads
or writes the buffers it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.status import STATUS_SUCCESS

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("input")

STATUS_DEVICE_NOT_CONNECTED: Final = 0xC000009D
#: XUsbcamGetState: 0 is "not connected".
USBCAM_NOT_CONNECTED: Final = 0


@GROUP.export(
    "HidReadKeys",
    0x1EB,
    Param("unknown", K.U32),
    Param("keystroke", K.PTR),
    Param("buffer", K.PTR),
)
def hid_read_keys(k: KernelState, t: Thread, unknown: int, keystroke: int, buffer: int) -> int:
    """STATUS_DEVICE_NOT_CONNECTED: there is no keyboard."""
    return STATUS_DEVICE_NOT_CONNECTED


@GROUP.export(
    "XUsbcamCreate",
    0x222,
    Param("buffer", K.U32),
    Param("size", K.U32),
    Param("unknown", K.PTR),
)
def x_usbcam_create(k: KernelState, t: Thread, buffer: int, size: int, unknown: int) -> int:
    """STATUS_SUCCESS, with nothing created (a failure stops some titles' start-up)."""
    return STATUS_SUCCESS


@GROUP.export("XUsbcamGetState", 0x21D, returns=Returns.VALUE)
def x_usbcam_get_state(k: KernelState, t: Thread) -> int:
    """0: no camera is connected."""
    return USBCAM_NOT_CONNECTED
