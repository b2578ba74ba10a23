"""The common view of two traces: only what both sides record is compared.

Emulators record different things. Canary's log holds kernel calls with their
arguments and nothing else (no returns, no handle events, no module or
ordinal, and not its high-frequency exports); a full x360k trace holds all of
it. Comparing them raw makes every ``import.call`` of one side "extra" and
every call "changed" in fields the other side never had. So before keys are
built both sides are projected onto what *both* record:

* **kinds**: a side records the kinds its header lists in ``recorded_kinds``
  (every kind when it says nothing), minus its ``masked_kinds``; only kinds
  both record are compared;
* **exports**: an export either header masks (``masked_exports``), or that a
  header's ``recorded_exports`` list leaves out, is dropped on both sides;
* **fields**: a field (status, module, args, handle, ...) that only one trace
  has any value for is not compared (a field absent on one side is never a
  difference);
* **pointees**: canary prints what a pointer argument points at
  (``7005FB44(00000000)``); a reader keeps that text either in the argument
  itself or, when its header says ``extra.pointees = "text"``, in the event's
  ``text`` (a JSON array aligned with ``args``); it is compared only when both
  sides keep it the same way, else left out (``text`` with it);
* **allow-lists**: events the other side's ``recorded_exports`` leaves out
  are dropped too, but counted as *unrecorded*: a comparison that lost events
  that way (canary's log at its default level logs only exports tagged
  important) is partial and never reads as a MATCH;
* **an empty side** projects nothing away: its threads are missing, not
  unrecorded;
* **the handle check** needs ``handle.create`` and handle values (or sids) on
  both sides; otherwise it is switched off and the report says so.

Everything projected away is counted and named in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from x360k.diff.inputs import TraceColumns
from x360k.trace import arrowfn as af
from x360k.trace.event import KINDS

#: Fields whose presence decides whether they are compared (the key builder's fields).
PROJECTED_FIELDS: Final[tuple[str, ...]] = (
    "status",
    "ret",
    "entry",
    "offset",
    "length",
    "ordinal",
    "object_type",
    "path",
    "text",
    "checksum",
    "module",
    "args",
    "handle",
    "sid",
)
#: Rows of the args column looked at to decide whether a side prints pointees.
POINTEE_SAMPLE: Final = 1 << 20


def recorded_kinds(header: Mapping[str, Any]) -> frozenset[str]:
    """The kinds a trace's header says it records: all unless it lists them, minus masked."""
    listed = header.get("recorded_kinds")
    kinds = {str(k) for k in listed} if isinstance(listed, list) else set(KINDS)
    masked = header.get("masked_kinds")
    if isinstance(masked, list):
        kinds -= {str(k) for k in masked}
    return frozenset(kinds & set(KINDS))


def present_kinds(cols: TraceColumns) -> frozenset[str]:
    """The kinds a trace holds events of (one pass over its kind codes)."""
    codes = cols.kinds(0, cols.n)
    counts = np.bincount(codes[codes >= 0].astype(np.intp), minlength=len(KINDS))
    return frozenset(KINDS[k] for k in np.flatnonzero(counts))


def side_kinds(cols: TraceColumns) -> tuple[frozenset[str], list[str]]:
    """What a side records: its header's kinds, and any kind it holds events of anyway.

    A header that leaves out a kind its own file is full of is wrong about it
    (what a side logged, it records), so those events are compared, not dropped
    on one side only; the second item names them for the report.
    """
    said = recorded_kinds(cols.header)
    if said >= set(KINDS):
        return said, []
    held = present_kinds(cols)
    return said | held, [k for k in KINDS if k in held - said]


def _names(header: Mapping[str, Any], *keys: str) -> list[str] | None:
    for key in keys:
        value = header.get(key)
        if isinstance(value, list):
            return [str(v) for v in value]
    return None


