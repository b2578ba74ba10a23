"""Ke* pointer exports on guest dispatcher structures, through the native-object bridge.

Each test writes headers the way titles do (often by hand, as inline
KeInitializeEvent expansions do) and checks the kernel object behind them,
the header's signal state after every operation, and the profile's way of
finding the object again (canary's stamp, the console's address identity).
"""

from __future__ import annotations

import pytest

from x360k.native import header as H
from x360k.native.broken_mutant import BrokenMutant
from x360k.native.guest_mutant import GuestMutant
from x360k.objects.event import Event
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ABANDONED_WAIT_0,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    STATUS_WAIT_0,
)

from ..threadkit import Prog, World

M32 = 0xFFFFFFFF


def inline_header(w: World, type_byte: int, signal: int = 0, size: int = 0x28) -> int:
    """A structure whose header the guest wrote itself (KeInitialize* never called)."""
    ptr = w.m.alloc(size, 8)
    w.m.write_u8(ptr + H.TYPE, type_byte)
    w.m.write_u8(ptr + H.SIZE, H.HEADER_SIZE // 4)
    w.m.write_u32(ptr + H.SIGNAL_STATE, signal)
    H.init_list_head(w.m, ptr + H.WAIT_LIST_FLINK)
    return ptr


def signal_state(w: World, ptr: int) -> int:
    return w.m.read_s32(ptr + H.SIGNAL_STATE)


def poll_ptr(w: World, ptr: int) -> int:
    """KeWaitForSingleObject with a zero timeout."""
    return w.k.call("KeWaitForSingleObject", ptr, 0, 1, 0, w.li(0))


def markers(w: World) -> list[str]:
    return [e.text or "" for e in w.rec.events if e.kind == "marker"]


@pytest.mark.parametrize("profile", PROFILES)
def test_inline_event_works_on_first_set_and_wait(profile: Profile) -> None:
    w = World(profile)
    ev = inline_header(w, H.GuestType.SYNCHRONIZATION_EVENT)
    first = w.k.call("KeSetEvent", ev, 1, 0)
    assert first == (1 if profile == "canary" else 0)  # canary always answers 1
    # Canary never writes the header's signal state after initialisation; the console does.
    assert signal_state(w, ev) == (0 if profile == "canary" else 1)
    assert poll_ptr(w, ev) == STATUS_WAIT_0
    assert signal_state(w, ev) == 0
    assert poll_ptr(w, ev) == STATUS_TIMEOUT  # auto-reset: the wait consumed it
    assert w.k.call("KeSetEvent", ev, 1, 0) == first
    assert w.k.call("KeResetEvent", ev) == 1  # previously set, under both profiles
    assert signal_state(w, ev) == 0
    assert poll_ptr(w, ev) == STATUS_TIMEOUT


@pytest.mark.parametrize("profile", PROFILES)
def test_inline_signalled_event_satisfies_the_first_wait(profile: Profile) -> None:
    w = World(profile)
    ev = inline_header(w, H.GuestType.NOTIFICATION_EVENT, signal=1)
    assert poll_ptr(w, ev) == STATUS_WAIT_0
    assert poll_ptr(w, ev) == STATUS_WAIT_0  # notification: stays set
    assert signal_state(w, ev) == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_waiter_by_pointer_is_woken_by_a_set_through_a_handle(profile: Profile) -> None:
    w = World(profile)
    ev = inline_header(w, H.GuestType.SYNCHRONIZATION_EVENT)
    out = w.out()
    assert w.k.call("ObOpenObjectByPointer", ev, 0, out) == STATUS_SUCCESS
    handle = w.u32(out)

    def waiter() -> Prog:
        w.log.append(("woke", (yield ("KeWaitForSingleObject", (ev, 0, 1, 0, 0)))))
        return 0

    def setter() -> Prog:
        for _ in range(3):
            yield ("NtYieldExecution", ())
        w.log.append("set")
        yield ("NtSetEvent", (handle, 0))
        return 0

    w.main(waiter())
    w.spawn(setter())
    assert w.run().outcome == "finished"
    assert w.log == ["set", ("woke", STATUS_WAIT_0)]
    assert signal_state(w, ev) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_handle_and_pointer_see_one_state(profile: Profile) -> None:
    w = World(profile)
    handle = w.event(manual=True)
    out = w.out()
    assert w.k.call("ObReferenceObjectByHandle", handle, 0, out) == STATUS_SUCCESS
    body = w.u32(out)
    assert body and w.k.bodies[body] is w.k.table.lookup(handle, None)
    w.k.call("KeSetEvent", body, 0, 0)
    assert w.k.call("NtWaitForSingleObjectEx", handle, 1, 0, w.li(0)) == STATUS_WAIT_0
    assert w.k.call("NtClearEvent", handle) == STATUS_SUCCESS
    assert poll_ptr(w, body) == STATUS_TIMEOUT
    w.k.call("NtSetEvent", handle, 0)
    assert poll_ptr(w, body) == STATUS_WAIT_0
    # An inline structure and the handle ObOpenObjectByPointer gives for it.
    ev = inline_header(w, H.GuestType.NOTIFICATION_EVENT)
    assert w.k.call("ObOpenObjectByPointer", ev, 0, out) == STATUS_SUCCESS
    h2 = w.u32(out)
    obj = w.k.table.lookup(h2, None)
    assert isinstance(obj, Event) and obj.body == ev
    w.k.call("NtSetEvent", h2, 0)
    assert poll_ptr(w, ev) == STATUS_WAIT_0
    assert w.k.call("ObReferenceObjectByHandle", h2, 0, out) == STATUS_SUCCESS
    assert w.u32(out) == ev  # the guest structure itself is the object's body


def test_canary_stamps_signature_and_an_untraced_handle() -> None:
    w = World("canary")
    ev = inline_header(w, H.GuestType.SYNCHRONIZATION_EVENT)
    slots_before = len(w.k.table.live_handles())
    creates_before = len([e for e in w.rec.events if e.kind == "handle.create"])
    w.k.call("KeSetEvent", ev, 0, 0)
    header = H.read_header(w.m, ev)
    assert header.wait_list_flink == 0x58454E00 and header.stamped
    obj = w.k.table.object_at(header.wait_list_blink)
    assert isinstance(obj, Event) and obj.body == ev and obj.state
    assert obj.primary_handle == header.wait_list_blink
    assert len(w.k.table.live_handles()) == slots_before + 1
    assert len([e for e in w.rec.events if e.kind == "handle.create"]) == creates_before
    # Later calls find the same object through the stamp.
    assert poll_ptr(w, ev) == STATUS_WAIT_0
    assert not obj.state
    assert len(w.k.table.live_handles()) == slots_before + 1


def test_console_keeps_the_structure_as_the_object() -> None:
    w = World("console")
    ev = inline_header(w, H.GuestType.SYNCHRONIZATION_EVENT)
    slots_before = len(w.k.table.live_handles())
    w.k.call("KeSetEvent", ev, 0, 0)
    header = H.read_header(w.m, ev)
    assert not header.stamped
    assert header.wait_list_flink == header.wait_list_blink == ev + H.WAIT_LIST_FLINK
    assert len(w.k.table.live_handles()) == slots_before  # no slot taken
    assert signal_state(w, ev) == 1
    # A signal state the title stores itself is the truth on the console.
    w.m.write_u32(ev + H.SIGNAL_STATE, 0)
    assert poll_ptr(w, ev) == STATUS_TIMEOUT
    w.m.write_u32(ev + H.SIGNAL_STATE, 1)
    assert poll_ptr(w, ev) == STATUS_WAIT_0


def test_canary_freed_stamped_slot_finds_nothing_and_reused_slot_finds_the_occupant() -> None:
    w = World("canary")
    ev = inline_header(w, H.GuestType.NOTIFICATION_EVENT)
    w.k.call("KeResetEvent", ev)
    stamped = w.m.read_u32(ev + H.WAIT_LIST_BLINK)
    assert w.k.call("NtClose", stamped) == STATUS_SUCCESS
    assert w.k.call("KeSetEvent", ev, 0, 0) == 0
    assert poll_ptr(w, ev) == STATUS_ABANDONED_WAIT_0
    assert any(f"0x{ev:08X}" in m and "names no object" in m for m in markers(w))
    newcomer = w.event(manual=True)
    assert newcomer == stamped  # canary's lowest-free-slot allocator reuses the slot
    assert w.k.call("KeSetEvent", ev, 0, 0) == 1
    assert w.k.call("NtWaitForSingleObjectEx", newcomer, 1, 0, w.li(0)) == STATUS_WAIT_0


def test_canary_reinitialising_makes_new_objects_and_orphans_the_old() -> None:
    w = World("canary")
    ev = w.m.alloc(16, 8)
    w.k.call("KeInitializeEvent", ev, 0, 0)
    first = w.m.read_u32(ev + H.WAIT_LIST_BLINK)
    w.k.call("KeInitializeEvent", ev, 0, 1)
    second = w.m.read_u32(ev + H.WAIT_LIST_BLINK)
    assert first != second
    assert w.k.table.object_at(first) is not w.k.table.object_at(second)
    assert w.k.table.object_at(first) is not None  # the orphan keeps its slot
    assert signal_state(w, ev) == 1 and poll_ptr(w, ev) == STATUS_WAIT_0


def test_console_reinitialising_keeps_one_object() -> None:
    w = World("console")
    ev = w.m.alloc(16, 8)
    w.k.call("KeInitializeEvent", ev, 1, 0)
    obj = w.k.bodies[ev]
    w.k.call("KeInitializeEvent", ev, 0, 1)
    assert w.k.bodies[ev] is obj and isinstance(obj, Event)
    assert obj.manual_reset and obj.state
    assert H.read_header(w.m, ev).size == 4


@pytest.mark.parametrize("profile", PROFILES)
def test_ke_initialize_semaphore_and_release(profile: Profile) -> None:
    w = World(profile)
    sem = w.m.alloc(H.KSEMAPHORE_SIZE, 8)
    w.k.call("KeInitializeSemaphore", sem, 1, 2)
    assert w.m.read_u32(sem + H.SEMAPHORE_LIMIT) == 2 and signal_state(w, sem) == 1
    assert w.k.call("KeReleaseSemaphore", sem, 1, 1, 0) == 1
    assert signal_state(w, sem) == (1 if profile == "canary" else 2)
    assert w.k.call("KeReleaseSemaphore", sem, 1, 1, 0) == 0  # past the limit: refused
    assert poll_ptr(w, sem) == STATUS_WAIT_0
    assert poll_ptr(w, sem) == STATUS_WAIT_0
    assert poll_ptr(w, sem) == STATUS_TIMEOUT
    assert signal_state(w, sem) == (1 if profile == "canary" else 0)
    # Initialising again: canary reuses the stamped object and ignores the new counts.
    w.k.call("KeInitializeSemaphore", sem, 3, 5)
    expected = STATUS_TIMEOUT if profile == "canary" else STATUS_WAIT_0
    assert poll_ptr(w, sem) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_unsupported_header_type_fails_clearly_with_a_marker(profile: Profile) -> None:
    w = World(profile)
    queue = inline_header(w, H.GuestType.QUEUE)
    assert poll_ptr(w, queue) == STATUS_ABANDONED_WAIT_0
    assert w.k.call("KeSetEvent", queue, 0, 0) == 0
    array = w.handles(queue)
    assert w.k.call("KeWaitForMultipleObjects", 1, array, 1, 0, 1, 0, 0, 0) == (
        STATUS_INVALID_PARAMETER
    )
    texts = markers(w)
    assert len(texts) == 3
    assert all(f"0x{queue:08X}" in t and "queue" in t for t in texts)
    odd = inline_header(w, 0x33)
    assert poll_ptr(w, odd) == STATUS_ABANDONED_WAIT_0
    assert "unknown type 51" in markers(w)[-1]
    assert w.k.ext["native"].failures == 4


@pytest.mark.parametrize("profile", PROFILES)
def test_set_event_on_a_semaphore_is_refused(profile: Profile) -> None:
    w = World(profile)
    sem = inline_header(w, H.GuestType.SEMAPHORE, signal=0)
    w.m.write_u32(sem + H.SEMAPHORE_LIMIT, 4)
    assert w.k.call("KeSetEvent", sem, 0, 0) == 0
    assert "not a Event" in markers(w)[-1]
    assert poll_ptr(w, sem) == STATUS_TIMEOUT


def test_canary_lacks_mutant_and_timer_exports() -> None:
    w = World("canary")
    mut = w.m.alloc(H.KMUTANT_SIZE, 8)
    tim = w.m.alloc(H.KTIMER_SIZE, 8)
    # Unimplemented exports leave r3 alone: the caller sees its first argument.
    assert w.k.call("KeInitializeMutant", mut, 1) == mut
    assert w.k.call("KeReleaseMutant", mut, 0, 0, 0) == mut
    assert w.k.call("KeInitializeTimerEx", tim, 0) == tim
    assert w.k.call("KeSetTimerEx", tim, -10_000 & (2**64 - 1), 0, 0) == tim
    assert w.k.call("KeSetTimer", tim, -10_000 & (2**64 - 1), 0) == tim
    assert w.k.call("KeCancelTimer", tim) == tim
    assert w.m.read_bytes(mut, H.KMUTANT_SIZE) == bytes(H.KMUTANT_SIZE)
    # A guest KTIMER cannot be bridged; a guest KMUTANT bridges to a lock-less object.
    timer = inline_header(w, H.GuestType.NOTIFICATION_TIMER)
    assert poll_ptr(w, timer) == STATUS_ABANDONED_WAIT_0
    assert "canary cannot bridge a notification timer" in markers(w)[-1]
    mutant = inline_header(w, H.GuestType.MUTANT, signal=1)
    assert poll_ptr(w, mutant) == STATUS_WAIT_0
    assert isinstance(w.k.bodies[mutant], BrokenMutant)

    def other() -> Prog:
        w.log.append((yield ("KeWaitForSingleObject", (mutant, 0, 1, 0, w.li(0)))))
        return 0

    w.spawn(other())
    w.run()
    assert w.log == [STATUS_WAIT_0]  # no ownership: another thread gets it too


def test_console_mutant_exports_keep_owner_and_state_in_guest_memory() -> None:
    w = World("console")
    mut = w.m.alloc(H.KMUTANT_SIZE, 8)
    main = w.k.main_thread
    w.k.call("KeInitializeMutant", mut, 1)
    obj = w.k.bodies[mut]
    assert isinstance(obj, GuestMutant) and obj.owner is main
    assert signal_state(w, mut) == 0 and w.m.read_u32(mut + H.MUTANT_OWNER) == main.kthread
    assert poll_ptr(w, mut) == STATUS_WAIT_0  # recursive acquisition by the owner
    assert signal_state(w, mut) == -1
    assert w.k.call("KeReleaseMutant", mut, 1, 0, 0) == M32  # previous state -1
    assert w.k.call("KeReleaseMutant", mut, 1, 0, 0) == 0
    assert signal_state(w, mut) == 1 and w.m.read_u32(mut + H.MUTANT_OWNER) == 0

    def other() -> Prog:
        w.log.append((yield ("KeWaitForSingleObject", (mut, 0, 1, 0, 0))))
        w.log.append(w.m.read_u32(mut + H.MUTANT_OWNER))
        return 0  # ends owning it: abandoned

    t = w.spawn(other())
    w.run()
    assert w.log == [STATUS_WAIT_0, t.kthread]
    assert w.m.read_u8(mut + H.MUTANT_ABANDONED) == 1
    assert poll_ptr(w, mut) == STATUS_ABANDONED_WAIT_0
    assert w.m.read_u32(mut + H.MUTANT_OWNER) == main.kthread


def test_console_timer_exports() -> None:
    w = World("console")
    tim = w.m.alloc(H.KTIMER_SIZE, 8)
    w.k.call("KeInitializeTimerEx", tim, 1)
    assert w.m.read_u8(tim + H.TYPE) == H.GuestType.SYNCHRONIZATION_TIMER
    assert w.k.call("KeSetTimerEx", tim, -50_000 & (2**64 - 1), 0, 0) == 0
    assert w.m.read_u8(tim + H.INSERTED) == 1
    start = w.k.clock

    def waiter() -> Prog:
        w.log.append((yield ("KeWaitForSingleObject", (tim, 0, 1, 0, 0))))
        w.log.append(w.k.clock - start)
        return 0

    w.main(waiter())
    assert w.run().outcome == "finished"
    assert w.log[0] == STATUS_WAIT_0 and w.log[1] >= 50_000
    assert signal_state(w, tim) == 0  # synchronization timer reset by the wait
    assert w.k.call("KeSetTimer", tim, -10_000 & (2**64 - 1), 0) == 0
    assert w.k.call("KeCancelTimer", tim) == 1
    assert w.k.call("KeCancelTimer", tim) == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_wait_for_multiple_objects_by_pointer(profile: Profile) -> None:
    w = World(profile)
    a = inline_header(w, H.GuestType.SYNCHRONIZATION_EVENT)
    b = inline_header(w, H.GuestType.NOTIFICATION_EVENT, signal=1)
    blocks = w.m.alloc(2 * 0x18, 8)
    array = w.handles(a, b)
    assert w.k.call("KeWaitForMultipleObjects", 2, array, 1, 0, 1, 0, w.li(0), blocks) == 1
    assert w.k.call("KeWaitForMultipleObjects", 2, array, 0, 0, 1, 0, w.li(0), blocks) == (
        STATUS_TIMEOUT
    )
    w.k.call("KeSetEvent", a, 0, 0)
    assert w.k.call("KeWaitForMultipleObjects", 2, array, 0, 0, 1, 0, w.li(0), blocks) == 0
    assert signal_state(w, a) == 0
    assert w.k.call("KeWaitForMultipleObjects", 0, array, 0, 0, 1, 0, 0, 0) == (
        STATUS_INVALID_PARAMETER if profile == "canary" else STATUS_INVALID_PARAMETER_1
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_wait_on_a_kthread_pointer(profile: Profile) -> None:
    w = World(profile)

    def child() -> Prog:
        yield ("NtYieldExecution", ())
        return 3

    t = w.spawn(child())

    def main() -> Prog:
        w.log.append((yield ("KeWaitForSingleObject", (t.kthread, 0, 1, 0, 0))))
        return 0

    w.main(main())
    assert w.run().outcome == "finished"
    assert w.log == [STATUS_WAIT_0]


@pytest.mark.parametrize("profile", PROFILES)
def test_wedge_names_a_bridged_object_by_address_and_type(profile: Profile) -> None:
    w = World(profile)
    ev = inline_header(w, H.GuestType.NOTIFICATION_EVENT)

    def main() -> Prog:
        yield wait_ptr(ev)
        return 0

    w.main(main())
    result = w.run()
    assert result.outcome == "wedge"
    text = result.wedge.render_text()
    assert f"guest notification event at 0x{ev:08X}" in text
    assert ("stamped handle" in text) == (profile == "canary")


def wait_ptr(ptr: int) -> tuple[str, tuple[int, ...]]:
    return ("KeWaitForSingleObject", (ptr, 0, 1, 0, 0))
