"""Object-manager exports: NtClose, NtDuplicateObject and the Ob* reference/open calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.common import open_handle, require, write_u32
from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K
from x360k.object_namespace import object_namespace
from x360k.objects.base import KernelObject
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("ob")

DUPLICATE_CLOSE_SOURCE: Final = 1
#: What canary writes for an object type it gives no guest body.
NO_BODY_MARKER: Final = 0xDEADF00D
#: Object types canary hands a real guest body for; mutants and files get 0.
CANARY_BODY_TYPES: Final = frozenset({"Event", "Semaphore", "Thread"})
CANARY_NULL_BODY_TYPES: Final = frozenset({"Mutant", "File"})
#: Types whose ObjectType argument canary checks (the console checks every type).
CANARY_CHECKED_TYPES: Final = frozenset(
    {"Event", "Semaphore", "Thread", "File", "Mutant", "Device"}
)

#: Data exports: the kernel's object-type variables, by name -> (ordinal, object type).
OBJECT_TYPE_EXPORTS: Final[dict[str, tuple[int, str]]] = {
    "ExEventObjectType": (0x0E, "Event"),
    "ExMutantObjectType": (0x12, "Mutant"),
    "ExSemaphoreObjectType": (0x17, "Semaphore"),
    "ExThreadObjectType": (0x1B, "Thread"),
    "ExTimerObjectType": (0x1C, "Timer"),
    "IoCompletionObjectType": (0x36, "IoCompletion"),
    "IoDeviceObjectType": (0x3A, "Device"),
    "IoFileObjectType": (0x3E, "File"),
    "ObDirectoryObjectType": (0x106, "Directory"),
    "ObSymbolicLinkObjectType": (0x112, "SymbolicLink"),
}


@GROUP.export("NtClose", 0xCF, Param("handle", K.HANDLE))
def nt_close(k: KernelState, t: Thread, handle: int) -> int:
    """Release one count of the slot a handle names; the slot goes when it reaches zero."""
    return k.table.release_handle(handle, t)


@GROUP.export(
    "NtDuplicateObject",
    0xDA,
    Param("source_handle", K.HANDLE),
    Param("target_handle", K.OUT_HANDLE, optional=True),
    Param("options", K.U32),
)
def nt_duplicate_object(k: KernelState, t: Thread, source: int, out_ptr: int, options: int) -> int:
    """A fresh slot for the same object; optionally close the source.

    Canary makes the new slot first and closes the source after it (even when
    duplication failed). The console holds the object, closes the source and
    only then allocates, so its LIFO allocator hands back the source's value;
    a failed duplicate leaves NULL in the out pointer (quirk
    ``dup_failure_writes_invalid``).
    """
    require(k, out_ptr)
    close_source = (
        options == DUPLICATE_CLOSE_SOURCE
        if k.quirks.dup_close_source_exact_option
        else bool(options & DUPLICATE_CLOSE_SOURCE)
    )
    obj = k.table.lookup(source, t)
    if obj is None:
        write_u32(k, out_ptr, 0xFFFFFFFF if k.quirks.dup_failure_writes_invalid else 0)
        if close_source:
            k.table.remove_handle(source, t)
        return STATUS_INVALID_HANDLE
    if close_source and not k.quirks.dup_close_source_after_allocating:
        k.table.retain_object(obj)  # the duplication's own reference, across the close
        k.table.remove_handle(source, t)
        write_u32(k, out_ptr, k.table.add_handle(obj))
        k.table.release_object(obj)
        return STATUS_SUCCESS
    write_u32(k, out_ptr, k.table.add_handle(obj))
    if close_source:
        k.table.remove_handle(source, t)
    return STATUS_SUCCESS


def type_name_of(k: KernelState, type_ptr: int) -> str | None:
    """The object type an ObjectType argument names (None for 0; "?" for no known type)."""
    if not type_ptr:
        return None
    for type_name, address in k.data_exports_by_type.items():
        if address == type_ptr:
            return type_name
    return "?"


def body_pointer(k: KernelState, obj: KernelObject) -> int:
    """The guest pointer ObReferenceObjectByHandle hands out for ``obj``."""
    if k.quirks.ob_reference_untyped_marker:
        if obj.TYPE in CANARY_NULL_BODY_TYPES:
            return 0
        if obj.TYPE not in CANARY_BODY_TYPES:
            return NO_BODY_MARKER
    if obj.body == 0:
        from x360k.exports.common import allocate_body

        allocate_body(k, obj, 16, None)
    return obj.body


def object_from_pointer(k: KernelState, ptr: int) -> KernelObject | None:
    """Resolve a guest object pointer (a body x360k handed out, or a bridged structure)."""
    obj = k.bodies.get(ptr)
    if obj is not None and not obj.destroyed:
        return obj
    bridge = k.ext.get("bridge")
    if bridge is not None:
        resolved: KernelObject | None = bridge(k, ptr)
        return resolved
    return None


@GROUP.export(
    "ObReferenceObjectByHandle",
    0x110,
    Param("handle", K.HANDLE),
    Param("object_type", K.PTR, optional=True),
    Param("out_object", K.OUT_U32),
)
def ob_reference_object_by_handle(
    k: KernelState, t: Thread, handle: int, type_ptr: int, out_ptr: int
) -> int:
    """Take an explicit reference and return the object's guest pointer (0 written first)."""
    require(k, out_ptr)
    write_u32(k, out_ptr, 0)
    obj = k.table.lookup(handle, t)
    if obj is None:
        return STATUS_INVALID_HANDLE
    if type_ptr:
        expected = k.data_exports_by_type.get(obj.TYPE)
        checked = obj.TYPE in CANARY_CHECKED_TYPES or not k.quirks.ob_reference_untyped_marker
        if checked and expected != type_ptr:
            return STATUS_OBJECT_TYPE_MISMATCH
    pointer = body_pointer(k, obj)
    k.table.reference(obj)
    write_u32(k, out_ptr, pointer)
    return STATUS_SUCCESS


