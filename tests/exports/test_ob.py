"""NtDuplicateObject, NtClose and the Ob* exports: the seed's eleven cases and their neighbours."""

from __future__ import annotations

import pytest

from x360k.handles import CURRENT_THREAD
from x360k.status import (
    STATUS_ACCESS_VIOLATION,
    STATUS_INVALID_HANDLE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_EXISTS,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
)

from ..conftest import Harness  # type: ignore[import-not-found]

UNMAPPED = 0x10000000


# -- the seed's eleven (both profiles) ---------------------------------------------------------


def test_duplicate_gets_fresh_handle(h: Harness) -> None:
    src = h.create_event()
    status, dup = h.duplicate(src)
    assert status == STATUS_SUCCESS
    assert dup != src
    assert dup & 0xFF000000 == 0xF8000000


def test_duplicate_emits_handle_create_between_call_and_return(h: Harness) -> None:
    src = h.create_event()
    start = len(h.rec.thread(0))
    _, dup = h.duplicate(src)
    window = h.rec.thread(0)[start:]
    assert [e.kind for e in window] == [
        "import.call",
        "kernel.call",
        "handle.create",
        "kernel.return",
    ]
    assert window[1].name == "NtDuplicateObject" and window[3].name == "NtDuplicateObject"
    create = window[2]
    assert create.handle == dup and create.object_type == "Event"
    assert create.sid is not None and len(create.sid) == 16
    source_sid = h.k.sid_of(src)
    assert source_sid is not None and create.sid != source_sid


def test_duplicate_and_source_reach_same_object(h: Harness) -> None:
    src = h.create_event()
    _, dup = h.duplicate(src)
    assert h.k.table.lookup(src, None) is h.k.table.lookup(dup, None)


@pytest.mark.parametrize("set_dup", [True, False])
def test_set_through_one_is_seen_through_the_other(h: Harness, set_dup: bool) -> None:
    src = h.create_event(manual=True)
    _, dup = h.duplicate(src)
    target, other = (dup, src) if set_dup else (src, dup)
    assert h.k.call("NtSetEvent", target, 0) == STATUS_SUCCESS
    info = h.mem.alloc(8)
    assert h.k.call("NtQueryEvent", other, info) == STATUS_SUCCESS
    assert h.mem.read_u32(info + 4) == 1


@pytest.mark.parametrize("close_dup", [True, False])
def test_closing_one_keeps_the_other_alive(h: Harness, close_dup: bool) -> None:
    src = h.create_event()
    _, dup = h.duplicate(src)
    closed, kept = (dup, src) if close_dup else (src, dup)
    obj = h.k.table.lookup(kept, None)
    assert h.k.call("NtClose", closed) == STATUS_SUCCESS
    assert h.k.table.lookup(kept, None) is obj
    assert obj is not None and not obj.destroyed
    assert h.k.call("NtSetEvent", kept, 0) == STATUS_SUCCESS
    destroys = h.events("handle.destroy")
    assert [e.handle for e in destroys] == [closed]


def test_closing_both_destroys_object_once(h: Harness) -> None:
    src = h.create_event()
    _, dup = h.duplicate(src)
    obj = h.k.table.lookup(src, None)
    h.k.call("NtClose", src)
    h.k.call("NtClose", dup)
    assert obj is not None and obj.destroyed
    assert h.k.destroyed.count(obj) == 1
    creates = {e.sid for e in h.events("handle.create")}
    destroys = [e.sid for e in h.events("handle.destroy")]
    assert len(destroys) == len(set(destroys)) == 2
    assert set(destroys) <= creates


def test_duplicate_close_source(h: Harness) -> None:
    src = h.create_event()
    src_sid = h.k.sid_of(src)
    start = len(h.rec.thread(0))
    status, dup = h.duplicate(src, options=1)
    assert status == STATUS_SUCCESS
    window = h.rec.thread(0)[start:]
    kinds = [e.kind for e in window]
    if h.profile == "canary":
        # the duplicate's slot first, then the source goes: a new value
        assert h.k.table.lookup(src, None) is None
        assert h.k.table.lookup(dup, None) is not None
        assert kinds == [
            "import.call",
            "kernel.call",
            "handle.create",
            "handle.destroy",
            "kernel.return",
        ]
        assert window[3].handle == src and window[3].sid == src_sid
    else:
        # the console frees the source first: its LIFO allocator hands the same value back
        assert dup == src and h.k.table.lookup(dup, None) is not None
        assert kinds == [
            "import.call",
            "kernel.call",
            "handle.destroy",
            "handle.create",
            "kernel.return",
        ]
        assert window[2].handle == src and window[2].sid == src_sid
        assert window[3].handle == src


