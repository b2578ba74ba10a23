"""ObCreateObject: a raw object (OBJECT_HEADER + body) in guest memory, for titles' own types.

The 0x18-byte header in front of the body: +0 pointer count (1), +4 handle
count (0), +0xB flags (0x10 a title object, 0x1 named), +0x10 the object
type. A named object has a 0x10-byte name-info block in front of the header
(+0 next in directory, +4 directory, +8 an ANSI_STRING) and its name's last
path component copied after the 4-aligned body. Nothing enters the object
table or a directory: that is ObInsertObject's job.

Canary calls the object type's allocate procedure (guest code); x360k takes
every block from its system arena (the kernel's own types have no procedure
here) and leaves a marker when a type names one. Canary's name splitter is a
fatal error (quirk ``ob_create_named_fatal``): the run stops with a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.exports.rtl_exceptions import stop_run
from x360k.native.bridge import fail
from x360k.status import (
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_SUCCESS,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("ob create")

OBJECT_HEADER_SIZE: Final = 0x18
NAME_INFO_SIZE: Final = 0x10
HEADER_FLAGS: Final = 0x0B
HEADER_TYPE: Final = 0x10
FLAG_NAMED: Final = 0x01
FLAG_TITLE_OBJECT: Final = 0x10
#: OBJECT_ATTRIBUTES.Attributes bits choosing the pool: title (0x1000) or system (0x2000).
OBJ_TITLE_POOL: Final = 0x1000
OBJ_SYSTEM_POOL: Final = 0x2000
#: Bodies beyond this are refused as the console's pool would (x360k's arena is smaller).
MAX_BODY: Final = 0x1000000


def _flags(k: KernelState, attributes: int) -> int:
    """The header flags the pool choice gives: a title object unless the system pool is asked."""
    if not attributes:
        return FLAG_TITLE_OBJECT
    bits = k.memory.read_u32(attributes + 8)
    if bits & OBJ_TITLE_POOL or not bits & OBJ_SYSTEM_POOL:
        return FLAG_TITLE_OBJECT
    return 0


def last_component(path: bytes) -> bytes | None:
    """The object's own name: the path's last component; None if the path is malformed.

    A leading backslash is allowed; an empty path, an empty component (two
    backslashes) or a trailing backslash is not.
    """
    parts = (path[1:] if path.startswith(b"\\") else path).split(b"\\")
    if not all(parts):
        return None
    return parts[-1]


@GROUP.export(
    "ObCreateObject",
    0x102,
    Param("object_type", K.PTR),
    Param("object_attributes", K.ATTRS, optional=True),
    Param("object_body_size", K.U32),
    Param("object", K.OUT_U32),
)
def ob_create_object(k: KernelState, t: Thread, otype: int, attrs: int, size: int, out: int) -> int:
    """Allocate a header and a zeroed body; the body's address is written to ``object``."""
    mem = k.memory
    mem.require(out, 4)
    mem.write_u32(out, 0)
    flags = _flags(k, attrs)
    name_ptr = mem.read_u32(attrs + 4) if attrs else 0
    name: bytes | None = None
    if name_ptr:
        if k.quirks.ob_create_named_fatal:
            raise stop_run(
                k, t, "ObCreateObject", "canary's object-name splitter is unimplemented (fatal)"
            )
        length, buffer = mem.read_u16(name_ptr), mem.read_u32(name_ptr + 4)
        name = last_component(mem.read_bytes(buffer, length) if length else b"")
        if name is None:
            return STATUS_OBJECT_NAME_INVALID
    if size > MAX_BODY:
        return STATUS_INSUFFICIENT_RESOURCES
    if otype and mem.read_u32(otype):
        fail(k, t, otype, "object type's allocate procedure not called (x360k allocates)")
    body_size = (size + 3) & ~3 if name is not None else size
    prefix = NAME_INFO_SIZE if name is not None else 0
    total = prefix + OBJECT_HEADER_SIZE + body_size + (len(name) if name is not None else 0)
    try:
        block = mem.alloc_system(total, 8)
    except MemoryError:
        return STATUS_INSUFFICIENT_RESOURCES
    mem.fill(block, total)
    header = block + prefix
    body = header + OBJECT_HEADER_SIZE
    mem.write_u32(header, 1)  # pointer count
    mem.write_u32(header + 4, 0)  # handle count
    mem.write_u32(header + HEADER_TYPE, otype)
    if name is not None:
        copy = body + body_size
        mem.write_bytes(copy, name)
        mem.write_u16(block + 8, len(name))
        mem.write_u16(block + 10, len(name))
        mem.write_u32(block + 12, copy)
        flags = (flags & 0xFE) | FLAG_NAMED
    mem.write_u8(header + HEADER_FLAGS, flags)
    mem.write_u32(out, body)
    return STATUS_SUCCESS
