"""Guest memory: a sparse 32-bit big-endian address space owned by the kernel.

Memory is a set of mapped regions, each one ``bytearray`` whose buffer never
moves, so a CPU emulator can map the very same host memory (no copy on each
access) while the kernel reads and writes it here. Regions are aligned to
64 KiB pages; a page table maps page numbers to their region for O(1) lookup.
Touching an address that no region covers raises :class:`GuestMemoryError`,
which the export dispatcher turns into STATUS_ACCESS_VIOLATION.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

PAGE_SHIFT = 16
PAGE_SIZE = 1 << PAGE_SHIFT
ADDRESS_LIMIT = 1 << 32

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_S64 = struct.Struct(">q")


class GuestMemoryError(Exception):
    """An access to guest memory that is not mapped (or out of the 32-bit range)."""

    def __init__(self, address: int, size: int) -> None:
        super().__init__(f"guest memory not mapped at 0x{address:08X} (size {size})")
        self.address = address
        self.size = size


@dataclass(slots=True)
class Region:
    """One mapped range ``[base, base + len(data))``."""

    base: int
    data: bytearray
    name: str

    @property
    def end(self) -> int:
        return self.base + len(self.data)


_MapListener = Callable[[Region], None]


@dataclass(slots=True)
class _Arena:
    """A bump allocator over regions it maps on demand."""

    start: int
    limit: int
    chunk: int
    cursor: int = 0
    mapped_end: int = 0
    regions: list[Region] = field(default_factory=list)


class GuestMemory:
    """The guest's address space with an allocator for guest heap memory."""

    #: Where ``alloc`` places guest heap blocks (the title's virtual range).
    HEAP_BASE = 0x40000000
    HEAP_LIMIT = 0x7F000000
    #: Where the kernel places bodies it allocates for its own objects
    #: (KTHREAD, KEVENT, stacks): the physical range canary uses.
    SYSTEM_BASE = 0xA0000000
    SYSTEM_LIMIT = 0xBF000000

    def __init__(self) -> None:
        self._pages: dict[int, Region] = {}
        self.regions: list[Region] = []
        self._heap = _Arena(self.HEAP_BASE, self.HEAP_LIMIT, 1 << 20)
        self._system = _Arena(self.SYSTEM_BASE, self.SYSTEM_LIMIT, 1 << 20)
        self._system_free: dict[tuple[int, int], list[int]] = {}
        self._map_listeners: list[_MapListener] = []

    # -- mapping ------------------------------------------------------------------------------

    def map(self, base: int, size: int, name: str = "") -> Region:
        """Map ``size`` zeroed bytes at ``base`` (both rounded out to whole pages)."""
        start = base & ~(PAGE_SIZE - 1)
        end = (base + size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if start < 0 or end > ADDRESS_LIMIT or end <= start:
            raise ValueError(f"cannot map 0x{base:X}+0x{size:X}")
        for page in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
            if page in self._pages:
                raise ValueError(f"page 0x{page << PAGE_SHIFT:08X} already mapped")
        region = Region(start, bytearray(end - start), name)
        for page in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
            self._pages[page] = region
        self.regions.append(region)
        for listener in self._map_listeners:
            listener(region)
        return region

    def on_map(self, listener: _MapListener) -> None:
        """Call ``listener(region)`` for every region mapped from now on (a CPU mirrors them)."""
        self._map_listeners.append(listener)

    def is_mapped(self, address: int, size: int = 1) -> bool:
        """True when every byte of ``[address, address + size)`` is mapped."""
        try:
            self._locate(address, size)
        except GuestMemoryError:
            return False
        return True

    def require(self, address: int, size: int) -> None:
        """Raise :class:`GuestMemoryError` unless the whole range is mapped.

        Export handlers call this for out-pointers *before* changing any kernel
        state, so a bad pointer leaves the kernel exactly as it was.
        """
        self._locate(address, size)

    def span(self, address: int, size: int) -> tuple[bytearray, int]:
        """The region buffer and offset holding ``[address, address + size)``.

        For hot paths that pack several fields of one structure with a single
        lookup (critical sections); raises :class:`GuestMemoryError` like any access.
        """
        return self._locate(address, size)

    def _locate(self, address: int, size: int) -> tuple[bytearray, int]:
        region = self._pages.get(address >> PAGE_SHIFT)
        if region is None or address < 0 or address + size > region.base + len(region.data):
            # A range may still be covered by two adjacent regions; accept only one region
            # per access, which is all the kernel needs (structures never straddle a mapping
            # boundary in practice) and keeps the fast path to one dict lookup.
            raise GuestMemoryError(address, size)
        return region.data, address - region.base

    # -- scalar access (big-endian) ------------------------------------------------

    def read_u8(self, address: int) -> int:
        buf, off = self._locate(address, 1)
        return buf[off]

    def write_u8(self, address: int, value: int) -> None:
        buf, off = self._locate(address, 1)
        buf[off] = value & 0xFF

    def read_u16(self, address: int) -> int:
        buf, off = self._locate(address, 2)
        return int(_U16.unpack_from(buf, off)[0])

    def write_u16(self, address: int, value: int) -> None:
        buf, off = self._locate(address, 2)
        _U16.pack_into(buf, off, value & 0xFFFF)

    def read_u32(self, address: int) -> int:
        buf, off = self._locate(address, 4)
        return int(_U32.unpack_from(buf, off)[0])

    def write_u32(self, address: int, value: int) -> None:
        buf, off = self._locate(address, 4)
        _U32.pack_into(buf, off, value & 0xFFFFFFFF)

    def read_s32(self, address: int) -> int:
        value = self.read_u32(address)
        return value - (1 << 32) if value & 0x80000000 else value

    def read_u64(self, address: int) -> int:
        buf, off = self._locate(address, 8)
        return int(_U64.unpack_from(buf, off)[0])

    def write_u64(self, address: int, value: int) -> None:
        buf, off = self._locate(address, 8)
        _U64.pack_into(buf, off, value & 0xFFFFFFFFFFFFFFFF)

    def read_s64(self, address: int) -> int:
        buf, off = self._locate(address, 8)
        return int(_S64.unpack_from(buf, off)[0])

    def write_s64(self, address: int, value: int) -> None:
        self.write_u64(address, value)

    def read_bytes(self, address: int, size: int) -> bytes:
        if size == 0:
            return b""
        buf, off = self._locate(address, size)
        return bytes(buf[off : off + size])

    def write_bytes(self, address: int, data: bytes) -> None:
        if not data:
            return
        buf, off = self._locate(address, len(data))
        buf[off : off + len(data)] = data

    def fill(self, address: int, size: int, byte: int = 0) -> None:
        if size:
            buf, off = self._locate(address, size)
            buf[off : off + size] = bytes([byte]) * size

    def read_cstring(self, address: int, limit: int = 4096) -> bytes:
        """Bytes up to (not including) a NUL, at most ``limit``."""
        buf, off = self._locate(address, 1)
        end = buf.find(b"\0", off, off + limit)
        if end < 0:
            end = min(len(buf), off + limit)
        return bytes(buf[off:end])

    # -- allocation ---------------------------------------------------------------------------

    def alloc(self, size: int, align: int = 8) -> int:
        """Allocate zeroed guest heap memory and return its guest address."""
        return self._bump(self._heap, size, align, "heap")

    def alloc_system(self, size: int, align: int = 8) -> int:
        """Allocate zeroed memory in the kernel's own range (object bodies, stacks)."""
        reusable = self._system_free.get((size, align))
        if reusable:
            address = reusable.pop()
            self.fill(address, size)
            return address
        return self._bump(self._system, size, align, "system")

    def free_system(self, address: int, size: int, align: int = 8) -> None:
        """Give back a block from :meth:`alloc_system`; the next request of that shape reuses it.

        The kernel frees the guest body of an object when the object is destroyed,
        so long runs that create and close objects do not grow guest memory.
        """
        self._system_free.setdefault((size, align), []).append(address)

    def _bump(self, arena: _Arena, size: int, align: int, name: str) -> int:
        if size < 0 or align <= 0 or align & (align - 1):
            raise ValueError(f"bad allocation size {size} / alignment {align}")
        if arena.mapped_end == 0:
            arena.cursor = arena.mapped_end = arena.start
        address = (arena.cursor + align - 1) & ~(align - 1)
        end = address + max(size, 1)
        if end > arena.limit:
            raise MemoryError(f"guest {name} arena exhausted")
        if end > arena.mapped_end:
            grow = max(arena.chunk, (end - arena.mapped_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
            arena.regions.append(self.map(arena.mapped_end, grow, name))
            arena.mapped_end += grow
        arena.cursor = end
        return address

    # -- guest string structures --------------------------------------------------------------

    def read_ansi_string(self, address: int) -> bytes:
        """An ANSI_STRING's bytes: u16 Length, u16 MaximumLength, u32 Buffer (Length bytes)."""
        length = self.read_u16(address)
        buffer = self.read_u32(address + 4)
        if length == 0 or buffer == 0:
            return b""
        return self.read_bytes(buffer, length)

    def read_unicode_string(self, address: int) -> str:
        """A UNICODE_STRING's text (UTF-16BE, Length in bytes)."""
        length = self.read_u16(address)
        buffer = self.read_u32(address + 4)
        if length == 0 or buffer == 0:
            return ""
        return self.read_bytes(buffer, length & ~1).decode("utf-16-be", errors="replace")

    def new_ansi_string(self, text: bytes | str) -> int:
        """Allocate an ANSI_STRING (and its buffer, NUL-terminated) holding ``text``."""
        data = text.encode("latin-1") if isinstance(text, str) else text
        buffer = self.alloc(len(data) + 1, 1)
        self.write_bytes(buffer, data)
        header = self.alloc(8, 4)
        self.write_u16(header, len(data))
        self.write_u16(header + 2, len(data) + 1)
        self.write_u32(header + 4, buffer)
        return header

    def new_object_attributes(
        self, name: bytes | str | None, root: int = 0, attributes: int = 0x40
    ) -> int:
        """Allocate an OBJECT_ATTRIBUTES: u32 RootDirectory, u32 ObjectName*, u32 Attributes."""
        address = self.alloc(12, 4)
        self.write_u32(address, root)
        self.write_u32(address + 4, 0 if name is None else self.new_ansi_string(name))
        self.write_u32(address + 8, attributes)
        return address

    def read_object_name(self, attributes: int) -> bytes:
        """The ObjectName of an OBJECT_ATTRIBUTES (empty when it has none)."""
        name_ptr = self.read_u32(attributes + 4)
        return b"" if name_ptr == 0 else self.read_ansi_string(name_ptr)