def test_invalid_source(h: Harness) -> None:
    status, written = h.duplicate(0xF8001230)
    assert status == STATUS_INVALID_HANDLE
    # Canary writes 0xFFFFFFFF on failure; the console stores NULL.
    assert written == (0xFFFFFFFF if h.profile == "canary" else 0)
    assert h.events("handle.create") == []


def test_out_pointer_receives_new_handle(h: Harness) -> None:
    src = h.create_event()
    ptr = h.out()
    h.k.call("NtDuplicateObject", src, ptr, 0)
    assert h.mem.read_u32(ptr) == h.events("handle.create")[-1].handle


def test_duplicate_without_out_pointer(h: Harness) -> None:
    src = h.create_event()
    assert h.k.call("NtDuplicateObject", src, 0, 0) == STATUS_SUCCESS
    assert len(h.events("handle.create")) == 2


# -- close -------------------------------------------------------------------------------------


def test_double_close(h: Harness) -> None:
    ev = h.create_event()
    assert h.k.call("NtClose", ev) == STATUS_SUCCESS
    second = h.k.call("NtClose", ev)
    assert second == (STATUS_SUCCESS if h.profile == "canary" else STATUS_INVALID_HANDLE)
    assert len(h.events("handle.destroy")) == 1


def test_close_never_valid_handle(h: Harness) -> None:
    expected_in_range = STATUS_SUCCESS if h.profile == "canary" else STATUS_INVALID_HANDLE
    assert h.k.call("NtClose", 0xF8001000) == expected_in_range
    assert h.k.call("NtClose", 0) == STATUS_INVALID_HANDLE
    assert h.k.call("NtClose", 0xFFFFFFFF) == STATUS_INVALID_HANDLE
    # Far beyond canary's 16384-slot capacity: invalid under both.
    assert h.k.call("NtClose", 0xF8000000 + 4 * 40000) == STATUS_INVALID_HANDLE


def test_canary_close_ignores_base_bits(canary: Harness) -> None:
    ev = canary.create_event()
    slot_only = ev & 0x07FFFFFF
    assert canary.k.call("NtSetEvent", slot_only | 3, 0) == STATUS_SUCCESS
    assert canary.k.call("NtClose", slot_only) == STATUS_SUCCESS
    assert canary.k.table.lookup(ev, None) is None


def test_console_rejects_values_without_base_and_masks_tag_bits(console: Harness) -> None:
    ev = console.create_event()
    assert console.k.call("NtSetEvent", ev & 0xFFFFFF, 0) == STATUS_INVALID_HANDLE
    assert console.k.call("NtSetEvent", ev | 0x01000000, 0) == STATUS_INVALID_HANDLE
    # the low two bits are the title's tag bits: every lookup and close masks them off
    assert console.k.call("NtSetEvent", ev | 1, 0) == STATUS_SUCCESS
    assert console.k.call("NtSetEvent", ev | 3, 0) == STATUS_SUCCESS
    assert console.k.call("NtClose", ev | 2) == STATUS_SUCCESS
    assert console.k.call("NtClose", ev) == STATUS_INVALID_HANDLE


def test_stale_handle_closes_new_occupant_under_canary(canary: Harness) -> None:
    a = canary.create_event()
    canary.k.call("NtClose", a)
    b = canary.create_event()
    assert b == a  # lowest free slot reused
    assert canary.k.call("NtClose", a) == STATUS_SUCCESS
    assert canary.k.table.lookup(b, None) is None


# -- pseudo-handles --------------------------------------------------------------------------------


def test_duplicate_current_thread(h: Harness) -> None:
    status, dup = h.duplicate(CURRENT_THREAD)
    assert status == STATUS_SUCCESS
    assert h.k.table.lookup(dup, None) is h.k.main_thread
    assert h.events("handle.create")[-1].object_type == "Thread"


def test_close_current_thread_pseudo_handle(h: Harness) -> None:
    main = h.k.main_thread
    primary = main.handles[0]
    before = h.k.table.slot_count(primary)
    status = h.k.call("NtClose", CURRENT_THREAD)
    if h.profile == "canary":
        # Canary translates it to the thread's primary slot and takes a count off it.
        assert status == STATUS_SUCCESS
        assert h.k.table.slot_count(primary) == before - 1
    else:
        assert status == STATUS_INVALID_HANDLE
        assert h.k.table.slot_count(primary) == before


