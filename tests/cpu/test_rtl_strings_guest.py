"""The Rtl strings guest (guests/rtl_strings.c): real PowerPC code through the string exports.

The guest returns the number of the first check that failed, or a bit mask of
the canary quirks it saw (bit 8: unicode_to_ansi_keeps_length). Its sprintf and
DbgPrint calls are variadic: their arguments after the format reach the kernel
only if a call from guest code brings all of r3..r10, on both CPU paths.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from x360k.cpu.runner import execute_guest
from x360k.exports import guest_strings
from x360k.trace.recorder import MemoryRecorder

Guest = Callable[[str], Path]
KEEPS_LENGTH = 0x100


@pytest.mark.parametrize("serve_in_hook", [True, False])
@pytest.mark.parametrize(
    ("profile", "quirks", "expected"),
    [
        ("console", {}, 0),
        ("canary", {}, KEEPS_LENGTH),
        ("canary", {"unicode_to_ansi_keeps_length": False}, 0),
        ("console", {"unicode_to_ansi_keeps_length": True}, KEEPS_LENGTH),
    ],
)
def test_every_check_passes_and_only_the_quirk_shows(
    guest: Guest, profile: str, quirks: dict[str, bool], expected: int, serve_in_hook: bool
) -> None:
    recorder = MemoryRecorder()
    run = execute_guest(
        guest("rtl_strings"),
        profile=profile,  # type: ignore[arg-type]
        quirks=quirks,
        recorder=recorder,
        keep_trace=False,
        serve_in_hook=serve_in_hook,
    )
    assert run.outcome == "finished"
    assert run.kernel.threads[0].exit_code == expected
    texts = {(e.name, e.text) for e in recorder.events if e.kind == "kernel.return" and e.text}
    assert ("sprintf", "n=-5/0000BEEF") in texts
    markers = [e.text for e in recorder.events if e.kind == "marker"]
    assert markers == [f"DbgPrint: rtl_strings: Hello, Xbox, 22 checks, quirks {expected:03X}"]


def test_the_allocated_string_is_given_back(guest: Guest) -> None:
    run = execute_guest(guest("rtl_strings"), profile="console")
    assert run.kernel.ext.get(guest_strings.HEAP_KEY, {}) == {}
