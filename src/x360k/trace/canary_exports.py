"""The exports Xenia canary declares, with the tags that decide what its log holds.

A view of :mod:`x360k.canary_exports` (read from canary's source): for each
function canary's export wrapper handles, its module, ordinal and whether it
is tagged important (logged at level ``i``, so kept at canary's default log
level) or high-frequency (logged only with ``log_high_frequency_kernel_calls``).
String shims and variables are left out: the wrapper never logs them. The
canary log reader uses it to tell call lines from messages and to fill in
``module`` and ``ordinal``.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from x360k import canary_exports


class CanaryExport(NamedTuple):
    """One export as canary declares it."""

    module: str
    ordinal: int
    important: bool
    high_frequency: bool


def _load_exports() -> dict[str, CanaryExport]:
    return {
        e.name: CanaryExport(e.module, e.ordinal, e.important, e.high_frequency)
        for library in canary_exports.libraries()
        for e in canary_exports.table(library).values()
        if e.declared
    }


#: Every export canary's shims declare (canary commit 263c722a40d2), by name.
CANARY_EXPORTS: Final[dict[str, CanaryExport]] = _load_exports()
#: Exports canary tags high-frequency, xam's included: absent from its log unless
#: ``log_high_frequency_kernel_calls`` is true.
HIGH_FREQUENCY_EXPORTS: Final[frozenset[str]] = frozenset(
    name for name, export in CANARY_EXPORTS.items() if export.high_frequency
)
#: Exports canary tags important: logged at level ``i``, so kept at its default level.
IMPORTANT_EXPORTS: Final[frozenset[str]] = frozenset(
    name for name, export in CANARY_EXPORTS.items() if export.important
)
