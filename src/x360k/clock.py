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
