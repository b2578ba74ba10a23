"""Guest memory: mapping, big-endian access, the allocator and guest string structures."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from x360k.memory import PAGE_SIZE, GuestMemory, GuestMemoryError


def test_big_endian_scalars() -> None:
    mem = GuestMemory()
    base = mem.map(0x40000000, PAGE_SIZE).base
    mem.write_u32(base, 0x11223344)
    assert mem.read_bytes(base, 4) == b"\x11\x22\x33\x44"
    mem.write_u16(base + 4, 0xBEEF)
    assert mem.read_u8(base + 4) == 0xBE
    mem.write_u64(base + 8, 0x0102030405060708)
    assert mem.read_u32(base + 8) == 0x01020304
    mem.write_s64(base + 16, -10_000)
    assert mem.read_s64(base + 16) == -10_000
    assert mem.read_u64(base + 16) == (1 << 64) - 10_000
    mem.write_u32(base + 24, 0xFFFFFFFE)
    assert mem.read_s32(base + 24) == -2


def test_unmapped_access_names_address_and_size() -> None:
    mem = GuestMemory()
    with pytest.raises(GuestMemoryError, match=r"0x10000000 \(size 4\)") as info:
        mem.read_u32(0x10000000)
    assert info.value.address == 0x10000000 and info.value.size == 4
    region = mem.map(0x50000000, PAGE_SIZE)
    with pytest.raises(GuestMemoryError):
        mem.write_u32(region.end - 2, 0)  # straddles the end of the mapping
    assert not mem.is_mapped(region.end - 2, 4)
    assert mem.is_mapped(region.end - 4, 4)


def test_mapping_twice_is_refused() -> None:
    mem = GuestMemory()
    mem.map(0x60000000, PAGE_SIZE)
    with pytest.raises(ValueError, match="already mapped"):
        mem.map(0x60000000 + 16, 8)


def test_map_listener_sees_later_regions() -> None:
    mem = GuestMemory()
    seen = []
    mem.on_map(seen.append)
    region = mem.map(0x70000000, 1)
    assert seen == [region]
    assert len(region.data) == PAGE_SIZE


@given(
    st.lists(st.tuples(st.integers(0, 5000), st.sampled_from([1, 2, 4, 8, 16, 64])), max_size=40)
)
def test_alloc_is_aligned_zeroed_and_disjoint(requests: list[tuple[int, int]]) -> None:
    mem = GuestMemory()
    spans = []
    for size, align in requests:
        address = mem.alloc(size, align)
        assert address % align == 0
        assert mem.is_mapped(address, max(size, 1))
        assert mem.read_bytes(address, size) == bytes(size)
        mem.fill(address, size, 0xAA)
        spans.append((address, address + max(size, 1)))
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_system_blocks_are_reused_zeroed() -> None:
    mem = GuestMemory()
    block = mem.alloc_system(40)
    mem.fill(block, 40, 0x55)
    mem.free_system(block, 40)
    again = mem.alloc_system(40)
    assert again == block
    assert mem.read_bytes(again, 40) == bytes(40)
    assert mem.alloc_system(40) != block


def test_guest_strings() -> None:
    mem = GuestMemory()
    ansi = mem.new_ansi_string("Hello")
    assert mem.read_u16(ansi) == 5 and mem.read_u16(ansi + 2) == 6
    assert mem.read_ansi_string(ansi) == b"Hello"
    assert mem.read_cstring(mem.read_u32(ansi + 4)) == b"Hello"
    attrs = mem.new_object_attributes("Name", root=0xFFFFFFFC)
    assert mem.read_u32(attrs) == 0xFFFFFFFC
    assert mem.read_u32(attrs + 8) == 0x40
    assert mem.read_object_name(attrs) == b"Name"
    assert mem.read_object_name(mem.new_object_attributes(None)) == b""
    text = "Déjà".encode("utf-16-be")
    buffer = mem.alloc(len(text))
    mem.write_bytes(buffer, text)
    ustr = mem.alloc(8)
    mem.write_u16(ustr, len(text))
    mem.write_u16(ustr + 2, len(text))
    mem.write_u32(ustr + 4, buffer)
    assert mem.read_unicode_string(ustr) == "Déjà"


def test_empty_ansi_string_reads_nothing() -> None:
    mem = GuestMemory()
    header = mem.alloc(8)
    assert mem.read_ansi_string(header) == b""  # length 0, null buffer


def test_thread_memory_is_reused_after_the_thread_object_goes() -> None:
    from x360k.kernel import Kernel

    k = Kernel("console")
    out = k.memory.alloc(4)

    def worker(t: object, args: tuple[int, ...]):  # type: ignore[no-untyped-def]
        yield ("NtYieldExecution", ())
        return 0

    start = k.register_routine(worker)  # type: ignore[arg-type]

    def main():  # type: ignore[no-untyped-def]
        seen = set()
        for _ in range(20):
            yield ("ExCreateThread", (out, 0, 0, 0, start, 0, 0))
            handle = k.memory.read_u32(out)
            yield ("NtWaitForSingleObjectEx", (handle, 0, 0, 0))
            seen.add(k.table.lookup(handle, None).kthread)  # type: ignore[union-attr]
            yield ("NtClose", (handle,))
        return len(seen)

    main_thread = k.start_main(main())
    assert k.run().outcome == "finished"
    # Every child's KTHREAD went back to the arena and the next child took it again.
    assert main_thread.exit_code == 1
