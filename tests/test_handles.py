"""The object table: allocators, and a stateful property test of slot and object lifetimes."""

from __future__ import annotations

from collections import Counter

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from x360k.handles import CanarySlotAllocator, ConsoleSlotAllocator
from x360k.kernel import Kernel
from x360k.objects.base import KernelObject
from x360k.quirks import Profile
from x360k.status import STATUS_SUCCESS
from x360k.trace.recorder import MemoryRecorder


def test_canary_allocator_lowest_free_then_wrap() -> None:
    alloc = CanarySlotAllocator()
    assert [alloc.allocate() for _ in range(4)] == [0, 1, 2, 3]
    alloc.free(0)
    alloc.free(2)
    # The cursor sits at 1: slot 2 first, slot 0 only after every slot above is taken.
    assert alloc.allocate() == 2
    assert alloc.allocate() == 4
    assert alloc.capacity == 16384


def test_canary_allocator_growth_cursor() -> None:
    alloc = CanarySlotAllocator()
    for _ in range(16384):
        alloc.allocate()
    assert alloc.allocate() == 16384
    assert alloc.capacity == 32768
    alloc.free(5)
    # After growth the cursor is 16385: free slots above it come before slot 5.
    assert alloc.allocate() == 16385
    for _ in range(16386, 32768):
        alloc.allocate()
    assert alloc.allocate() == 5


def test_console_allocator_is_lifo() -> None:
    alloc = ConsoleSlotAllocator()
    assert [alloc.allocate() for _ in range(3)] == [0, 1, 2]
    alloc.free(0)
    alloc.free(2)
    assert alloc.allocate() == 2
    assert alloc.allocate() == 0
    assert alloc.allocate() == 3
    assert alloc.capacity == 64


def _record_created(k: Kernel, out: int, handles: list[int], objects: list[KernelObject]) -> None:
    """Note the handle a create call wrote at ``out`` and the live object it names."""
    handle = k.memory.read_u32(out)
    handles.append(handle)
    obj = k.table.lookup(handle, None)
    assert obj is not None
    objects.append(obj)


class HandleLifetimes(RuleBasedStateMachine):
    """Random create / duplicate / close / close-source / reference / dereference sequences."""

    def __init__(self) -> None:
        super().__init__()
        self.profile: Profile = "canary"
        self.k = Kernel(self.profile)
        self.rec = MemoryRecorder()

    @initialize(profile=st.sampled_from(["canary", "console"]))
    def start(self, profile: Profile) -> None:
        self.profile = profile
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, recorder=self.rec)
        self.out = self.k.memory.alloc(4)
        self.handles: list[int] = []
        self.objects: list[KernelObject] = []
        #: explicit references the guest still holds, as (object, body pointer)
        self.refs: list[tuple[KernelObject, int]] = []

    def _live(self) -> list[int]:
        return [h for h in self.handles if self.k.table.lookup(h, None) is not None]

    @rule()
    def create(self) -> None:
        assert self.k.call("NtCreateEvent", self.out, 0, 1, 0) == STATUS_SUCCESS
        _record_created(self.k, self.out, self.handles, self.objects)

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), close_source=st.booleans())
    def duplicate(self, data: st.DataObject, close_source: bool) -> None:
        source = data.draw(st.sampled_from(self.handles))
        alive = self.k.table.lookup(source, None) is not None
        status = self.k.call("NtDuplicateObject", source, self.out, 1 if close_source else 0)
        if alive:
            assert status == STATUS_SUCCESS
            self.handles.append(self.k.memory.read_u32(self.out))

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        self.k.call("NtClose", data.draw(st.sampled_from(self.handles)))

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def reference(self, data: st.DataObject) -> None:
        handle = data.draw(st.sampled_from(self.handles))
        if self.k.call("ObReferenceObjectByHandle", handle, 0, self.out) == STATUS_SUCCESS:
            obj = self.k.table.lookup(handle, None)
            assert obj is not None
            self.refs.append((obj, self.k.memory.read_u32(self.out)))

    def _held_refs(self) -> list[tuple[KernelObject, int]]:
        # Under canary a forced close-source can destroy an object while references are
        # outstanding; those references are void (their body may already be reused).
        return [(o, b) for o, b in self.refs if not o.destroyed]

    @precondition(lambda self: self._held_refs())
    @rule(data=st.data())
    def dereference(self, data: st.DataObject) -> None:
        held = self._held_refs()
        index = data.draw(st.integers(0, len(held) - 1))
        self.refs.remove(held[index])
        self.k.call("ObDereferenceObject", held[index][1])

    @invariant()
    def alive_exactly_while_held(self) -> None:
        if not hasattr(self, "objects"):
            return
        for obj in self.objects:
            held_by_slot = bool(obj.handles)
            held_by_ref = self.profile == "console" and any(o is obj for o, _ in self.refs)
            assert obj.destroyed == (not (held_by_slot or held_by_ref)), obj

    @invariant()
    def one_destroy_per_create(self) -> None:
        creates = Counter(e.sid for e in self.rec.events if e.kind == "handle.create")
        destroys = Counter(e.sid for e in self.rec.events if e.kind == "handle.destroy")
        assert all(n == 1 for n in creates.values())
        assert all(n == 1 for n in destroys.values())
        assert set(destroys) <= set(creates)

    def teardown(self) -> None:
        if not hasattr(self, "objects"):
            return
        for handle in self.handles:
            while self.k.table.lookup(handle, None) is not None:
                self.k.call("NtClose", handle)
        for _, body in self._held_refs():
            self.k.call("ObDereferenceObject", body)
        assert all(obj.destroyed for obj in self.objects)
        assert all(obj.refs == 0 for obj in self.objects)