def test_current_process_is_invalid(h: Harness) -> None:
    assert h.duplicate(0xFFFFFFFF)[0] == STATUS_INVALID_HANDLE


# -- slot order --------------------------------------------------------------------------------


def test_first_handle_values(h: Harness) -> None:
    first = h.create_event()
    # Canary start-up takes slots 0-2 (boot event, module, main thread).
    assert first == (0xF800000C if h.profile == "canary" else 0xF8000004)


def test_slot_reuse_order(h: Harness) -> None:
    handles = [h.create_event() for _ in range(5)]
    h.k.call("NtClose", handles[1])
    h.k.call("NtClose", handles[3])
    again = [h.create_event() for _ in range(3)]
    if h.profile == "canary":
        # Lowest free slot first.
        assert again == [handles[1], handles[3], handles[4] + 4]
    else:
        # LIFO: the most recently closed first.
        assert again == [handles[3], handles[1], handles[4] + 4]


# -- names -------------------------------------------------------------------------------------


def test_named_create_opens_existing(h: Harness) -> None:
    first = h.create_event("Foo")
    ptr = h.out()
    attrs = h.attrs("fOO")  # case-insensitive, with OBJ_CASE_INSENSITIVE only
    status = h.k.call("NtCreateEvent", ptr, attrs, 1, 0)
    if h.profile == "canary":
        assert status == STATUS_OBJECT_NAME_EXISTS
        assert h.mem.read_u32(ptr) == first  # the same handle value, shared count
        assert h.k.table.slot_count(first) == 2
    else:
        assert status == STATUS_OBJECT_NAME_COLLISION
        assert h.mem.read_u32(ptr) == 0xCCCCCCCC


def test_console_openif_gives_new_handle(console: Harness) -> None:
    first = console.create_event("Foo")
    ptr = console.out()
    attrs = console.attrs("Foo", attributes=0xC0)
    assert console.k.call("NtCreateEvent", ptr, attrs, 1, 0) == STATUS_OBJECT_NAME_EXISTS
    second = console.mem.read_u32(ptr)
    assert second != first
    assert console.k.table.lookup(second, None) is console.k.table.lookup(first, None)


def test_name_of_another_type(h: Harness) -> None:
    h.create_event("Shared")
    ptr = h.out()
    attrs = h.attrs("shared")
    status = h.k.call("NtCreateSemaphore", ptr, attrs, 0, 1)
    # the console (Xbox ObInsertObject): a collision without OBJ_OPENIF, whatever the type
    expected = STATUS_INVALID_HANDLE if h.profile == "canary" else STATUS_OBJECT_NAME_COLLISION
    assert status == expected
    assert h.mem.read_u32(ptr) == 0xCCCCCCCC
    openif = h.attrs("shared", attributes=0xC0)
    status = h.k.call("NtCreateSemaphore", ptr, openif, 0, 1)
    expected = STATUS_INVALID_HANDLE if h.profile == "canary" else STATUS_OBJECT_TYPE_MISMATCH
    assert status == expected
    assert h.mem.read_u32(ptr) == 0xCCCCCCCC


def test_name_lifetime_with_duplicate(h: Harness) -> None:
    src = h.create_event("Lifetime")
    _, dup = h.duplicate(src)
    h.k.call("NtClose", dup)
    ptr = h.out()
    status = h.k.call("ObOpenObjectByName", h.attrs("LIFETIME"), 0, 0, ptr)
    if h.profile == "canary":
        # Any slot's removal drops the name, even though the source still holds the object.
        assert status == STATUS_OBJECT_NAME_NOT_FOUND
    else:
        assert status == STATUS_SUCCESS
        assert h.k.table.lookup(h.mem.read_u32(ptr), None) is h.k.table.lookup(src, None)


def test_name_goes_with_last_handle(h: Harness) -> None:
    ev = h.create_event("Gone")
    h.k.call("NtClose", ev)
    ptr = h.out()
    status = h.k.call("ObOpenObjectByName", h.attrs("Gone"), 0, 0, ptr)
    assert status == STATUS_OBJECT_NAME_NOT_FOUND


# -- references --------------------------------------------------------------------------------


def test_reference_keeps_closed_handle_valid_under_canary(h: Harness) -> None:
    ev = h.create_event()
    obj = h.k.table.lookup(ev, None)
    out = h.out()
    assert h.k.call("ObReferenceObjectByHandle", ev, 0, out) == STATUS_SUCCESS
    body = h.mem.read_u32(out)
    assert body != 0 and h.mem.read_u32(body + 8) == 0x58454E00
    h.k.call("NtClose", ev)
    assert obj is not None and not obj.destroyed
    if h.profile == "canary":
        assert h.k.table.lookup(ev, None) is obj  # the primary slot lives on
    else:
        assert h.k.table.lookup(ev, None) is None  # the handle is gone, the object is not
    h.k.call("ObDereferenceObject", body)
    assert obj.destroyed


