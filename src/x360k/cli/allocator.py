"""Keep freed memory in the C heap for the next array, instead of handing it back.

The diff builds its keys in stretches of half a million rows: every stretch
allocates and frees arrays of a few megabytes. glibc serves blocks that large
with a fresh ``mmap`` and unmaps them when freed, and returns the heap's top to
the OS as soon as 128 KiB of it is free, so each stretch's arrays were new pages
to fault in again: at 10M events per side 550k page faults and a quarter of the
run's time, at 100M a third. Raising the two thresholds once, as ``x360k diff``
and ``x360k trace`` start, lets freed blocks be reused (10M: 126k faults, 15% less
wall time, the same peak). Other commands leave it (and ctypes' import) alone.

glibc only: other C libraries (musl's ``mallopt`` does nothing) and platforms are
left as they are, and so is a user who set either threshold in the environment
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``), which glibc reads itself.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Final

#: glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
#: Blocks up to this size come from the heap (glibc's largest allowed on 64-bit: 32 MiB).
MMAP_THRESHOLD: Final = 32 << 20
#: Free memory at the heap's top kept before it is returned to the OS.
TRIM_THRESHOLD: Final = 1 << 30
_ENVIRONMENT: Final = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module's docstring); whether it did."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 when it took the value, 0 when it did not (or does nothing, as musl's)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
