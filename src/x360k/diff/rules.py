"""The names of the normalisation rules and of the fields ``--ignore`` accepts.

Kept apart from the key builder (numpy, pyarrow) so that the command line can
list them in ``--help`` without importing anything heavy.
"""

from __future__ import annotations

from typing import Final

#: Every normalisation rule, by name, with what it does (shown by ``--help`` and in reports).
RULES: Final[dict[str, str]] = {
    "handles": "handle values and sids replaced by their origin (the matching handle.create)",
    "pointers": "pointer arguments masked, per export argument (ArgTable)",
    "timestamps": "timestamps ignored",
    "unlogged-exports": "candidate events for exports the reference does not log dropped",
    "volatile": "raw thread ids, call ids and guest return addresses ignored",
}

#: Fields the user may drop from comparison with ``--ignore``.
IGNORABLE: Final[tuple[str, ...]] = (
    "status",
    "ret",
    "args",
    "object_type",
    "entry",
    "path",
    "text",
    "checksum",
    "offset",
    "length",
    "module",
    "ordinal",
)

__all__ = ["IGNORABLE", "RULES"]
