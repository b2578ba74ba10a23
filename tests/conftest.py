"""Shared fixtures: a traced kernel per profile and small helpers to drive it."""

from __future__ import annotations

import pytest

from x360k.kernel import Kernel
from x360k.object_namespace import NAMED_OBJECTS_ROOT
from x360k.quirks import PROFILES, Profile
from x360k.trace.recorder import MemoryRecorder


class Harness:
    """A kernel with an in-memory trace and shorthands for the calls tests make most."""

    def __init__(self, profile: Profile, **quirks: bool) -> None:
        self.profile = profile
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, quirks=quirks, recorder=self.rec, keep_destroyed=True)
        self.mem = self.k.memory

    def out(self) -> int:
        ptr = self.mem.alloc(4, 4)
        self.mem.write_u32(ptr, 0xCCCCCCCC)
        return ptr

    def create_event(
        self, name: str | None = None, manual: bool = False, state: bool = False
    ) -> int:
        ptr = self.out()
        attrs = self.attrs(name) if name is not None else 0
        status = self.k.call("NtCreateEvent", ptr, attrs, 0 if manual else 1, int(state))
        assert status in (0, 0x40000000), hex(status)
        return self.mem.read_u32(ptr)

    def attrs(self, name: str, attributes: int = 0x40) -> int:
        """OBJECT_ATTRIBUTES for ``name``, relative to the named-objects root as titles pass it.

        (Canary ignores the root; the console needs one for a relative name.)
        """
        return self.mem.new_object_attributes(name, root=NAMED_OBJECTS_ROOT, attributes=attributes)

    def duplicate(self, handle: int, options: int = 0) -> tuple[int, int]:
        ptr = self.out()
        status = self.k.call("NtDuplicateObject", handle, ptr, options)
        return status, self.mem.read_u32(ptr)

    def kinds(self, tid: int = 0) -> list[str]:
        return [e.kind for e in self.rec.thread(tid)]

    def events(self, kind: str) -> list:  # type: ignore[type-arg]
        return [e for e in self.rec.events if e.kind == kind]


@pytest.fixture(params=PROFILES)
def h(request: pytest.FixtureRequest) -> Harness:
    """A harness under each profile in turn."""
    return Harness(request.param)


@pytest.fixture
def canary() -> Harness:
    return Harness("canary")


@pytest.fixture
def console() -> Harness:
    return Harness("console")
