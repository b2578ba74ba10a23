"""The exports Xenia canary declares, with the tags that decide what its log holds.

Read from canary's source (its shim declarations and export tables, commit
263c722a40d2) into ``canary-exports.json``: for each export its module,
ordinal and whether it is tagged important (logged at level ``i``, so kept at
canary's default log level) or high-frequency (logged only with
``log_high_frequency_kernel_calls``). The canary log reader uses it to tell
call lines from messages and to fill in ``module`` and ``ordinal``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Final, NamedTuple


class CanaryExport(NamedTuple):
    """One export as canary declares it."""

    module: str
    ordinal: int
    important: bool
    high_frequency: bool


def _load_exports() -> dict[str, CanaryExport]:
    text = resources.files("x360k.trace").joinpath("canary-exports.json").read_text()
    rows = json.loads(text)["exports"]
    return {
        name: CanaryExport(module, ordinal, "i" in tags, "h" in tags)
        for name, module, ordinal, tags in rows
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
