"""Small helpers every handler module uses: out-pointers, typed lookups, named creation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar

from x360k.object_namespace import Placement, object_namespace
from x360k.objects.base import KernelObject
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_EXISTS,
    STATUS_OBJECT_TYPE_MISMATCH,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

ObjT = TypeVar("ObjT", bound=KernelObject)

OBJ_OPENIF: Final = 0x80
#: Canary's stamp in a dispatcher header's wait-list flink: 'X', 'E', 'N', 0.
STAMP: Final = 0x58454E00


def require(k: KernelState, ptr: int, size: int = 4) -> None:
    """Fail the call with STATUS_ACCESS_VIOLATION now, before any state changes, if a
    non-null out-pointer is not writable."""
    if ptr:
        k.memory.require(ptr, size)


def write_u32(k: KernelState, ptr: int, value: int) -> None:
    if ptr:
        k.memory.write_u32(ptr, value)


def s32(value: int) -> int:
    """A guest register's low word as a signed 32-bit value."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def previous_state(k: KernelState, state: bool) -> int:
    """The previous event state a set, reset or pulse reports (canary: always 1)."""
    return 1 if k.quirks.previous_state_always_one else int(state)


def lookup_typed(k: KernelState, t: Thread, handle: int, cls: type[ObjT]) -> ObjT | int:
    """The object behind ``handle`` if it is a ``cls``, else the status to return.

    A wrong type gets STATUS_OBJECT_TYPE_MISMATCH under both profiles: canary
    does not check and its behaviour is undefined (see the divergence table).
    """
    obj = k.table.lookup(handle, t)
    if obj is None:
        return STATUS_INVALID_HANDLE
    if not isinstance(obj, cls):
        return STATUS_OBJECT_TYPE_MISMATCH
    return obj


def object_name(k: KernelState, attributes: int) -> bytes:
    """The name an OBJECT_ATTRIBUTES carries (empty for a null pointer or no name)."""
    return b"" if attributes == 0 else k.memory.read_object_name(attributes)


def start_named_create(
    k: KernelState, t: Thread, handle_ptr: int, attrs: int, cls: type[KernelObject]
) -> bytes | Placement | int:
    """The first step of every Nt*Create*: the name to create under, or the status to return.

    The out-pointer is checked first; an existing object of the name is then
    opened (:func:`open_existing_named`) and its status returned instead.
    With the console's object namespace the name is a path, and the answer is
    where in the tree the new object goes (:class:`Placement`).
    """
    require(k, handle_ptr)
    ns = object_namespace(k)
    if ns is not None:
        if attrs == 0 or k.memory.read_u32(attrs + 4) == 0:
            return b""  # no ObjectName: an unnamed object
        mem = k.memory
        placed = ns.place(
            t, mem.read_u32(attrs), mem.read_object_name(attrs), mem.read_u32(attrs + 8), cls.TYPE
        )
        if isinstance(placed, KernelObject):
            if handle_ptr:
                write_u32(k, handle_ptr, open_handle(k, placed))
            return STATUS_OBJECT_NAME_EXISTS
        return placed
    name = object_name(k, attrs)
    opened = open_existing_named(k, t, attrs, name, handle_ptr, cls)
    return name if opened is None else opened


def open_existing_named(
    k: KernelState,
    t: Thread,
    attributes: int,
    name: bytes,
    handle_ptr: int,
    cls: type[KernelObject],
) -> int | None:
    """The named-object step of every Nt*Create*: None when the name is new (create it).

    Otherwise the status of opening the existing object, with the handle
    written as each profile does it.
    """
    if not name:
        return None
    existing = k.table.find_name(name)
    if existing is None:
        return None
    if type(existing) is not cls:
        if k.quirks.name_type_clash_invalid_handle:
            return STATUS_INVALID_HANDLE
        return STATUS_OBJECT_TYPE_MISMATCH
    if not k.quirks.named_create_ignores_openif:
        flags = k.memory.read_u32(attributes + 8)
        if not flags & OBJ_OPENIF:
            return STATUS_OBJECT_NAME_COLLISION
    if handle_ptr:
        write_u32(k, handle_ptr, open_handle(k, existing))
    return STATUS_OBJECT_NAME_EXISTS


def open_handle(k: KernelState, obj: KernelObject) -> int:
    """Hand the caller a handle to an existing object, as each profile opens objects.

    Canary gives out the object's primary handle again with one more count on
    its slot; the console makes a new slot.
    """
    primary = obj.primary_handle
    if k.quirks.named_open_shares_handle and primary is not None:
        k.table.retain_handle(primary)
        return primary
    return k.table.add_handle(obj)


def finish_create(
    k: KernelState, obj: KernelObject, name: bytes | Placement, handle_ptr: int
) -> int:
    """Give a new object its slot and name, write the handle; returns the handle."""
    handle = k.table.add_handle(obj)
    if isinstance(name, Placement):
        ns = object_namespace(k)
        assert ns is not None
        ns.attach(obj, name)
    elif name:
        # A collision here can only come from a race in canary; its status is discarded.
        k.table.register_name(obj, name)
    write_u32(k, handle_ptr, handle)
    return handle


def stamp_body(k: KernelState, obj: KernelObject, body: int) -> None:
    """Stamp a guest dispatcher header as canary does, and remember which object it is."""
    mem = k.memory
    mem.write_u32(body + 8, STAMP)
    mem.write_u32(body + 12, obj.primary_handle or 0)
    obj.body = body
    k.bodies[body] = obj


def allocate_body(k: KernelState, obj: KernelObject, size: int, type_byte: int | None) -> int:
    """Allocate the guest body canary gives Nt-created events, semaphores and threads.

    The body follows a 24-byte object header; canary leaves the type byte and
    signal state 0 (``type_byte`` None), the console writes them.
    """
    mem = k.memory
    header = mem.alloc_system(24 + size, 8)
    body = header + 24
    k.owned_bodies[body] = (header, 24 + size)
    if type_byte is not None:
        mem.write_u8(body, type_byte)
        mem.write_u8(body + 2, size // 4)
    stamp_body(k, obj, body)
    return body
