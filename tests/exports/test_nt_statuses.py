"""The exact statuses NT test suites pin down, under both profiles (issue 15).

Each test names the quirk it pins; canary keeps its documented behaviour and
the console gives NT's answer.
"""

from __future__ import annotations

import pytest

from x360k.native import header as H
from x360k.object_namespace import NAMED_OBJECTS_ROOT
from x360k.objects.mutant import Mutant
from x360k.objects.symlink import SymbolicLink
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_MUTANT_LIMIT_EXCEEDED,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
    STATUS_UNSUCCESSFUL,
    STATUS_WAIT_0,
)

from ..threadkit import World

both = pytest.mark.parametrize("profile", PROFILES)
NAMED = NAMED_OBJECTS_ROOT
M32 = 0xFFFFFFFF


def inline_event(w: World, signal: int, type_byte: int = H.GuestType.NOTIFICATION_EVENT) -> int:
    ptr = w.m.alloc(H.HEADER_SIZE, 8)
    w.m.write_u8(ptr + H.TYPE, type_byte)
    w.m.write_u8(ptr + H.SIZE, H.HEADER_SIZE // 4)
    w.m.write_u32(ptr + H.SIGNAL_STATE, signal & M32)
    H.init_list_head(w.m, ptr + H.WAIT_LIST_FLINK)
    return ptr


# -- release_semaphore_handle_before_count ------------------------------------------------------


@both
@pytest.mark.parametrize("count", [0, -1])
def test_release_semaphore_checks_the_count_before_the_handle(profile: Profile, count: int) -> None:
    w = World(profile)
    prev = w.out()
    status = w.k.call("NtReleaseSemaphore", 0xF80000F0, count & M32, prev)
    if profile == "canary":
        assert status == STATUS_INVALID_HANDLE
        assert w.u32(prev) == 0  # canary writes 0 even for a bad handle
    else:
        assert status == STATUS_INVALID_PARAMETER
        assert w.u32(prev) == 0xCCCCCCCC


def test_release_semaphore_count_first_is_switchable() -> None:
    w = World("console", release_semaphore_handle_before_count=True)
    assert w.k.call("NtReleaseSemaphore", 0xF80000F0, 0, 0) == STATUS_INVALID_HANDLE


# -- unwaitable_objects_satisfy_single_waits: NT's default object ----------------------------------


@both
def test_a_symbolic_link_in_a_multiple_wait(profile: Profile) -> None:
    w = World(profile)
    link = w.k.table.add_handle(SymbolicLink("\\??\\x:", "\\Device\\y"))
    ev = w.event()
    array = w.handles(ev, link)
    status = w.k.call("NtWaitForMultipleObjectsEx", 2, array, 1, 1, 0, w.li(0))
    # canary's host has no handle for a link, which breaks the whole wait; NT waits on its
    # always-signalled default object, so the link (index 1) satisfies a wait-any
    assert status == (STATUS_UNSUCCESSFUL if profile == "canary" else STATUS_WAIT_0 + 1)
    single = w.k.call("NtWaitForSingleObjectEx", link, 1, 0, w.li(0))
    assert single == STATUS_SUCCESS
    # and satisfying it changes nothing: it stays signalled
    assert w.k.call("NtWaitForSingleObjectEx", link, 1, 0, w.li(0)) == STATUS_SUCCESS


# -- previous_state_always_one: the raw SignalState ------------------------------------------------


@both
@pytest.mark.parametrize("export", ["KeSetEvent", "KeResetEvent", "KePulseEvent"])
def test_ke_event_exports_return_the_raw_previous_signal_state(
    profile: Profile, export: str
) -> None:
    w = World(profile)
    ev = inline_event(w, 5)
    w.k.call("KeResetEvent", ev)  # bridge it (the console adopts what the header holds)
    w.m.write_u32(ev + H.SIGNAL_STATE, 5)  # the title stores a state itself
    args = (ev,) if export == "KeResetEvent" else (ev, 0, 0)
    result = w.k.call(export, *args)
    assert result == (1 if profile == "canary" else 5)
    # a negative LONG comes back as the guest register holds it
    w.m.write_u32(ev + H.SIGNAL_STATE, -2 & M32)
    result = w.k.call(export, *args)
    assert result == (1 if profile == "canary" else -2 & M32)


def test_ke_set_event_reports_zero_and_one_when_the_kernel_kept_the_state() -> None:
    w = World("console")
    ev = inline_event(w, 0, H.GuestType.SYNCHRONIZATION_EVENT)
    assert w.k.call("KeSetEvent", ev, 0, 0) == 0
    assert w.k.call("KeSetEvent", ev, 0, 0) == 1
    assert w.k.call("KeResetEvent", ev) == 1
    assert w.k.call("KeResetEvent", ev) == 0


# -- bridge_stamps_header: a KMUTANT honours what the title wrote --------------------------------


def _kmutant(w: World) -> int:
    ptr = w.m.alloc(H.KMUTANT_SIZE, 8)
    w.k.call("KeInitializeMutant", ptr, 0)
    return ptr


def test_console_kmutant_adopts_a_stored_owner_and_recursion() -> None:
    w = World("console")
    mut = _kmutant(w)
    main = w.k.main_thread
    # the title marks it owned twice by the main thread, writing the fields itself
    w.m.write_u32(mut + H.SIGNAL_STATE, -1 & M32)
    w.m.write_u32(mut + H.MUTANT_OWNER, main.kthread)
    assert w.k.call("KeWaitForSingleObject", mut, 0, 1, 0, w.li(0)) == STATUS_WAIT_0
    assert w.m.read_s32(mut + H.SIGNAL_STATE) == -2  # recursion 3
    obj = w.k.bodies[mut]
    assert isinstance(obj, Mutant) and obj.owner is main and obj.recursion == 3
    # three releases free it
    assert w.k.call("KeReleaseMutant", mut, 1, 0, 0) == -2 & M32
    assert w.k.call("KeReleaseMutant", mut, 1, 0, 0) == -1 & M32
    assert w.k.call("KeReleaseMutant", mut, 1, 0, 0) == 0
    assert w.m.read_s32(mut + H.SIGNAL_STATE) == 1
    assert w.m.read_u32(mut + H.MUTANT_OWNER) == 0
    assert obj not in main.owned_mutants


def test_console_kmutant_stored_as_held_by_nobody_cannot_be_taken() -> None:
    w = World("console")
    mut = _kmutant(w)
    w.m.write_u32(mut + H.SIGNAL_STATE, 0)  # not signalled, OwnerThread stays 0
    assert w.k.call("KeWaitForSingleObject", mut, 0, 1, 0, w.li(0)) == 0x102  # STATUS_TIMEOUT
    w.m.write_u32(mut + H.SIGNAL_STATE, 1)  # and free again
    assert w.k.call("KeWaitForSingleObject", mut, 0, 1, 0, w.li(0)) == STATUS_WAIT_0


# -- mutant_recursion_unlimited ------------------------------------------------------------------


@both
def test_mutant_recursion_past_the_limit(profile: Profile) -> None:
    w = World(profile)
    main = w.k.main_thread
    mutant = Mutant(owner=main)
    mutant.recursion = 0x80000001  # SignalState MINLONG
    handle = w.k.table.add_handle(mutant)
    status = w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, w.li(0))
    if profile == "canary":
        assert status == STATUS_WAIT_0
        assert mutant.recursion == 0x80000002
    else:
        assert status == STATUS_MUTANT_LIMIT_EXCEEDED
        assert mutant.recursion == 0x80000001  # nothing acquired
        array = w.handles(handle)
        status = w.k.call("NtWaitForMultipleObjectsEx", 1, array, 1, 1, 0, w.li(0))
        assert status == STATUS_MUTANT_LIMIT_EXCEEDED