def test_reference_with_wrong_type(h: Harness) -> None:
    ev = h.create_event()
    out = h.out()
    sem_type = h.k.data_exports["ExSemaphoreObjectType"]
    assert h.k.call("ObReferenceObjectByHandle", ev, sem_type, out) == STATUS_OBJECT_TYPE_MISMATCH
    assert h.mem.read_u32(out) == 0
    ev_type = h.k.data_exports["ExEventObjectType"]
    assert h.k.call("ObReferenceObjectByHandle", ev, ev_type, out) == STATUS_SUCCESS


def test_reference_of_timer_returns_marker_under_canary(h: Harness) -> None:
    ptr = h.out()
    assert h.k.call("NtCreateTimer", ptr, 0, 0) == STATUS_SUCCESS
    timer = h.mem.read_u32(ptr)
    out = h.out()
    assert h.k.call("ObReferenceObjectByHandle", timer, 0, out) == STATUS_SUCCESS
    body = h.mem.read_u32(out)
    h.k.call("ObDereferenceObject", body)
    h.k.call("NtClose", timer)
    obj_alive = h.k.table.live_objects
    if h.profile == "canary":
        assert body == 0xDEADF00D
        # The reference is never given back: the slot leaks (a documented quirk).
        assert h.k.table.lookup(timer, None) is not None
    else:
        assert body not in (0, 0xDEADF00D)
        assert h.k.table.lookup(timer, None) is None
        assert all(o.TYPE != "Timer" for o in obj_alive.values())


def test_wrong_type_set_event(h: Harness) -> None:
    ptr = h.out()
    h.k.call("NtCreateSemaphore", ptr, 0, 0, 1)
    assert h.k.call("NtSetEvent", h.mem.read_u32(ptr), 0) == STATUS_OBJECT_TYPE_MISMATCH


# -- access violations leave nothing behind ----------------------------------------------------


@pytest.mark.parametrize(
    ("export", "args"),
    [
        ("NtCreateEvent", (UNMAPPED, 0, 0, 0)),
        ("NtCreateEvent", (0, UNMAPPED, 0, 0)),
        ("NtDuplicateObject", (None, UNMAPPED, 0)),
        ("NtDuplicateObject", (None, UNMAPPED, 1)),
        ("NtSetEvent", (None, UNMAPPED)),
        ("ObReferenceObjectByHandle", (None, 0, UNMAPPED)),
        ("NtCreateSemaphore", (UNMAPPED, 0, 0, 1)),
        ("NtCreateMutant", (UNMAPPED, 0, 1)),
        ("NtCreateTimer", (UNMAPPED, 0, 0)),
    ],
)
def test_access_violation_leaves_no_trace(
    h: Harness, export: str, args: tuple[int | None, ...]
) -> None:
    ev = h.create_event()
    live_before = h.k.table.live_handles()
    counts_before = [h.k.table.slot_count(x) for x, _ in live_before]
    events_before = len(h.rec.events)
    real_args = [ev if a is None else a for a in args]
    assert h.k.call(export, *real_args) == STATUS_ACCESS_VIOLATION
    assert h.k.table.live_handles() == live_before
    assert [h.k.table.slot_count(x) for x, _ in live_before] == counts_before
    new = h.rec.events[events_before:]
    assert [e.kind for e in new] == ["import.call", "kernel.call", "kernel.return"]
    assert new[-1].status == STATUS_ACCESS_VIOLATION


def test_unknown_export_is_a_clear_error(h: Harness) -> None:
    from x360k.exports.registry import UnknownExportError

    with pytest.raises(UnknownExportError, match="NtCreateEvent"):
        h.k.call("NtCreateEvnet")
    with pytest.raises(UnknownExportError, match="ordinal 9999"):
        h.k.call(9999)


def test_status_is_sign_extended_in_r3(h: Harness) -> None:
    t = h.k.main_thread
    assert h.k.call("NtClose", 0) == STATUS_INVALID_HANDLE
    assert t.gpr[3] == 0xFFFFFFFF_C0000008


def test_call_by_ordinal(h: Harness) -> None:
    ptr = h.out()
    assert h.k.call(0xD1, ptr, 0, 0, 0) == STATUS_SUCCESS
    assert h.k.table.lookup(h.mem.read_u32(ptr), None) is not None
