"""KeTls*: per-thread storage behind one process-wide index bitmap."""

from __future__ import annotations

import pytest

from x360k.kernel import Kernel
from x360k.quirks import Profile


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_values_are_per_thread(profile: Profile) -> None:
    k = Kernel(profile)
    other = k.spawn(iter(()))  # type: ignore[arg-type]
    index = k.call("KeTlsAlloc")
    assert index == 0
    assert k.call("KeTlsSetValue", index, 0x1234) == 1
    assert k.call("KeTlsGetValue", index) == 0x1234
    assert k.call("KeTlsGetValue", index, thread=other) == 0
    # PCR+0 points at the block the value lives in, as guest code reads it.
    block = k.memory.read_u32(k.main_thread.pcr)
    assert k.memory.read_u32(block + 4 * index) == 0x1234


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_free_zeroes_every_thread_and_reuses_lowest(profile: Profile) -> None:
    k = Kernel(profile)
    other = k.spawn(iter(()))  # type: ignore[arg-type]
    a, b = k.call("KeTlsAlloc"), k.call("KeTlsAlloc")
    assert (a, b) == (0, 1)
    k.call("KeTlsSetValue", a, 7)
    k.call("KeTlsSetValue", a, 8, thread=other)
    assert k.call("KeTlsFree", a) == 1
    assert k.call("KeTlsGetValue", a, thread=other) == 0
    assert k.call("KeTlsAlloc") == 0
    assert k.call("KeTlsFree", 0xFFFFFFFF) == 0


@pytest.mark.parametrize("profile", ["canary", "console"])
def test_exhaustion(profile: Profile) -> None:
    k = Kernel(profile)
    indices = [k.call("KeTlsAlloc") for _ in range(1024)]
    assert indices == list(range(1024))
    extra = k.call("KeTlsAlloc")
    if profile == "canary":
        # Canary's bitmap has 2048 entries but storage for 1024: the index is unusable.
        assert extra == 1024
        assert k.call("KeTlsSetValue", extra, 5) == 0
        assert k.call("KeTlsGetValue", extra) == 0
    else:
        assert extra == 0xFFFFFFFF


def test_free_of_unallocated_index_per_profile() -> None:
    assert Kernel("canary").call("KeTlsFree", 5) == 1
    assert Kernel("console").call("KeTlsFree", 5) == 0
