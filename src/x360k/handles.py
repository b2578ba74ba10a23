"""The object table: slots, handle values, per-slot counts, names and explicit references.

One table serves both profiles; the quirks decide slot order, how handle
values decode, what closing a dead slot does, where explicit references are
counted and when names go away. Every slot that is filled or emptied is
reported to a :class:`TableListener` (the kernel, which turns them into
``handle.create`` / ``handle.destroy`` events), except slots the native-object
bridge makes, which canary does not trace.
"""

from __future__ import annotations

import heapq
from typing import Final, Protocol

from x360k.objects.base import KernelObject
from x360k.objects.thread import Thread, ThreadState
from x360k.quirks import Quirks
from x360k.status import STATUS_INVALID_HANDLE, STATUS_SUCCESS

HANDLE_BASE: Final = 0xF8000000
HOST_HANDLE_BASE: Final = 0x01000000
CURRENT_PROCESS: Final = 0xFFFFFFFF
CURRENT_THREAD: Final = 0xFFFFFFFE
#: Canary's first growth; the console grows one 64-entry bucket at a time.
CANARY_INITIAL_CAPACITY: Final = 16384
CONSOLE_BUCKET: Final = 64
CONSOLE_MAX_SLOTS: Final = 0xFFFFFF >> 2


class ObjectInUse(Exception):
    """A guest call would destroy an object something still uses; nothing was changed.

    Canary frees the object there and goes on using it (a running thread's
    object, an object a slot still holds); the console bug-checks
    (REFERENCE_BY_POINTER). Either way the run cannot go on faithfully, so the
    kernel turns this into a stop report naming the call
    (:func:`x360k.kernel_stop.stop_for`).
    """

    def __init__(self, obj: KernelObject, why: str) -> None:
        super().__init__(f"{obj!r}: {why}")
        self.obj = obj
        self.why = why


class TableInvariantError(AssertionError):
    """The object table disagrees with itself (a bug in x360k, never a guest's doing)."""


class TableListener(Protocol):
    """Told about every slot that is filled or emptied."""

    def handle_created(self, handle: int, obj: KernelObject, traced: bool) -> int:
        """A slot was filled; returns the slot's sid key ((tid << 32) | idx), or -1."""

    def handle_destroyed(self, handle: int, obj: KernelObject, sid_key: int, traced: bool) -> None:
        """A slot was emptied."""

    def object_destroyed(self, obj: KernelObject) -> None:
        """The object's last reference went."""


class SlotAllocator(Protocol):
    def allocate(self) -> int: ...
    def free(self, slot: int) -> None: ...
    def free_slots(self) -> list[int]: ...
    @property
    def capacity(self) -> int: ...


class CanarySlotAllocator:
    """Canary's search: lowest free slot from the cursor upward, wrapping to 0.

    The cursor only moves when the table grows, so two heaps (free slots at or
    above the cursor, and below it) give exactly the slot canary's linear
    probe finds, in O(log n) instead of O(capacity).
    """

    def __init__(self) -> None:
        self._capacity = 0
        self._cursor = 0
        self._upper: list[int] = []
        self._lower: list[int] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def allocate(self) -> int:
        if self._upper:
            return heapq.heappop(self._upper)
        if self._lower:
            return heapq.heappop(self._lower)
        old = self._capacity
        self._capacity = max(CANARY_INITIAL_CAPACITY, 2 * old)
        slot = old
        self._cursor = old + 1
        # Every slot below the old capacity is taken (the table was full), so the
        # only free slots are the new ones above the one just handed out.
        self._lower = []
        self._upper = list(range(old + 1, self._capacity))
        return slot

    def free(self, slot: int) -> None:
        heapq.heappush(self._upper if slot >= self._cursor else self._lower, slot)

    def free_slots(self) -> list[int]:
        return [*self._upper, *self._lower]


class ConsoleSlotAllocator:
    """The console's allocator: a LIFO free list, new entries in order, 64 per bucket."""

    def __init__(self) -> None:
        self._free: list[int] = []
        self._next = 0
        self._capacity = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def allocate(self) -> int:
        if self._free:
            return self._free.pop()
        slot = self._next
        if slot >= CONSOLE_MAX_SLOTS:
            raise MemoryError("handle table full")
        self._next += 1
        if self._next > self._capacity:
            self._capacity += CONSOLE_BUCKET
        return slot

    def free(self, slot: int) -> None:
        self._free.append(slot)

    def free_slots(self) -> list[int]:
        return [*self._free, *range(self._next, self._capacity)]