#: Fields a format cannot hold even when its reader fills them in: canary's log prints
#: an export's name, not its module or ordinal (a reader may infer ``module`` from the
#: name, for some calls only, which is no record of what canary did).
CANARY_LOG_LACKS: Final = frozenset({"module", "ordinal"})


def unrecorded_fields(header: Mapping[str, Any]) -> frozenset[str]:
    """Fields the writer of a trace is known not to record, from its header."""
    canary = str(header.get("emulator", "")) == "xenia-canary"
    if canary and header.get("recorded_kinds") == ["kernel.call"]:
        return CANARY_LOG_LACKS  # the canary-log reader's header
    return frozenset()


def present_fields(cols: TraceColumns) -> frozenset[str]:
    """Fields with at least one value in the trace (Arrow keeps null counts: no scan)."""
    out = set()
    for name in PROJECTED_FIELDS:
        col = cols.column(name)
        if col is not None and col.null_count < len(col):
            out.add(name)
    return frozenset(out)


def pointee_style(cols: TraceColumns) -> str | None:
    """How a trace keeps canary's pointees: "text" (its header says so), "args" (an
    argument carries a ``(pointee)`` suffix; a sample is read) or None."""
    extra = cols.header.get("extra")
    if isinstance(extra, dict) and extra.get("pointees") == "text":
        return "text"
    return "args" if has_pointees(cols) else None


def has_pointees(cols: TraceColumns) -> bool:
    """Whether the trace's arguments carry canary's ``(pointee)`` suffix (a sample is read)."""
    col = cols.column("args", 0, min(cols.n, POINTEE_SAMPLE))
    if col is None or col.null_count == len(col):
        return False
    for chunk in col.chunks:
        values = af.list_flatten(chunk)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        if len(values) and af.any_true(af.match_substring(values, "(")):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Projection:
    """What both sides are compared on, and what was left out, with the reason."""

    #: Kinds compared (both sides record them).
    kinds: frozenset[str] = frozenset(KINDS)
    #: Kinds dropped from a side ("reference"/"candidate") because the other does not record them.
    dropped_kinds: dict[str, list[str]] = field(default_factory=dict)
    #: Exports dropped on both sides (masked by a header, or left out of its recorded list).
    dropped_exports: frozenset[str] = frozenset()
    #: Those of ``dropped_exports`` only a header's recorded list left out: a side that
    #: lost events to them was compared only in part.
    unrecorded_exports: frozenset[str] = frozenset()
    #: Fields not compared -> the side that has no value for them.
    dropped_fields: dict[str, str] = field(default_factory=dict)
    #: Pointee text compared (both sides print it)?
    pointees: bool = False
    #: Both sides keep pointees in ``text`` (a JSON array aligned with ``args``).
    pointee_text: bool = False
    pointee_note: str = ""
    #: Handle origins checked (both sides record handle.create and name handles)?
    handle_check: bool = True
    handle_note: str = ""
    #: Where a side's header contradicts its own events (kinds it holds but says it drops).
    header_notes: tuple[str, ...] = ()

    def notes(self) -> list[str]:
        """One line per thing projected away, for every report format."""
        out = list(self.header_notes)
        for side, kinds in self.dropped_kinds.items():
            if kinds:
                other = "candidate" if side == "reference" else "reference"
                out.append(
                    f"{side} kinds not compared ({other} does not record them): {', '.join(kinds)}"
                )
        if self.dropped_exports:
            names = sorted(self.dropped_exports)
            more = f", ... ({len(names)} in all)" if len(names) > 5 else ""
            out.append(
                "exports not compared (masked by a header or not in its recorded list): "
                + ", ".join(names[:5])
                + more
            )
        for side in ("reference", "candidate"):
            fields = [
                name
                for name, who in sorted(self.dropped_fields.items())
                if who == side and not (name in ("handle", "sid") and self.handle_note)
            ]
            if fields:
                out.append(
                    f"fields not compared (the {side} has no value for them): {', '.join(fields)}"
                )
        if self.pointee_note:
            out.append(self.pointee_note)
        if self.handle_note:
            out.append(self.handle_note)
        return out


