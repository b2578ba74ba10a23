"""RtlNtStatusToDosError: the Win32 error a title reports for an NTSTATUS.

The rules are canary's, which are NT's: success and customer statuses pass
through, 0x8007xxxx (an HRESULT of a Win32 error) and 0xC001xxxx yield their
low word, 0xDxxxxxxx is looked up as 0xCxxxxxxx, everything else by range in
:data:`x360k.exports.dos_errors.RANGES`, and an unknown status becomes
ERROR_MR_MID_NOT_FOUND (317). Both profiles share the table.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Final

from x360k.exports.dos_errors import RANGES
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("rtl errors")

ERROR_MR_MID_NOT_FOUND: Final = 317
_STARTS: Final = [start for start, _ in RANGES]


def dos_error(status: int) -> int:
    """The Win32 error for ``status``."""
    status &= 0xFFFFFFFF
    if status == 0 or status & 0x20000000:
        return status
    if status >> 16 == 0x8007:
        return status & 0xFFFF
    if status & 0xF0000000 == 0xD0000000:
        status &= ~0x30000000
    i = bisect.bisect_right(_STARTS, status) - 1
    if i >= 0:
        start, errors = RANGES[i]
        offset = status - start
        if offset < len(errors) and errors[offset]:
            return errors[offset]
    if status >> 16 == 0xC001:
        return status & 0xFFFF
    return ERROR_MR_MID_NOT_FOUND


@GROUP.export("RtlNtStatusToDosError", 0x135, Param("status", K.U32), returns=Returns.VALUE)
def rtl_nt_status_to_dos_error(k: KernelState, t: Thread, status: int) -> int:
    """The Win32 error code for an NTSTATUS (317 when the status has none)."""
    return dos_error(status)
