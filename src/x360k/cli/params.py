"""Option types shared by the ``x360k`` commands, so a bad value is refused the same way.

A count given as ``--show -1`` or ``--max-events -5`` is not quietly read as
"none" or "all": the command stops with one line naming the option, the
value and what it accepts. ``check_thread_map`` does the same for a
``--map R=C`` that names threads neither trace has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click


class WholeNumber(click.ParamType[int]):
    """A whole number of at least ``minimum`` (decimal, ``0x`` hex or with ``_``)."""

    name = "integer"

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "N" if self.minimum <= 0 else f"N>={self.minimum}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip(), 0)
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        if number < self.minimum:
            self.fail(
                f"{number} is out of range: give a whole number >= {self.minimum}", param, ctx
            )
        return number


#: A count that may be zero (``--show 0``: show none in detail).
COUNT = WholeNumber(0)
#: A count that must be at least one (``--max-events``).
POSITIVE = WholeNumber(1)


def check_thread_map(
    forced: dict[int, int], ref_tids: Iterable[int], cand_tids: Iterable[int]
) -> None:
    """Refuse a thread pairing that names a thread one of the traces does not have.

    Raises ``click.BadParameter`` (one line, ``--map``) listing the threads each
    side does have, so a typo is not silently a pairing of nothing.
    """
    ref, cand = sorted(set(ref_tids)), sorted(set(cand_tids))
    for side, tids, wanted in (
        ("reference", ref, forced.keys()),
        ("candidate", cand, forced.values()),
    ):
        missing = sorted(set(wanted) - set(tids))
        if missing:
            have = ", ".join(map(str, tids[:20])) + (", ..." if len(tids) > 20 else "")
            raise click.BadParameter(
                f"the {side} trace has no thread {', '.join(map(str, missing))} "
                f"(its threads: {have or 'none'})",
                param_hint="--map",
            )