@GROUP.export("ObDereferenceObject", 0x105, Param("object", K.PTR), returns=Returns.VOID)
def ob_dereference_object(k: KernelState, t: Thread, ptr: int) -> int:
    """Give back an explicit reference taken through a guest object pointer."""
    if ptr == 0 or (ptr == NO_BODY_MARKER and k.quirks.ob_reference_untyped_marker):
        return 0
    obj = object_from_pointer(k, ptr)
    if obj is not None:
        k.table.dereference(obj, t)
    return 0


@GROUP.export("ObReferenceObject", 0x10F, Param("object", K.PTR), returns=Returns.VOID)
def ob_reference_object(k: KernelState, t: Thread, ptr: int) -> int:
    """Take an explicit reference through a guest object pointer."""
    obj = object_from_pointer(k, ptr)
    if obj is not None:
        k.table.reference(obj)
    return 0


@GROUP.export(
    "ObOpenObjectByName",
    0x10D,
    Param("object_attributes", K.ATTRS),
    Param("object_type", K.PTR, optional=True),
    Param("parse_context", K.U32),
    Param("handle", K.OUT_HANDLE),
)
def ob_open_object_by_name(
    k: KernelState, t: Thread, attrs: int, type_ptr: int, unknown: int, out_ptr: int
) -> int:
    """Open a named object: its existing handle (canary) or a new one (console)."""
    if attrs == 0:
        return STATUS_INVALID_PARAMETER
    require(k, out_ptr)
    name = k.memory.read_object_name(attrs)
    ns = object_namespace(k)
    if ns is not None:
        want = None if k.quirks.open_by_name_ignores_type else type_name_of(k, type_ptr)
        found = ns.lookup(t, k.memory.read_u32(attrs), name, want)
        if isinstance(found, int):
            return found
        write_u32(k, out_ptr, open_handle(k, found))
        return STATUS_SUCCESS
    obj = k.table.find_name(name) if name else None
    if obj is None:
        return STATUS_OBJECT_NAME_NOT_FOUND
    typed = type_ptr and not k.quirks.open_by_name_ignores_type
    if typed and k.data_exports_by_type.get(obj.TYPE) != type_ptr:
        return STATUS_OBJECT_TYPE_MISMATCH
    write_u32(k, out_ptr, open_handle(k, obj))
    return STATUS_SUCCESS