TestHandleLifetimes = HandleLifetimes.TestCase
TestHandleLifetimes.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


class TitleHandleDiscipline(RuleBasedStateMachine):
    """A well-behaved title: it closes each handle it holds once and pairs its references.

    Then closing everything destroys every object, except where canary leaks on
    purpose: an ObReferenceObjectByHandle on an object without a guest body hands out
    0xDEADF00D, whose dereference does nothing, so that count stays on the slot
    (quirk ``ob_reference_untyped_marker``). The test expects exactly those objects to
    survive, with exactly those counts.
    """

    @initialize(profile=st.sampled_from(["canary", "console"]))
    def start(self, profile: Profile) -> None:
        self.profile = profile
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, recorder=self.rec)
        self.out = self.k.memory.alloc(4)
        #: handle values the title holds, one entry per slot it owns
        self.held: list[int] = []
        self.objects: list[KernelObject] = []
        #: outstanding references: (object, pointer handed out, slot counted on under canary)
        self.refs: list[tuple[KernelObject, int, int]] = []
        #: canary's 0xDEADF00D references the title gave back: the count stays on the slot
        self.given_back_leaks: list[tuple[KernelObject, int, int]] = []

    @rule(timer=st.booleans())
    def create(self, timer: bool) -> None:
        if timer:
            assert self.k.call("NtCreateTimer", self.out, 0, 0) == STATUS_SUCCESS
        else:
            assert self.k.call("NtCreateEvent", self.out, 0, 1, 0) == STATUS_SUCCESS
        _record_created(self.k, self.out, self.held, self.objects)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), close_source=st.booleans())
    def duplicate(self, data: st.DataObject, close_source: bool) -> None:
        source = data.draw(st.sampled_from(self.held))
        status = self.k.call("NtDuplicateObject", source, self.out, 1 if close_source else 0)
        assert status == STATUS_SUCCESS
        self.held.append(self.k.memory.read_u32(self.out))
        if close_source:
            self.held.remove(source)
            if self.profile == "canary":
                # The forced removal takes the slot's reference counts with it.
                self.refs = [r for r in self.refs if r[2] != source]
                self.given_back_leaks = [r for r in self.given_back_leaks if r[2] != source]

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        handle = data.draw(st.sampled_from(self.held))
        assert self.k.call("NtClose", handle) == STATUS_SUCCESS
        self.held.remove(handle)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def reference(self, data: st.DataObject) -> None:
        handle = data.draw(st.sampled_from(self.held))
        obj = self.k.table.lookup(handle, None)
        assert obj is not None and obj.primary_handle is not None
        primary = obj.primary_handle
        assert self.k.call("ObReferenceObjectByHandle", handle, 0, self.out) == STATUS_SUCCESS
        pointer = self.k.memory.read_u32(self.out)
        marker = self.profile == "canary" and obj.TYPE == "Timer"
        assert (pointer == 0xDEADF00D) == marker
        self.refs.append((obj, pointer, primary))

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def dereference(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.refs) - 1))
        ref = self.refs.pop(index)
        self.k.call("ObDereferenceObject", ref[1])
        if ref[1] == 0xDEADF00D:
            self.given_back_leaks.append(ref)

    def _leaks(self) -> list[tuple[KernelObject, int, int]]:
        leaks = [r for r in self.refs if r[1] == 0xDEADF00D] + self.given_back_leaks
        return sorted(leaks, key=lambda r: r[2])

    @invariant()
    def alive_exactly_while_held(self) -> None:
        if not hasattr(self, "objects"):
            return
        leaked = {id(o) for o, _, _ in self._leaks()}
        for obj in self.objects:
            by_slot = bool(obj.handles)
            by_ref = self.profile == "console" and any(o is obj for o, _, _ in self.refs)
            assert obj.destroyed == (not (by_slot or by_ref)), obj
            if id(obj) in leaked:
                assert by_slot, obj

    def teardown(self) -> None:
        if not hasattr(self, "objects"):
            return
        leaks = self._leaks()
        for _, pointer, _ in list(self.refs):
            self.k.call("ObDereferenceObject", pointer)
        for handle in list(self.held):
            assert self.k.call("NtClose", handle) == STATUS_SUCCESS
        survivors = {id(o) for o, _, _ in leaks}
        for obj in self.objects:
            assert obj.destroyed == (id(obj) not in survivors), obj
        per_slot = Counter(slot for _, _, slot in leaks)
        for slot, count in per_slot.items():
            assert self.k.table.slot_count(slot) == count
        if self.profile == "console":
            assert not survivors


TestTitleHandleDiscipline = TitleHandleDiscipline.TestCase
TestTitleHandleDiscipline.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None
)