def project(
    ref: TraceColumns, cand: TraceColumns, *, exports: bool = True, common: bool = True
) -> Projection:
    """The common view of two traces from their headers and the columns they have.

    ``exports`` applies the header export lists (rule ``unlogged-exports``);
    ``common`` the kinds, fields and pointees (rule ``common-view``).
    """
    dropped_exports: set[str] = set()
    unrecorded: set[str] = set()
    sides = [s for s in (ref, cand) if s.n]  # an empty side's header projects nothing away
    if exports:
        for side in sides:
            masked = _names(side.header, "masked_exports", "masked")
            if masked:
                dropped_exports.update(masked)
        for side, other in ((ref, cand), (cand, ref)):
            listed = _names(side.header, "recorded_exports", "recorded")
            if side.n and listed and listed != ["*"]:
                keep = set(listed) | set(_export_names(side))  # what it logged, it records
                unrecorded.update(n for n in _export_names(other) if n not in keep)
        unrecorded -= dropped_exports
        dropped_exports |= unrecorded
    if not common:
        return Projection(
            dropped_exports=frozenset(dropped_exports), unrecorded_exports=frozenset(unrecorded)
        )
    rk, ref_extra = side_kinds(ref) if ref.n else (frozenset(KINDS), [])
    ck, cand_extra = side_kinds(cand) if cand.n else (frozenset(KINDS), [])
    kinds = rk & ck
    header_notes = [
        f"{side} {cols.path}: holds events of kinds its header says it does not record "
        f"({', '.join(extra)}): compared as recorded"
        for side, cols, extra in (("reference", ref, ref_extra), ("candidate", cand, cand_extra))
        if extra
    ]
    dropped_kinds = {
        "reference": [k for k in KINDS if k in rk and k not in ck],
        "candidate": [k for k in KINDS if k in ck and k not in rk],
    }
    rf = present_fields(ref) - unrecorded_fields(ref.header)
    cf = present_fields(cand) - unrecorded_fields(cand.header)
    dropped_fields: dict[str, str] = {}
    if ref.n and cand.n:  # an empty side has no fields: nothing to say about them
        dropped_fields = {f: "candidate" for f in rf - cf} | {f: "reference" for f in cf - rf}
    rp, cp = pointee_style(ref), pointee_style(cand)
    pointee_note = ""
    if rp != cp and ref.n and cand.n:
        if rp and cp:
            pointee_note = "pointer targets not compared: the two sides keep them differently"
        else:
            who = "reference" if rp else "candidate"
            pointee_note = f"pointer targets not compared: only the {who} prints them"
        if "text" in (rp, cp):  # that side's text holds only pointees
            dropped_fields["text"] = "candidate" if rp == "text" else "reference"
    handle_check = "handle.create" in kinds and bool(
        {"handle", "sid"} & rf and {"handle", "sid"} & cf
    )
    handle_note = ""
    if not handle_check and ref.n and cand.n:
        handle_note = (
            "handle origins not checked: a side records no handle.create or no handles "
            "(handle arguments are not compared either)"
        )
    return Projection(
        kinds=kinds,
        dropped_kinds=dropped_kinds,
        dropped_exports=frozenset(dropped_exports),
        unrecorded_exports=frozenset(unrecorded),
        dropped_fields=dropped_fields,
        pointees=rp == cp == "args",
        pointee_text=rp == cp == "text",
        pointee_note=pointee_note,
        handle_check=handle_check,
        handle_note=handle_note,
        header_notes=tuple(header_notes),
    )


def _export_names(cols: TraceColumns) -> list[str]:
    from x360k.diff.keys import dictionary_values

    names = cols.column("name")
    if names is None or names.null_count == len(names):
        return []
    return dictionary_values(names)
