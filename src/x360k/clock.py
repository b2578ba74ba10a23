"""The guest's view of time: the constants that map x360k's virtual clock to guest values.

The kernel's clock counts 100 ns ticks from 0 and moves only when the
scheduler moves it; these constants say what a guest reads for it.
"""

from __future__ import annotations

from typing import Final

#: KeQuerySystemTime at virtual time 0: 2020-01-01 00:00 UTC in 100 ns units since 1601.
SYSTEM_TIME_BASE: Final = 132223104000000000
#: KeQueryPerformanceFrequency: the console's 50 MHz time base.
PERFORMANCE_FREQUENCY: Final = 50_000_000
#: The end of virtual time (100 ns ticks, about 14,600 years): deadlines past it are clamped
#: here. The kernel's own due times are 64-bit counts a guest can push past any reachable time
#: (a relative -2**63, an absolute 0x7FFF...); x360k stops them here so that the clock, the
#: system time derived from it (SYSTEM_TIME_BASE + clock) and every trace field stay well
#: inside int64 with room for the call costs added after.
CLOCK_MAX: Final = 1 << 62


def clamp_deadline(when: int) -> int:
    """A virtual deadline no later than :data:`CLOCK_MAX` (a wait that long never ends sooner)."""
    return when if when < CLOCK_MAX else CLOCK_MAX