class ObjectTable:
    """Guest handle table of one kernel."""

    def __init__(self, quirks: Quirks, listener: TableListener) -> None:
        self.quirks = quirks
        self.listener = listener
        self.allocator: SlotAllocator = (
            CanarySlotAllocator() if quirks.lowest_free_slot_allocator else ConsoleSlotAllocator()
        )
        self._objects: list[KernelObject | None] = []
        self._counts: list[int] = []
        self._sid_keys: list[int] = []
        self._traced: list[bool] = []
        self.names: dict[bytes, KernelObject] = {}
        self.live_objects: dict[int, KernelObject] = {}
        self._serial = 0
        self.destroyed_count = 0
        #: Canary decodes every 0xF8xxxxxx value by its slot bits alone: the lookup fast path.
        self._fast_decode = quirks.handle_ignores_base_bits
        #: Canary counts explicit references (a thread's own included) on the primary slot.
        self._self_ref_on_slot = quirks.ob_reference_on_primary_slot

    # -- handle values ------------------------------------------------------------------------

    def _slot_of(self, handle: int) -> int | None:
        """The guest slot a (translated, non-pseudo) value names, or None if it names none."""
        if self.quirks.handle_ignores_base_bits:
            if HOST_HANDLE_BASE < handle < HANDLE_BASE:
                return None  # host table: nothing a title can reach lives there
            return (handle & 0x07FFFFFF) >> 2
        if handle & 0xFF000000 != HANDLE_BASE:
            return None
        # The low two bits are the title's own tag bits: the console masks them off.
        return (handle & 0x00FFFFFF) >> 2

    @staticmethod
    def handle_of(slot: int) -> int:
        return HANDLE_BASE + 4 * slot

    def translate(self, handle: int, thread: Thread | None) -> int:
        """Canary's pseudo-handle translation: -1 -> 0, -2 -> the caller's primary handle."""
        handle &= 0xFFFFFFFF
        if handle == CURRENT_PROCESS:
            return 0
        if handle == CURRENT_THREAD:
            if thread is None or not thread.handles:
                return 0
            return thread.handles[0]
        return handle

    # -- lookups ------------------------------------------------------------------------------

    def lookup(self, handle: int, thread: Thread | None) -> KernelObject | None:
        """The object a guest handle names (pseudo-handles included), or None."""
        handle &= 0xFFFFFFFF
        if handle >= HANDLE_BASE and handle < CURRENT_THREAD:
            # Every ordinary handle value: decode it here, without the general path.
            if self._fast_decode:
                fast = (handle & 0x07FFFFFF) >> 2
            elif handle & 0xFF000000 == HANDLE_BASE:
                fast = (handle & 0x00FFFFFF) >> 2
            else:
                return None
            try:
                return self._objects[fast]
            except IndexError:
                return None
        if handle == CURRENT_THREAD and not self.quirks.pseudo_thread_is_primary_slot:
            return thread
        handle = self.translate(handle, thread)
        if handle == 0:
            return None
        slot = self._slot_of(handle)
        if slot is None or slot >= len(self._objects):
            return None
        return self._objects[slot]

    def object_at(self, handle: int) -> KernelObject | None:
        """The occupant of a real (non-pseudo) handle value, or None."""
        slot = self._slot_of(handle)
        if slot is None or slot >= len(self._objects):
            return None
        return self._objects[slot]

    def slot_count(self, handle: int) -> int:
        """The slot's handle_ref_count (0 for a free or invalid slot)."""
        slot = self._slot_of(handle)
        if slot is None or slot >= len(self._counts):
            return 0
        return self._counts[slot]

    def sid_key(self, handle: int) -> int:
        slot = self._slot_of(handle)
        if slot is None or slot >= len(self._sid_keys) or self._objects[slot] is None:
            return -1
        return self._sid_keys[slot]

    def live_handles(self) -> list[tuple[int, KernelObject]]:
        """Every occupied slot as (handle, object), in slot order."""
        return [
            (self.handle_of(slot), obj) for slot, obj in enumerate(self._objects) if obj is not None
        ]

    # -- slots --------------------------------------------------------------------------------

    def add_handle(self, obj: KernelObject, traced: bool = True) -> int:
        """Fill a fresh slot with ``obj`` (count 1, one object reference) and return its handle."""
        if obj.serial == 0:
            self._serial += 1
            obj.serial = self._serial
        slot = self.allocator.allocate()
        while slot >= len(self._objects):
            grow = max(self.allocator.capacity - len(self._objects), 1)
            self._objects.extend([None] * grow)
            self._counts.extend([0] * grow)
            self._sid_keys.extend([-1] * grow)
            self._traced.extend([False] * grow)
        handle = self.handle_of(slot)
        self._objects[slot] = obj
        self._counts[slot] = 1
        self._traced[slot] = traced
        obj.handles.append(handle)
        obj.refs += 1
        self.live_objects[obj.serial] = obj
        self._sid_keys[slot] = self.listener.handle_created(handle, obj, traced)
        return handle

    def _in_count_range(self, slot: int) -> bool:
        # Canary's count operations accept slot == capacity (an off-by-one past the end).
        return slot <= self.allocator.capacity

    def retain_handle(self, handle: int) -> int:
        """Add one to a slot's count (canary's RetainHandle; works on empty slots too)."""
        slot = self._slot_of(handle)
        if slot is None or not self._in_count_range(slot):
            return STATUS_INVALID_HANDLE
        if slot < len(self._counts):
            self._counts[slot] += 1
        return STATUS_SUCCESS

    def release_handle(self, handle: int, thread: Thread | None) -> int:
        """NtClose: one count off the slot the value names; the slot goes at exactly zero."""
        handle &= 0xFFFFFFFF
        if handle == CURRENT_THREAD and not self.quirks.pseudo_thread_is_primary_slot:
            return STATUS_INVALID_HANDLE
        handle = self.translate(handle, thread)
        if handle == 0:
            return STATUS_INVALID_HANDLE
        slot = self._slot_of(handle)
        if slot is None:
            return STATUS_INVALID_HANDLE
        occupied = slot < len(self._objects) and self._objects[slot] is not None
        if not self.quirks.double_close_succeeds:
            if not occupied:
                return STATUS_INVALID_HANDLE
            self._remove_slot(slot)
            return STATUS_SUCCESS
        if not self._in_count_range(slot):
            return STATUS_INVALID_HANDLE
        if slot >= len(self._counts):
            return STATUS_SUCCESS
        if self._counts[slot] == 1 and occupied:
            self._remove_slot(slot)  # checked before anything changes; the count goes to 0
        else:
            self._counts[slot] -= 1
        return STATUS_SUCCESS

    def remove_handle(self, handle: int, thread: Thread | None) -> int:
        """Empty a slot whatever its count (DUPLICATE_CLOSE_SOURCE, canary's RemoveHandle)."""
        handle &= 0xFFFFFFFF
        if handle == CURRENT_THREAD and not self.quirks.pseudo_thread_is_primary_slot:
            return STATUS_INVALID_HANDLE
        handle = self.translate(handle, thread)
        slot = None if handle == 0 else self._slot_of(handle)
        if slot is None or not self._in_count_range(slot):
            return STATUS_INVALID_HANDLE
        if slot < len(self._objects) and self._objects[slot] is not None:
            self._remove_slot(slot)
        elif not self.quirks.double_close_succeeds:
            return STATUS_INVALID_HANDLE
        return STATUS_SUCCESS

    def _check_release(self, obj: KernelObject, handles_after: int) -> None:
        """Refuse (before anything changes) a release that would leave ``obj`` in use but freed.

        An object must keep a reference per slot holding it, and a thread that
        has not ended must keep its own (console: counted on the object; canary
        counts it on the slot, so there the thread merely must not reach zero).
        """
        refs_after = obj.refs - 1
        if refs_after > handles_after:
            return  # the common case: a reference to spare even for a running thread's own
        live_thread = isinstance(obj, Thread) and obj.state is not ThreadState.TERMINATED
        if live_thread and refs_after <= 0:
            raise ObjectInUse(obj, "would destroy the object of a thread that is still running")
        needed = handles_after + (1 if live_thread and not self._self_ref_on_slot else 0)
        if refs_after < needed:
            holders = f"{handles_after} slot(s)" + (
                " and its running thread" if needed > handles_after else ""
            )
            raise ObjectInUse(
                obj, f"would drop its references to {refs_after} while {holders} hold it"
            )

    def _remove_slot(self, slot: int) -> None:
        obj = self._objects[slot]
        assert obj is not None
        self._check_release(obj, len(obj.handles) - 1)
        handle = self.handle_of(slot)
        self._objects[slot] = None
        self._counts[slot] = 0
        obj.handles.remove(handle)
        if obj.name is not None and (self.quirks.name_dropped_with_any_slot or not obj.handles):
            self._drop_name(obj)
        self.allocator.free(slot)
        self.listener.handle_destroyed(handle, obj, self._sid_keys[slot], self._traced[slot])
        self._sid_keys[slot] = -1
        self._drop_reference(obj)  # checked above, before the slot changed

    def check_invariants(self) -> None:
        """Raise :class:`TableInvariantError` unless the table agrees with itself.

        Every occupied slot holds a live object that lists the slot's handle and
        has a count of at least one; no slot is both occupied and free; every
        live object is held by at least as many references as slots, is in
        ``live_objects`` under its serial, and a thread that has not ended is
        not destroyed; every registered name names a live object. O(slots):
        for tests and fuzzing, not for hot paths.
        """
        n = len(self._objects)
        if not len(self._counts) == len(self._sid_keys) == len(self._traced) == n:
            raise TableInvariantError("slot arrays differ in length")
        free = self.allocator.free_slots()
        if len(set(free)) != len(free):
            raise TableInvariantError("a slot is free twice")
        for slot in free:
            if slot < n and self._objects[slot] is not None:
                raise TableInvariantError(f"slot {slot} is both free and occupied")
        held: dict[int, list[int]] = {}
        for slot, obj in enumerate(self._objects):
            if obj is None:
                continue
            handle = self.handle_of(slot)
            if obj.destroyed:
                raise TableInvariantError(f"slot {slot} holds destroyed {obj!r}")
            if self._counts[slot] < 1:
                raise TableInvariantError(
                    f"slot {slot} holds {obj!r} with count {self._counts[slot]}"
                )
            if handle not in obj.handles:
                raise TableInvariantError(f"{obj!r} does not list its slot {slot}")
            held.setdefault(id(obj), []).append(handle)
            if self.live_objects.get(obj.serial) is not obj:
                raise TableInvariantError(f"{obj!r} in a slot but not among the live objects")
        for serial, obj in self.live_objects.items():
            if obj.serial != serial or obj.destroyed:
                raise TableInvariantError(f"live object table holds {obj!r} under {serial}")
            if sorted(obj.handles) != sorted(held.get(id(obj), [])):
                raise TableInvariantError(f"{obj!r} lists handles no slot holds")
            if obj.refs < max(len(obj.handles), 1):
                raise TableInvariantError(f"{obj!r} has {obj.refs} references for {obj.handles}")
        for obj in self.names.values():
            if obj.destroyed:
                raise TableInvariantError(f"name {obj.name!r} names destroyed {obj!r}")

    # -- object references --------------------------------------------------------------------

    def retain_object(self, obj: KernelObject) -> None:
        """A long-lived kernel holder takes a reference (not an Ob reference)."""
        obj.refs += 1

    def release_object(self, obj: KernelObject) -> None:
        """Drop one object reference; the object is destroyed at zero, once.

        Raises :class:`ObjectInUse` (and changes nothing) when that would free an
        object a slot or a running thread still needs.
        """
        if obj.refs >= 1 and not obj.destroyed:
            self._check_release(obj, len(obj.handles))
        self._drop_reference(obj)

    def _drop_reference(self, obj: KernelObject) -> None:
        """:meth:`release_object` once the release has been checked."""
        obj.refs -= 1
        if obj.refs == 0:
            if obj.destroyed:
                raise AssertionError(f"{obj!r} destroyed twice")
            obj.destroyed = True
            self.destroyed_count += 1
            self.live_objects.pop(obj.serial, None)
            if obj.name is not None:
                self._drop_name(obj)
            obj.on_destroy()
            self.listener.object_destroyed(obj)
        elif obj.refs < 0:
            raise AssertionError(f"{obj!r} released below zero")

    def reference(self, obj: KernelObject) -> None:
        """An explicit Ob reference: a count on the primary slot (canary) or on the object."""
        if self.quirks.ob_reference_on_primary_slot:
            primary = obj.primary_handle
            if primary is not None:
                self.retain_handle(primary)
        else:
            obj.refs += 1

    def dereference(self, obj: KernelObject, thread: Thread | None) -> None:
        """Give an explicit Ob reference back."""
        if self.quirks.ob_reference_on_primary_slot:
            primary = obj.primary_handle
            if primary is not None:
                self.release_handle(primary, thread)
        elif obj.refs > 0 and not obj.destroyed:
            self.release_object(obj)

    # -- names --------------------------------------------------------------------------------

    @staticmethod
    def name_key(name: bytes) -> bytes:
        """Names compare ASCII case-insensitively; other bytes compare exactly."""
        return name.lower()

    def find_name(self, name: bytes) -> KernelObject | None:
        return self.names.get(self.name_key(name))

    def register_name(self, obj: KernelObject, name: bytes) -> bool:
        """Register ``name`` for ``obj``; False (and the name kept on the object) on collision."""
        obj.name = name
        key = self.name_key(name)
        if key in self.names:
            return False
        self.names[key] = obj
        return True

    def _drop_name(self, obj: KernelObject) -> None:
        assert obj.name is not None
        # Canary removes the map entry by name, even when it belongs to another object.
        self.names.pop(self.name_key(obj.name), None)
        if not self.quirks.name_dropped_with_any_slot:
            obj.name = None