def test_console_kmutant_at_the_limit_refuses_its_owner() -> None:
    w = World("console")
    mut = _kmutant(w)
    w.m.write_u32(mut + H.SIGNAL_STATE, 0x80000000)
    w.m.write_u32(mut + H.MUTANT_OWNER, w.k.main_thread.kthread)
    assert w.k.call("KeWaitForSingleObject", mut, 0, 1, 0, w.li(0)) == STATUS_MUTANT_LIMIT_EXCEEDED
    assert w.m.read_u32(mut + H.SIGNAL_STATE) == 0x80000000


# -- open_by_name_ignores_type ---------------------------------------------------------------------


@both
def test_open_object_by_name_checks_the_type(profile: Profile) -> None:
    w = World(profile)
    attrs = w.m.new_object_attributes("TypedName", root=NAMED)
    assert w.k.call("NtCreateEvent", w.out(), attrs, 0, 0) == STATUS_SUCCESS
    out = w.out()
    mutant_type = w.k.data_exports_by_type["Mutant"]
    status = w.k.call("ObOpenObjectByName", attrs, mutant_type, 0, out)
    if profile == "canary":
        assert status == STATUS_SUCCESS
    else:
        assert status == STATUS_OBJECT_TYPE_MISMATCH
        assert w.u32(out) == 0xCCCCCCCC
    event_type = w.k.data_exports_by_type["Event"]
    assert w.k.call("ObOpenObjectByName", attrs, event_type, 0, out) == STATUS_SUCCESS
    assert w.k.call("ObOpenObjectByName", attrs, 0, 0, out) == STATUS_SUCCESS


# -- dup_close_source_after_allocating ------------------------------------------------------------


@both
def test_duplicate_close_source_of_a_named_objects_only_handle(profile: Profile) -> None:
    w = World(profile)
    attrs = w.m.new_object_attributes("DupNamed", root=NAMED)
    out = w.out()
    assert w.k.call("NtCreateEvent", out, attrs, 0, 0) == STATUS_SUCCESS
    src = w.u32(out)
    dup_ptr = w.out()
    assert w.k.call("NtDuplicateObject", src, dup_ptr, 1) == STATUS_SUCCESS
    dup = w.u32(dup_ptr)
    obj = w.k.table.lookup(dup, None)
    assert obj is not None and not obj.destroyed
    # canary drops the name with the source slot; the console's close of the last handle
    # detaches it too (it is not permanent), before the duplicate takes the value back
    if profile == "canary":
        assert w.k.table.find_name(b"DupNamed") is None
    else:
        named = w.m.new_object_attributes("DupNamed", root=NAMED)
        assert w.k.call("ObOpenObjectByName", named, 0, 0, w.out()) == 0xC0000034
    assert (dup == src) == (profile == "console")


def test_duplicate_close_source_order_is_switchable() -> None:
    w = World("console", dup_close_source_after_allocating=True)
    src = w.event()
    dup_ptr = w.out()
    assert w.k.call("NtDuplicateObject", src, dup_ptr, 1) == STATUS_SUCCESS
    assert w.u32(dup_ptr) != src
    assert w.k.table.lookup(src, None) is None


def test_console_duplicate_with_a_tagged_source() -> None:
    w = World("console")
    src = w.event()
    dup_ptr = w.out()
    assert w.k.call("NtDuplicateObject", src | 3, dup_ptr, 1) == STATUS_SUCCESS
    assert w.u32(dup_ptr) == src
