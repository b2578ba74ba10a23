"""I/O completion ports: NtCreateIoCompletion, NtSetIoCompletion, NtRemoveIoCompletion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.common import lookup_typed, require, write_u32
from x360k.exports.file_common import write_iosb
from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.objects.io_completion import CANARY_COUNT_LIMIT, IoCompletion, Packet
from x360k.status import STATUS_SUCCESS, STATUS_WAIT_0

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("io_completion")

#: NtRemoveIoCompletion's null timeout under canary, in milliseconds (about 31.6 days).
CANARY_NULL_REMOVE_TIMEOUT_MS: Final = 0xA29C779B


@GROUP.export(
    "NtCreateIoCompletion",
    0xD3,
    Param("handle", K.OUT_HANDLE, optional=True),
    Param("desired_access", K.U32),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("concurrent_threads", K.U32),
)
def nt_create_io_completion(
    k: KernelState, t: Thread, handle_ptr: int, access: int, attrs: int, threads: int
) -> int:
    """A new, unnamed port (access, attributes and thread count ignored)."""
    require(k, handle_ptr)
    port = IoCompletion(CANARY_COUNT_LIMIT if k.quirks.io_completion_count_capped else None)
    write_u32(k, handle_ptr, k.table.add_handle(port))
    if k.quirks.io_completion_leaks_object:
        k.table.retain_object(port)
    return STATUS_SUCCESS


@GROUP.export(
    "NtSetIoCompletion",
    0xF8,
    Param("handle", K.HANDLE),
    Param("key_context", K.U32),
    Param("apc_context", K.CONTEXT),
    Param("status", K.U32),
    Param("information", K.U32),
)
def nt_set_io_completion(
    k: KernelState, t: Thread, handle: int, key: int, context: int, status: int, information: int
) -> int:
    """Queue a packet {key, context, status, information}."""
    port = lookup_typed(k, t, handle, IoCompletion)
    if isinstance(port, int):
        return port
    port.post(Packet(key, context, status, information))
    k.signal(port)
    return STATUS_SUCCESS


@GROUP.export(
    "NtRemoveIoCompletion",
    0xF4,
    Param("handle", K.HANDLE),
    Param("key_context", K.OUT_U32, optional=True),
    Param("apc_context", K.OUT_U32, optional=True),
    Param("io_status_block", K.IOSB, optional=True),
    Param("timeout", K.TIMEOUT, optional=True),
)
def nt_remove_io_completion(
    k: KernelState,
    t: Thread,
    handle: int,
    key_ptr: int,
    context_ptr: int,
    iosb: int,
    timeout_ptr: int,
) -> int:
    """Wait (not alertable) for the oldest packet; STATUS_TIMEOUT when none came in time."""
    require(k, key_ptr)
    require(k, context_ptr)
    require(k, iosb, 8)
    port = lookup_typed(k, t, handle, IoCompletion)
    if isinstance(port, int):
        return port
    if k.quirks.remove_io_completion_timeout_truncated:
        ms = (
            CANARY_NULL_REMOVE_TIMEOUT_MS
            if timeout_ptr == 0
            else k.memory.read_u64(timeout_ptr) & 0xFFFFFFFF
        )
        deadline: int | None = k.clock + ms * 10_000
    else:
        deadline = k.deadline_from(timeout_ptr)

    def finish(status: int) -> int:
        if status != STATUS_WAIT_0:
            return status
        packet = port.take()
        write_u32(k, key_ptr, packet.key)
        write_u32(k, context_ptr, packet.apc_context)
        write_iosb(k, iosb, packet.status, packet.information)
        return STATUS_SUCCESS

    return k.wait(
        t,
        [port],
        wait_all=False,
        alertable=False,
        deadline=deadline,
        finish=finish,
        note="io completion",
    )
