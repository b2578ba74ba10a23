"""Property: operations through pointers and through handles act on one object.

Random mixes of set/reset/pulse/poll/release, each sent either through a Ke*
pointer export or the Nt* handle export, must observe exactly what the same
sequence sent only through handles observes; under the console profile the
guest header's signal state must also equal the object's state after every
operation.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from x360k.kernel import Kernel
from x360k.native import header as H
from x360k.native.bridge import resolve
from x360k.quirks import PROFILES, Profile

OPS = ("set", "reset", "pulse", "poll", "release")
Op = tuple[str, int, int, bool]  # (operation, object index, release count, through pointer)


class Objects:
    """Two events (one Nt-created, one inline in guest memory) and an Nt-created semaphore."""

    def __init__(self, profile: Profile) -> None:
        self.k = k = Kernel(profile)
        mem = k.memory
        self.zero = mem.alloc(8, 8)
        out = mem.alloc(4, 4)
        k.call("NtCreateEvent", out, 0, 1, 0)
        created = mem.read_u32(out)
        inline = mem.alloc(16, 8)
        mem.write_u8(inline, H.GuestType.NOTIFICATION_EVENT)
        H.init_list_head(mem, inline + H.WAIT_LIST_FLINK)
        k.call("ObOpenObjectByPointer", inline, 0, out)
        inline_handle = mem.read_u32(out)
        k.call("NtCreateSemaphore", out, 0, 1, 3)
        sem = mem.read_u32(out)
        self.handles = [created, inline_handle, sem]
        self.pointers = []
        for handle in self.handles:
            k.call("ObReferenceObjectByHandle", handle, 0, out)
            self.pointers.append(mem.read_u32(out))
        assert self.pointers[1] == inline

    def apply(self, op: Op) -> int | None:
        """Run one operation; returns what a title could observe (a wait status) or None."""
        name, index, count, by_pointer = op
        k = self.k
        if name == "release":
            if by_pointer:
                k.call("KeReleaseSemaphore", self.pointers[2], 1, count, 0)
            else:
                k.call("NtReleaseSemaphore", self.handles[2], count, 0)
            return None
        if name == "poll":
            if by_pointer:
                return k.call("KeWaitForSingleObject", self.pointers[index], 0, 1, 0, self.zero)
            return k.call("NtWaitForSingleObjectEx", self.handles[index], 1, 0, self.zero)
        index %= 2
        if by_pointer:
            export = {"set": "KeSetEvent", "reset": "KeResetEvent", "pulse": "KePulseEvent"}[name]
            args = (self.pointers[index],) if name == "reset" else (self.pointers[index], 0, 0)
        else:
            export = {"set": "NtSetEvent", "reset": "NtClearEvent", "pulse": "NtPulseEvent"}[name]
            args = (self.handles[index],) if name == "reset" else (self.handles[index], 0)
        k.call(export, *args)
        return None

    def header_matches_objects(self) -> bool:
        for ptr in self.pointers:
            obj = resolve(self.k, ptr, None)
            assert obj is not None
            if self.k.memory.read_s32(ptr + H.SIGNAL_STATE) != obj.signal_state():
                return False
        return True


ops = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 2), st.integers(-1, 3), st.booleans()),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(profile=st.sampled_from(PROFILES), sequence=ops)
def test_pointer_and_handle_mixes_agree_with_handle_only_runs(
    profile: Profile, sequence: list[Op]
) -> None:
    mixed, handles_only = Objects(profile), Objects(profile)
    for op in sequence:
        seen = mixed.apply(op)
        assert seen == handles_only.apply((op[0], op[1], op[2], False)), op
        if profile == "console":
            assert mixed.header_matches_objects(), op
    final = [mixed.apply(("poll", i, 0, True)) for i in range(3)]
    assert final == [handles_only.apply(("poll", i, 0, False)) for i in range(3)]