@GROUP.export(
    "ObOpenObjectByPointer",
    0x10E,
    Param("object", K.PTR),
    Param("object_type", K.PTR, optional=True),
    Param("handle", K.OUT_HANDLE),
)
def ob_open_object_by_pointer(
    k: KernelState, t: Thread, ptr: int, type_ptr: int, out_ptr: int
) -> int:
    """A handle to the object behind a guest pointer (0 written first)."""
    require(k, out_ptr)
    write_u32(k, out_ptr, 0)
    obj = object_from_pointer(k, ptr)
    if obj is None:
        return STATUS_UNSUCCESSFUL
    write_u32(k, out_ptr, open_handle(k, obj))
    return STATUS_SUCCESS


@GROUP.export(
    "ObReferenceObjectByName",
    0x111,
    Param("name", K.ANSI_STRING),
    Param("attributes", K.U32),
    Param("object_type", K.PTR, optional=True),
    Param("parse_context", K.U32),
    Param("out_object", K.OUT_U32),
)
def ob_reference_object_by_name(
    k: KernelState,
    t: Thread,
    name_ptr: int,
    attributes: int,
    type_ptr: int,
    parse: int,
    out_ptr: int,
) -> int:
    """Reference a named object; canary reads the name up to a NUL and counts twice."""
    require(k, out_ptr)
    if name_ptr == 0:
        return STATUS_INVALID_PARAMETER
    buffer = k.memory.read_u32(name_ptr + 4)
    name = k.memory.read_cstring(buffer) if buffer else b""
    if not k.quirks.ob_reference_by_name_double_counts:
        name = k.memory.read_ansi_string(name_ptr)
    ns = object_namespace(k)
    if ns is not None:
        found = ns.lookup(t, 0, name, type_name_of(k, type_ptr))
        if isinstance(found, int):
            return found
        k.table.reference(found)
        write_u32(k, out_ptr, body_pointer(k, found))
        return STATUS_SUCCESS
    obj = k.table.find_name(name) if name else None
    if obj is None:
        return STATUS_OBJECT_NAME_NOT_FOUND
    checked = type_ptr and obj.TYPE in CANARY_CHECKED_TYPES
    if checked and k.data_exports_by_type.get(obj.TYPE) != type_ptr:
        return STATUS_OBJECT_TYPE_MISMATCH
    if k.quirks.ob_reference_by_name_double_counts:
        k.table.reference(obj)
    k.table.reference(obj)
    write_u32(k, out_ptr, body_pointer(k, obj))
    return STATUS_SUCCESS


def _lookup_thread(k: KernelState, thread_id: int, out_ptr: int) -> int:
    require(k, out_ptr)
    target = k.thread_by_id(thread_id)
    if target is None or target.destroyed:
        write_u32(k, out_ptr, 0)
        return STATUS_INVALID_PARAMETER
    k.table.reference(target)
    write_u32(k, out_ptr, target.kthread)
    return STATUS_SUCCESS


@GROUP.export(
    "ObLookupThreadByThreadId", 0x10B, Param("thread_id", K.U32), Param("thread", K.OUT_U32)
)
def ob_lookup_thread_by_thread_id(k: KernelState, t: Thread, thread_id: int, out_ptr: int) -> int:
    """A referenced KTHREAD pointer for a thread id."""
    return _lookup_thread(k, thread_id, out_ptr)


@GROUP.export(
    "ObLookupAnyThreadByThreadId", 0x10A, Param("thread_id", K.U32), Param("thread", K.OUT_U32)
)
def ob_lookup_any_thread_by_thread_id(
    k: KernelState, t: Thread, thread_id: int, out_ptr: int
) -> int:
    """As ObLookupThreadByThreadId (x360k has one process)."""
    return _lookup_thread(k, thread_id, out_ptr)
