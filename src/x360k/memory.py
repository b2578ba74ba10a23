"""Guest memory: a sparse 32-bit big-endian address space owned by the kernel.

Memory is a set of mapped regions, each one ``bytearray`` whose buffer never
moves, so a CPU emulator can map the very same host memory (no copy on each
access) while the kernel reads and writes it here. Regions are aligned to
64 KiB pages; a page table maps page numbers to their region for O(1) lookup.
Touching an address that no region covers raises :class:`GuestMemoryError`,
which the export dispatcher turns into STATUS_ACCESS_VIOLATION.

Which ranges exist is the address space's decision (x360k/address_space.py,
``self.space``): committing maps anonymous ``mmap`` backing here, releasing
unmaps it, and the kernel's own arenas grow by claiming chunks there, so the
guest, the kernel and the CPU see one map.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from x360k.address_space import AddressSpace

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


#: A region's bytes: a ``bytearray`` for what the kernel maps itself, an anonymous
#: ``mmap`` for committed memory (zero pages cost nothing until touched; unmapping
#: gives them back).
Backing = bytearray | mmap.mmap


@dataclass(slots=True, eq=False)
class Region:
    """One mapped range ``[base, base + len(data))``."""

    base: int
    data: Backing
    name: str
    #: Mapped for the address space's commits (and unmapped by it).
    managed: bool = False

    @property
    def end(self) -> int:
        return self.base + len(self.data)


_MapListener = Callable[[Region], None]
#: (base, size, cpu access bits) for a run of pages whose access changed.
_ProtectListener = Callable[[int, int, int], None]


@dataclass(slots=True)
class _Arena:
    """A bump allocator over regions it maps on demand."""

    start: int
    limit: int
    chunk: int
    cursor: int = 0
    mapped_end: int = 0


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
        self._regions: dict[int, Region] = {}
        self._heap = _Arena(self.HEAP_BASE, self.HEAP_LIMIT, 1 << 20)
        self._system = _Arena(self.SYSTEM_BASE, self.SYSTEM_LIMIT, 1 << 20)
        self._system_free: dict[tuple[int, int], list[int]] = {}
        self._map_listeners: list[_MapListener] = []
        self._unmap_listeners: list[_MapListener] = []
        self._protect_listeners: list[_ProtectListener] = []
        self.space = AddressSpace(self)

    @property
    def regions(self) -> list[Region]:
        """Every mapped region, in the order they were mapped."""
        return list(self._regions.values())

    # -- mapping ------------------------------------------------------------------------------

    def map(self, base: int, size: int, name: str = "") -> Region:
        """Map ``size`` zeroed bytes at ``base`` (both rounded out to whole pages).

        The range is recorded in the address space as committed (an image, the
        kernel's data), so guest allocations never land on it.
        """
        start = base & ~(PAGE_SIZE - 1)
        end = (base + size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        region = self._add_region(start, end, bytearray(max(end - start, 0)), name, base, size)
        self.space.note_mapped(start, end, "image")
        return region

    def map_backing(self, base: int, size: int) -> Region:
        """Map committed memory for the address space: zero pages that cost nothing untouched."""
        return self._add_region(
            base, base + size, mmap.mmap(-1, size), "committed", base, size, True
        )

    def unmap_backing(self, address: int, needed: Callable[[int, int], bool]) -> None:
        """Unmap the address space's region at ``address`` unless ``needed(base, end)``.

        Regions the kernel mapped itself (``map``) are never unmapped.
        """
        region = self._pages.get(address >> PAGE_SHIFT)
        if region is None or not region.managed or needed(region.base, region.end):
            return
        for page in range(region.base >> PAGE_SHIFT, region.end >> PAGE_SHIFT):
            del self._pages[page]
        del self._regions[region.base]
        for listener in self._unmap_listeners:
            listener(region)
        data = region.data
        if isinstance(data, mmap.mmap):
            # A view of it may still be alive somewhere; the collector frees it later then.
            with contextlib.suppress(BufferError):
                data.close()

    def _add_region(
        self,
        start: int,
        end: int,
        data: Backing,
        name: str,
        base: int,
        size: int,
        managed: bool = False,
    ) -> Region:
        if start < 0 or end > ADDRESS_LIMIT or end <= start:
            raise ValueError(f"cannot map 0x{base:X}+0x{size:X}")
        for page in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
            if page in self._pages:
                raise ValueError(f"page 0x{page << PAGE_SHIFT:08X} already mapped")
        region = Region(start, data, name, managed)
        for page in range(start >> PAGE_SHIFT, end >> PAGE_SHIFT):
            self._pages[page] = region
        self._regions[start] = region
        for listener in self._map_listeners:
            listener(region)
        return region

    def on_map(self, listener: _MapListener) -> None:
        """Call ``listener(region)`` for every region mapped from now on (a CPU mirrors them)."""
        self._map_listeners.append(listener)

    def on_unmap(self, listener: _MapListener) -> None:
        """Call ``listener(region)`` for every region unmapped from now on (before it closes)."""
        self._unmap_listeners.append(listener)

    def on_protect(self, listener: _ProtectListener) -> None:
        """Call ``listener(base, size, access)`` when committed pages change CPU access."""
        self._protect_listeners.append(listener)

    def protection_changed(self, low: int, high: int) -> None:
        """Tell protection listeners the CPU access of the committed pages in ``[low, high)``.

        Only regions the address space mapped are reported: what the kernel maps
        itself keeps the access it was mapped with.
        """
        if not self._protect_listeners:
            return
        runs: list[tuple[int, int, int]] = []
        step = 0x1000
        for address in range(low & ~(step - 1), high, step):
            region = self._pages.get(address >> PAGE_SHIFT)
            if region is None or not region.managed:
                continue
            access = self.space.cpu_access_of(address)
            if runs and runs[-1][0] + runs[-1][1] == address and runs[-1][2] == access:
                runs[-1] = (runs[-1][0], runs[-1][1] + step, access)
            else:
                runs.append((address, step, access))
        for base, size, access in runs:
            for listener in self._protect_listeners:
                listener(base, size, access)

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
        try:
            self._locate(address, size)
        except GuestMemoryError:
            self._pieces(address, size)

    def span(self, address: int, size: int) -> tuple[Backing, int]:
        """The region buffer and offset holding ``[address, address + size)``.

        For hot paths that pack several fields of one structure with a single
        lookup (critical sections); raises :class:`GuestMemoryError` like any access.
        """
        return self._locate(address, size)

    def views(self, address: int, size: int) -> list[memoryview]:
        """Writable views of ``[address, address + size)``, one per region it crosses.

        For I/O straight into guest memory (``os.preadv``); raises
        :class:`GuestMemoryError` before making any view if a byte is unmapped.
        The caller releases the views (a live view keeps a region's mmap open).
        """
        return [memoryview(b)[o : o + n] for b, o, n in self._pieces(address, size)]

    def _locate(self, address: int, size: int) -> tuple[Backing, int]:
        region = self._pages.get(address >> PAGE_SHIFT)
        if region is None or address < 0 or address + size > region.base + len(region.data):
            # A range may still be covered by two adjacent regions; scalars accept only one
            # region per access (structures never straddle a mapping boundary in practice),
            # which keeps the fast path to one dict lookup. Byte ranges go on in _pieces.
            raise GuestMemoryError(address, size)
        return region.data, address - region.base

    def _pieces(self, address: int, size: int) -> Iterator[tuple[Backing, int, int]]:
        """``(buffer, offset, length)`` for each region a range crosses; all or an error.

        Checked in full before the first piece is yielded, so a write never stops halfway.
        """
        pieces: list[tuple[Backing, int, int]] = []
        at, left = address, size
        while left > 0:
            region = self._pages.get(at >> PAGE_SHIFT) if 0 <= at < ADDRESS_LIMIT else None
            if region is None:
                raise GuestMemoryError(address, size)
            n = min(left, region.end - at)
            pieces.append((region.data, at - region.base, n))
            at += n
            left -= n
        return iter(pieces)

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
        try:
            buf, off = self._locate(address, size)
        except GuestMemoryError:
            return b"".join(bytes(b[o : o + n]) for b, o, n in self._pieces(address, size))
        return bytes(buf[off : off + size])

    def write_bytes(self, address: int, data: bytes) -> None:
        if not data:
            return
        try:
            buf, off = self._locate(address, len(data))
        except GuestMemoryError:
            at = 0
            for b, o, n in self._pieces(address, len(data)):
                b[o : o + n] = data[at : at + n]
                at += n
            return
        buf[off : off + len(data)] = data

    def fill(self, address: int, size: int, byte: int = 0) -> None:
        if size:
            for b, o, n in self._pieces(address, size):
                b[o : o + n] = bytes([byte]) * n

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
        """Bump-allocate in ``arena``, growing it by chunks claimed from the address space.

        A chunk goes where the address space has room at or above the arena's end:
        right after it when free, past whatever the guest allocated there if not.
        """
        if size < 0 or align <= 0 or align & (align - 1):
            raise ValueError(f"bad allocation size {size} / alignment {align}")
        if arena.mapped_end == 0:
            arena.cursor = arena.mapped_end = arena.start
        address = (arena.cursor + align - 1) & ~(align - 1)
        end = address + max(size, 1)
        if end > arena.mapped_end:
            grow = max(arena.chunk, (max(size, 1) + align + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
            got = (
                None
                if end > arena.limit
                else self.space.claim(arena.mapped_end, arena.limit, grow, "kernel")
            )
            if got is None:
                raise MemoryError(f"guest {name} arena exhausted")
            if got != arena.mapped_end:
                address = (got + align - 1) & ~(align - 1)
                end = address + max(size, 1)
            arena.mapped_end = got + grow
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
