"""ObCreateObject under both profiles: unnamed and named objects, canary's fatal name splitter."""

from __future__ import annotations

import pytest

from x360k.cpu.fault import GuestFault
from x360k.exports.ob_create import last_component
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION, STATUS_OBJECT_NAME_INVALID, STATUS_SUCCESS


@pytest.mark.parametrize("profile", PROFILES)
def test_unnamed_object_has_a_header_in_front(profile: Profile) -> None:
    k = Kernel(profile)
    m = k.memory
    otype = k.data_exports["ExEventObjectType"]
    out = m.alloc(4, 4)
    assert k.call("ObCreateObject", otype, 0, 0x20, out) == STATUS_SUCCESS
    body = m.read_u32(out)
    header = body - 0x18
    assert (m.read_u32(header), m.read_u32(header + 4)) == (1, 0)
    assert m.read_u8(header + 0xB) == 0x10  # a title object
    assert m.read_u32(header + 0x10) == otype
    assert m.read_bytes(body, 0x20) == bytes(0x20)
    # Attributes asking for the system pool make a non-title object.
    attrs = m.new_object_attributes(b"", attributes=0x2000)
    m.write_u32(attrs + 4, 0)
    assert k.call("ObCreateObject", otype, attrs, 4, out) == STATUS_SUCCESS
    assert m.read_u8(m.read_u32(out) - 0x18 + 0xB) == 0
    assert k.call("ObCreateObject", otype, 0, 4, 0xFFFFFFF0) == STATUS_ACCESS_VIOLATION


def test_console_named_object_keeps_its_last_component() -> None:
    k = Kernel("console")
    m = k.memory
    out = m.alloc(4, 4)
    attrs = m.new_object_attributes(b"\\Device\\Widget")
    assert k.call("ObCreateObject", 0, attrs, 6, out) == STATUS_SUCCESS
    body = m.read_u32(out)
    header = body - 0x18
    info = header - 0x10
    assert m.read_u8(header + 0xB) == 0x11  # title object, named
    length, buffer = m.read_u16(info + 8), m.read_u32(info + 12)
    assert m.read_bytes(buffer, length) == b"Widget"
    assert buffer == body + 8  # after the 4-aligned body
    bad = m.new_object_attributes(b"\\Device\\\\x")
    assert k.call("ObCreateObject", 0, bad, 6, out) == STATUS_OBJECT_NAME_INVALID
    assert m.read_u32(out) == 0


def test_canary_named_object_stops_the_run() -> None:
    k = Kernel("canary")
    attrs = k.memory.new_object_attributes(b"Widget")
    with pytest.raises(GuestFault, match="ObCreateObject"):
        k.call("ObCreateObject", 0, attrs, 6, k.memory.alloc(4, 4))


def test_last_component() -> None:
    assert last_component(b"\\A\\B") == b"B"
    assert last_component(b"B") == b"B"
    for bad in (b"", b"\\", b"A\\", b"A\\\\B"):
        assert last_component(bad) is None
