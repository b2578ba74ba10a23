"""The names of the normalisation rules and of the fields ``--ignore`` accepts.

Kept apart from the key builder (numpy, pyarrow) so that the command line can
list them in ``--help`` without importing anything heavy.
"""

from __future__ import annotations

from typing import Final

#: Every normalisation rule, by name, with what it does (shown by ``--help`` and in reports).
RULES: Final[dict[str, str]] = {
    "common-view": "kinds and fields only one side records (its header, its columns) not compared",
    "handles": "handle values and sids replaced by their origin (the matching handle.create)",
    "pointers": "pointer arguments masked, per export argument (ArgTable)",
    "timestamps": "timestamps ignored",
    "unlogged-exports": "events for exports either header masks or leaves unrecorded dropped",
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

#: Every class of finding (classify.CLASSES, repeated here for ``--help``).
FINDING_CLASSES: Final[tuple[str, ...]] = (
    "changed",
    "missing",
    "extra",
    "reordered",
    "unmapped",
    "truncated",
)
#: What ``--fail-on`` accepts: the finding classes, and "unrecorded" (a partial
#: comparison: one side's header does not record exports the other side calls).
FAIL_ON_CLASSES: Final[tuple[str, ...]] = (*FINDING_CLASSES, "unrecorded")

__all__ = ["FAIL_ON_CLASSES", "FINDING_CLASSES", "IGNORABLE", "RULES"]
