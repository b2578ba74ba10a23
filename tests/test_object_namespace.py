"""The object namespace (quirks flat_object_names and obj_permanent_ignored), both profiles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.object_namespace import (
    DOS_DEVICES_ROOT,
    NAMED_OBJECTS_ROOT,
    dissect,
    object_namespace,
)
from x360k.objects.directory import Directory
from x360k.objects.event import Event
from x360k.objects.symlink import SymbolicLink
from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_EXISTS,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_SUCCESS,
)
from x360k.vfs.mount import namespace_of

from .conftest import Harness

OBJ_PERMANENT = 0x10
OBJ_OPENIF = 0x80
OBJ_CASE_INSENSITIVE = 0x40


def attrs(h: Harness, name: bytes | str | None, root: int = 0, flags: int = 0x40) -> int:
    return h.mem.new_object_attributes(name, root=root, attributes=flags)


def create_event(h: Harness, a: int) -> tuple[int, int]:
    out = h.out()
    status = h.k.call("NtCreateEvent", out, a, 0, 0)
    return status, h.mem.read_u32(out)


def open_by_name(h: Harness, a: int, type_name: str | None = None) -> tuple[int, int]:
    out = h.out()
    type_ptr = h.k.data_exports_by_type[type_name] if type_name else 0
    status = h.k.call("ObOpenObjectByName", a, type_ptr, 0, out)
    return status, h.mem.read_u32(out)


def create_directory(h: Harness, a: int) -> tuple[int, int]:
    out = h.out()
    status = h.k.call("NtCreateDirectoryObject", out, a)
    return status, h.mem.read_u32(out)


def list_directory(h: Harness, directory: int) -> list[tuple[bytes, bytes]]:
    buf = h.mem.alloc(256, 4)
    ctx = h.mem.alloc(4, 4)
    ret = h.mem.alloc(4, 4)
    out: list[tuple[bytes, bytes]] = []
    restart = 1
    while True:
        status = h.k.call("NtQueryDirectoryObject", directory, buf, 256, restart, ctx, ret)
        restart = 0
        if status != STATUS_SUCCESS:
            assert status == 0x8000001A  # STATUS_NO_MORE_ENTRIES
            return out
        length = h.mem.read_u16(buf)
        assert h.mem.read_u32(buf + 4) == buf + 12
        assert h.mem.read_u32(ret) == 12 + length
        out.append((h.mem.read_bytes(buf + 12, length), h.mem.read_bytes(buf + 8, 4)))


# -- canary: flat names ---------------------------------------------------------------------------


def test_canary_ignores_roots_and_paths(canary: Harness) -> None:
    ev = canary.create_event("Flat")
    assert create_event(canary, attrs(canary, "Flat2", root=ev))[0] == STATUS_SUCCESS
    assert create_event(canary, attrs(canary, "Flat3", root=0xF8001230))[0] == STATUS_SUCCESS
    assert create_event(canary, attrs(canary, "\\Missing\\X"))[0] == STATUS_SUCCESS
    # the path is one flat name: it opens exactly as written, whatever the root
    assert open_by_name(canary, attrs(canary, "\\missing\\x", root=ev))[0] == STATUS_SUCCESS
    # an empty name is no name
    assert create_event(canary, attrs(canary, ""))[0] == STATUS_SUCCESS


def test_canary_lacks_the_directory_exports(canary: Harness) -> None:
    out = canary.out()
    a = attrs(canary, "\\Dir")
    assert canary.k.call("NtCreateDirectoryObject", out, a) == out
    assert canary.k.call("NtOpenDirectoryObject", out, a) == out
    ev = canary.create_event()
    assert canary.k.call("NtQueryDirectoryObject", ev, 0, 0, 1, 0, 0) == ev
    assert canary.k.call("NtMakeTemporaryObject", ev) == ev
    assert canary.mem.read_u32(out) == 0xCCCCCCCC


def test_canary_ignores_obj_permanent(canary: Harness) -> None:
    status, ev = create_event(canary, attrs(canary, "Perm", flags=OBJ_PERMANENT))
    assert status == STATUS_SUCCESS
    canary.k.call("NtClose", ev)
    assert open_by_name(canary, attrs(canary, "Perm"))[0] == STATUS_OBJECT_NAME_NOT_FOUND


# -- console: the tree ----------------------------------------------------------------------------


def test_console_named_objects_root_and_absolute_paths_meet(console: Harness) -> None:
    status, ev = create_event(console, attrs(console, "Ready", root=NAMED_OBJECTS_ROOT))
    assert status == STATUS_SUCCESS
    status, opened = open_by_name(console, attrs(console, "\\win32namedobjects\\READY"))
    assert status == STATUS_SUCCESS and opened != ev
    assert console.k.table.lookup(opened, None) is console.k.table.lookup(ev, None)


@pytest.mark.parametrize(
    ("name", "root", "expected"),
    [
        ("Relative", 0, STATUS_OBJECT_NAME_INVALID),  # no root: must be absolute
        ("\\Win32NamedObjects\\X", NAMED_OBJECTS_ROOT, STATUS_OBJECT_NAME_INVALID),
        ("", 0, STATUS_OBJECT_NAME_INVALID),  # a name of length 0 is not no name
        ("", NAMED_OBJECTS_ROOT, STATUS_OBJECT_NAME_INVALID),
        ("\\", 0, STATUS_OBJECT_NAME_INVALID),
        # a trailing separator ends the path: this names the directory itself
        ("\\Win32NamedObjects\\", 0, STATUS_OBJECT_NAME_COLLISION),
        ("\\Win32NamedObjects\\\\X", 0, STATUS_OBJECT_NAME_INVALID),
        ("\\Missing\\X", 0, STATUS_OBJECT_PATH_NOT_FOUND),
        ("Missing\\X", NAMED_OBJECTS_ROOT, STATUS_OBJECT_PATH_NOT_FOUND),
        ("\\\\X", 0, STATUS_OBJECT_PATH_NOT_FOUND),  # an empty first element finds nothing
        ("X", 0xF8001230, STATUS_INVALID_HANDLE),
    ],
)
def test_console_create_path_statuses(
    console: Harness, name: str, root: int, expected: int
) -> None:
    out = console.out()
    assert console.k.call("NtCreateEvent", out, attrs(console, name, root), 0, 0) == expected
    assert console.mem.read_u32(out) == 0xCCCCCCCC
    assert console.events("handle.create") == []


def test_console_unnamed_objects_need_no_root(console: Harness) -> None:
    assert create_event(console, attrs(console, None))[0] == STATUS_SUCCESS
    assert create_event(console, 0)[0] == STATUS_SUCCESS


def test_console_root_that_is_not_a_directory(console: Harness) -> None:
    ev = console.create_event()
    assert create_event(console, attrs(console, "X", root=ev))[0] == STATUS_OBJECT_TYPE_MISMATCH
    # an open cannot walk into it (the Xbox's lookup: not a directory, no parse routine)
    assert open_by_name(console, attrs(console, "X", root=ev))[0] == STATUS_OBJECT_PATH_NOT_FOUND
    # with no name left, the root itself is what is opened
    status, same = open_by_name(console, attrs(console, None, root=ev))
    assert status == STATUS_SUCCESS
    assert console.k.table.lookup(same, None) is console.k.table.lookup(ev, None)


def test_console_path_through_an_object_that_is_not_a_directory(console: Harness) -> None:
    console.create_event("Leaf")
    a = attrs(console, "\\Win32NamedObjects\\Leaf\\X")
    assert create_event(console, a)[0] == STATUS_OBJECT_PATH_NOT_FOUND
    assert open_by_name(console, a)[0] == STATUS_OBJECT_PATH_NOT_FOUND


def test_console_open_statuses(console: Harness) -> None:
    missing = attrs(console, "Nope", root=NAMED_OBJECTS_ROOT)
    assert open_by_name(console, missing)[0] == STATUS_OBJECT_NAME_NOT_FOUND
    assert open_by_name(console, attrs(console, "Nope"))[0] == STATUS_OBJECT_NAME_INVALID
    assert open_by_name(console, attrs(console, None))[0] == STATUS_OBJECT_NAME_INVALID
    assert open_by_name(console, attrs(console, "\\Nope\\X"))[0] == STATUS_OBJECT_PATH_NOT_FOUND
    bad_root = attrs(console, "X", root=0xF8001230)
    assert open_by_name(console, bad_root)[0] == STATUS_INVALID_HANDLE
    console.create_event("Typed")
    typed = attrs(console, "Typed", root=NAMED_OBJECTS_ROOT)
    assert open_by_name(console, typed, "Semaphore")[0] == STATUS_OBJECT_TYPE_MISMATCH
    assert open_by_name(console, typed, "Event")[0] == STATUS_SUCCESS


def test_console_openif_in_the_tree(console: Harness) -> None:
    first = console.create_event("Twice")
    a = attrs(console, "Twice", root=NAMED_OBJECTS_ROOT)
    assert create_event(console, a)[0] == STATUS_OBJECT_NAME_COLLISION
    openif = attrs(console, "twice", root=NAMED_OBJECTS_ROOT, flags=0xC0)
    status, second = create_event(console, openif)
    assert status == STATUS_OBJECT_NAME_EXISTS and second != first
    assert console.k.table.lookup(second, None) is console.k.table.lookup(first, None)


def test_console_reference_by_name_takes_an_absolute_path(console: Harness) -> None:
    console.create_event("ByName")
    out = console.out()
    name = console.mem.new_ansi_string("\\Win32NamedObjects\\ByName")
    assert console.k.call("ObReferenceObjectByName", name, 0, 0, 0, out) == STATUS_SUCCESS
    obj = console.k.bodies.get(console.mem.read_u32(out))
    assert isinstance(obj, Event)
    relative = console.mem.new_ansi_string("ByName")
    status = console.k.call("ObReferenceObjectByName", relative, 0, 0, 0, out)
    assert status == STATUS_OBJECT_NAME_INVALID


# -- console: directories -------------------------------------------------------------------------


def test_console_directories_nest_and_roots_are_relative(console: Harness) -> None:
    status, sub = create_directory(console, attrs(console, "\\Win32NamedObjects\\Sub"))
    assert status == STATUS_SUCCESS
    obj = console.k.table.lookup(sub, None)
    assert isinstance(obj, Directory) and obj.path == b"\\Win32NamedObjects\\Sub"
    assert create_event(console, attrs(console, "Inner", root=sub))[0] == STATUS_SUCCESS
    assert open_by_name(console, attrs(console, "\\Win32NamedObjects\\Sub\\Inner"))[0] == 0
    assert open_by_name(console, attrs(console, "Sub\\Inner", root=NAMED_OBJECTS_ROOT))[0] == 0
    # an unnamed directory is a root of its own
    status, loose = create_directory(console, 0)
    assert status == STATUS_SUCCESS
    assert create_event(console, attrs(console, "Mine", root=loose))[0] == STATUS_SUCCESS
    assert open_by_name(console, attrs(console, "mine", root=loose))[0] == STATUS_SUCCESS


def test_console_open_directory_object(console: Harness) -> None:
    out = console.out()
    assert console.k.call("NtOpenDirectoryObject", out, attrs(console, "\\")) == STATUS_SUCCESS
    root = console.k.table.lookup(console.mem.read_u32(out), None)
    assert isinstance(root, Directory) and root.path == b"\\"
    assert console.k.call("NtOpenDirectoryObject", out, attrs(console, "\\??")) == STATUS_SUCCESS
    assert console.k.call("NtOpenDirectoryObject", out, 0) == STATUS_INVALID_PARAMETER
    console.create_event("NotADir")
    status = console.k.call(
        "NtOpenDirectoryObject", out, attrs(console, "NotADir", root=NAMED_OBJECTS_ROOT)
    )
    assert status == STATUS_OBJECT_TYPE_MISMATCH


def test_console_query_directory_object_lists_one_entry_per_call(console: Harness) -> None:
    out = console.out()
    console.k.call("NtOpenDirectoryObject", out, attrs(console, "\\"))
    root = console.mem.read_u32(out)
    assert list_directory(console, root) == [
        (b"??", b"Dire"),
        (b"Device", b"Dire"),
        (b"Win32NamedObjects", b"Dire"),
    ]
    console.create_event("Listed")
    assert console.k.call("NtOpenDirectoryObject", out, attrs(console, "\\Win32NamedObjects")) == 0
    named = console.mem.read_u32(out)
    assert list_directory(console, named) == [(b"Listed", b"Even")]
    # too small: the size needed, and the scan does not move on
    buf, ctx, ret = console.mem.alloc(8, 4), console.out(), console.out()
    status = console.k.call("NtQueryDirectoryObject", named, buf, 8, 1, ctx, ret)
    assert status == 0xC0000023  # STATUS_BUFFER_TOO_SMALL
    assert console.mem.read_u32(ret) == 12 + len(b"Listed")
    assert console.mem.read_u32(ctx) == 0xCCCCCCCC
    ev = console.create_event()
    assert console.k.call("NtQueryDirectoryObject", ev, buf, 8, 1, ctx, ret) == (
        STATUS_OBJECT_TYPE_MISMATCH
    )


def test_console_dos_devices_show_the_file_system_links(console: Harness) -> None:
    namespace_of(console.k).add_link("game:", "\\Device\\Cdrom0")
    out = console.out()
    assert console.k.call("NtOpenDirectoryObject", out, attrs(console, "\\??")) == 0
    assert list_directory(console, console.mem.read_u32(out)) == [(b"game:", b"Symb")]
    status, link = open_by_name(console, attrs(console, "GAME:", root=DOS_DEVICES_ROOT))
    assert status == STATUS_SUCCESS
    obj = console.k.table.lookup(link, None)
    assert isinstance(obj, SymbolicLink) and obj.target == "\\Device\\Cdrom0"


def test_console_wait_on_a_directory_is_satisfied_at_once(console: Harness) -> None:
    _, sub = create_directory(console, 0)
    assert console.k.call("NtWaitForSingleObjectEx", sub, 1, 0, 0) == STATUS_SUCCESS


# -- console: temporary and permanent names ------------------------------------------------------


def test_console_temporary_name_goes_with_the_last_handle(console: Harness) -> None:
    ev = console.create_event("Temp")
    obj = console.k.table.lookup(ev, None)
    _, dup = console.duplicate(ev)
    console.k.call("NtClose", ev)
    a = attrs(console, "Temp", root=NAMED_OBJECTS_ROOT)
    status, opened = open_by_name(console, a)  # the duplicate still holds it
    assert status == STATUS_SUCCESS
    assert console.k.call("NtClose", dup) == STATUS_SUCCESS
    assert open_by_name(console, a)[0] == STATUS_SUCCESS  # and so does the opened handle
    console.k.call("NtClose", console.events("handle.create")[-1].handle)
    assert console.k.call("NtClose", opened) == STATUS_SUCCESS
    assert open_by_name(console, a)[0] == STATUS_OBJECT_NAME_NOT_FOUND
    assert obj is not None and obj.destroyed


def test_console_permanent_object_outlives_its_handles(console: Harness) -> None:
    a = attrs(console, "Kept", root=NAMED_OBJECTS_ROOT, flags=OBJ_CASE_INSENSITIVE | OBJ_PERMANENT)
    status, ev = create_event(console, a)
    assert status == STATUS_SUCCESS
    obj = console.k.table.lookup(ev, None)
    assert console.k.call("NtClose", ev) == STATUS_SUCCESS
    assert obj is not None and not obj.destroyed
    status, again = open_by_name(console, attrs(console, "Kept", root=NAMED_OBJECTS_ROOT))
    assert status == STATUS_SUCCESS
    assert console.k.call("NtMakeTemporaryObject", again) == STATUS_SUCCESS
    assert open_by_name(console, attrs(console, "kept", root=NAMED_OBJECTS_ROOT))[0] == 0
    for e in console.events("handle.create"):
        console.k.call("NtClose", e.handle)
    assert obj.destroyed
    a2 = attrs(console, "Kept", root=NAMED_OBJECTS_ROOT)
    assert open_by_name(console, a2)[0] == STATUS_OBJECT_NAME_NOT_FOUND
    assert console.k.call("NtMakeTemporaryObject", 0xF8001230) == STATUS_INVALID_HANDLE


def test_console_permanence_is_switchable() -> None:
    h = Harness("console", obj_permanent_ignored=True)
    a = attrs(h, "Kept", root=NAMED_OBJECTS_ROOT, flags=OBJ_CASE_INSENSITIVE | OBJ_PERMANENT)
    _, ev = create_event(h, a)
    h.k.call("NtClose", ev)
    a2 = attrs(h, "Kept", root=NAMED_OBJECTS_ROOT)
    assert open_by_name(h, a2)[0] == STATUS_OBJECT_NAME_NOT_FOUND


def test_console_flat_names_can_be_switched_back_on() -> None:
    h = Harness("console", flat_object_names=True)
    assert create_event(h, attrs(h, "Relative"))[0] == STATUS_SUCCESS
    assert open_by_name(h, attrs(h, "relative", root=0xF8001230))[0] == STATUS_SUCCESS


def test_dissect() -> None:
    assert dissect(b"\\a\\b") == (b"a", b"b")
    assert dissect(b"a") == (b"a", b"")
    assert dissect(b"\\\\a") == (b"", b"a")


def test_console_ob_make_temporary_object_by_pointer(console: Harness) -> None:
    a = attrs(
        console, "PtrKept", root=NAMED_OBJECTS_ROOT, flags=OBJ_CASE_INSENSITIVE | OBJ_PERMANENT
    )
    _, ev = create_event(console, a)
    obj = console.k.table.lookup(ev, None)
    assert obj is not None
    console.k.call("NtClose", ev)
    assert not obj.destroyed
    console.k.call("ObMakeTemporaryObject", obj.body)  # no handle left: it goes at once
    assert obj.destroyed
    a2 = attrs(console, "PtrKept", root=NAMED_OBJECTS_ROOT)
    assert open_by_name(console, a2)[0] == STATUS_OBJECT_NAME_NOT_FOUND


def test_canary_lacks_ob_make_temporary_object(canary: Harness) -> None:
    canary.k.call("ObMakeTemporaryObject", 0x1234)
    assert canary.k.main_thread.gpr[3] == 0x1234


def test_console_wedge_reports_see_the_full_path(console: Harness) -> None:
    ev = console.create_event("Reported")
    obj = console.k.table.lookup(ev, None)
    assert obj is not None and obj.name == b"\\Win32NamedObjects\\Reported"
    assert console.k.table.names == {}  # the flat table is not used


# -- property: the tree and the handle table stay consistent --------------------------------------

_ELEMENTS = st.sampled_from(["A", "b", "Dir", "dir", "x\\y", "", "\\\\"])
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["event", "dir", "open", "close", "temporary"]),
        _ELEMENTS,
        st.booleans(),  # OBJ_PERMANENT (create) / use the last directory as root
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_console_namespace_stays_consistent(ops: list[tuple[str, str, bool]]) -> None:
    h = Harness("console")
    ns = object_namespace(h.k)
    assert ns is not None
    handles: list[int] = []
    dirs: list[int] = []
    for op, element, flag in ops:
        root = dirs[-1] if flag and dirs else NAMED_OBJECTS_ROOT
        a = attrs(h, element, root=root, flags=0xC0 | (OBJ_PERMANENT if flag else 0))
        if op in ("event", "dir"):
            export = "NtCreateEvent" if op == "event" else "NtCreateDirectoryObject"
            out = h.out()
            args = (out, a, 0, 0) if op == "event" else (out, a)
            status = h.k.call(export, *args)
            if status in (STATUS_SUCCESS, STATUS_OBJECT_NAME_EXISTS):
                handles.append(h.mem.read_u32(out))
                if op == "dir" and isinstance(h.k.table.lookup(handles[-1], None), Directory):
                    dirs.append(handles[-1])
        elif op == "open":
            status, opened = open_by_name(h, a)
            if status == STATUS_SUCCESS:
                handles.append(opened)
        elif op == "close" and handles:
            victim = handles.pop(0)
            if victim in dirs:
                dirs.remove(victim)
            assert h.k.call("NtClose", victim) == STATUS_SUCCESS
        elif op == "temporary" and handles:
            assert h.k.call("NtMakeTemporaryObject", handles[-1]) == STATUS_SUCCESS
        # every attached object is alive, found under its element, and either has a handle,
        # is permanent, or is one of the three directories the kernel made
        for obj, (directory, element_name) in ns.attached.items():
            assert not obj.destroyed and not directory.destroyed
            assert directory.find(element_name) is obj
            assert obj.handles or obj in ns.permanent
        for directory in [ns.root, *ns.attached]:
            if isinstance(directory, Directory):
                for _, obj in directory.entries.values():
                    assert ns.attached[obj][0] is directory
    for handle in handles:
        assert h.k.call("NtClose", handle) == STATUS_SUCCESS
    # only permanent objects remain attached once every handle is closed
    assert all(obj in ns.permanent for obj in ns.attached)


def test_console_a_directory_lives_while_it_holds_entries(console: Harness) -> None:
    _, sub = create_directory(console, attrs(console, "Holder", root=NAMED_OBJECTS_ROOT))
    directory = console.k.table.lookup(sub, None)
    a = attrs(console, "Kept", root=sub, flags=OBJ_CASE_INSENSITIVE | OBJ_PERMANENT)
    _, ev = create_event(console, a)
    console.k.call("NtClose", sub)
    assert directory is not None and not directory.destroyed  # its entry holds it
    # it has left \Win32NamedObjects (temporary, no handle), but the entry is still inside
    assert open_by_name(console, attrs(console, "Holder", root=NAMED_OBJECTS_ROOT))[0] == (
        STATUS_OBJECT_NAME_NOT_FOUND
    )
    console.k.call("NtMakeTemporaryObject", ev)
    console.k.call("NtClose", ev)
    assert directory.destroyed


def test_console_kernel_directories_outlive_make_temporary(console: Harness) -> None:
    status, named = open_by_name(console, attrs(console, None, root=NAMED_OBJECTS_ROOT))
    assert status == STATUS_SUCCESS
    assert console.k.call("NtMakeTemporaryObject", named) == STATUS_SUCCESS
    assert console.k.call("NtClose", named) == STATUS_SUCCESS
    # out of the root now, but the pseudo root still reaches it
    assert open_by_name(console, attrs(console, "\\Win32NamedObjects"))[0] == (
        STATUS_OBJECT_NAME_NOT_FOUND
    )
    assert create_event(console, attrs(console, "Still", root=NAMED_OBJECTS_ROOT))[0] == 0
    assert open_by_name(console, attrs(console, "still", root=NAMED_OBJECTS_ROOT))[0] == 0
