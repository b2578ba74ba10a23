"""Turn a finding into something a person can act on: window, stack, handle origins, a sentence.

Only findings that are shown are explained, so this module may work event by
event in Python: it rebuilds the few events it needs from the columns.
"""

from __future__ import annotations

import shlex

import msgspec
import numpy as np

from x360k.diff.classify import Finding
from x360k.diff.compare import DiffResult, PairResult
from x360k.diff.inputs import Rows, TraceColumns
from x360k.diff.keys import split_pointee
from x360k.status import status_name
from x360k.trace.event import KIND_CODE, TraceEvent

#: Fields shown in the seed's display format, in order, after ``[idx] kind name``.
DISPLAY_FIELDS = (
    "status",
    "ret",
    "handle",
    "sid",
    "object_type",
    "args",
    "child_tid",
    "entry",
    "path",
    "offset",
    "length",
    "checksum",
    "text",
)
#: Fields compared (after normalisation) when telling what changed.
COMPARED_FIELDS = (
    "kind",
    "name",
    "status",
    "ret",
    "object_type",
    "args",
    "entry",
    "path",
    "offset",
    "length",
    "checksum",
    "text",
    "module",
    "ordinal",
)
HEX_FIELDS = frozenset({"status", "ret", "handle", "entry", "checksum"})

CONTEXT = 3
MAX_HUNK_ROWS = 12
STACK_WALK = 20_000


class WindowRow(msgspec.Struct):
    """One row of the side-by-side window.

    ``mark``: '=' same, '~' changed, '%' reordered, '-' reference only, '+' candidate only.
    """

    mark: str
    ref: str | None
    cand: str | None
    ref_fields: dict[str, str]
    cand_fields: dict[str, str]
    differing: list[str]


class Explained(msgspec.Struct):
    """A finding with everything a report shows about it."""

    number: int
    cls: str
    ref_tid: int
    cand_tid: int
    ref_idx: int
    cand_idx: int
    ref_count: int
    cand_count: int
    export: str | None
    fields: list[str]
    explanation: str
    ref_stack: list[str]
    cand_stack: list[str]
    handles: list[str]
    window: list[WindowRow]
    rerun: str
    synced: bool = True


def status_text(status: int) -> str:
    """A status as ``x360k run`` prints it: ``STATUS_OBJECT_NAME_COLLISION (0xC0000035)``."""
    value = status & 0xFFFFFFFF
    name = status_name(value)
    return name if name.startswith("0x") else f"{name} (0x{value:08X})"


def field_values(ev: TraceEvent) -> dict[str, str]:
    """The displayed fields of an event as strings (hex where the kernel speaks hex)."""
    out: dict[str, str] = {}
    for name in DISPLAY_FIELDS:
        v = getattr(ev, name)
        if v is None:
            continue
        if name == "args":
            out[name] = ",".join(v)
        elif name == "status" and isinstance(v, int):
            out[name] = status_text(v)
        elif name in HEX_FIELDS and isinstance(v, int):
            out[name] = f"0x{v & 0xFFFFFFFFFFFFFFFF:08x}"
        else:
            out[name] = str(v)
    return out


def display(ev: TraceEvent) -> str:
    """The seed's display format: ``[idx] kind name key=value ...``."""
    parts = [f"[{ev.idx}]", ev.kind]
    if ev.name:
        parts.append(ev.name)
    parts.extend(f"{k}={v}" for k, v in field_values(ev).items())
    return " ".join(parts)


def _masked_args(ev: TraceEvent, result: DiffResult) -> list[tuple[str | None, str | None]]:
    norm = result.options.norm
    types = norm.arg_table.get(ev.name or "", ())
    out: list[tuple[str | None, str | None]] = []
    for k, a in enumerate(ev.args or []):
        t = types[k] if k < len(types) else "value"
        masked = (t == "ptr" and norm.on("pointers")) or (t == "handle" and norm.on("handles"))
        head, pointee = split_pointee(a)
        value = None if masked else _arg_number(head)
        out.append((value, pointee if result.projection.pointees else None))
    return out


def _arg_number(text: str) -> str:
    try:
        return f"{int(text, 0):x}"
    except ValueError:
        return text


def differing_fields(r: TraceEvent, c: TraceEvent, result: DiffResult) -> list[str]:
    """Compared fields whose normalised values differ between two events.

    Fields the projection left out (only one side has them) never differ.
    """
    ignore = result.options.norm.ignore | set(result.projection.dropped_fields)
    out: list[str] = []
    for name in COMPARED_FIELDS:
        if name in ignore:
            continue
        if name == "args":
            if _masked_args(r, result) != _masked_args(c, result):
                out.append(name)
        elif getattr(r, name) != getattr(c, name):
            out.append(name)
    if not result.options.norm.on("handles"):
        out.extend(
            f for f in ("handle", "sid") if f not in ignore and getattr(r, f) != getattr(c, f)
        )
    return out


def open_stack(cols: TraceColumns, rows: Rows, pos: int) -> list[str]:
    """Open kernel calls (outermost first) just before position ``pos`` of a thread.

    Looks back at most STACK_WALK events. A call is still open at ``pos`` when
    the call depth after it never drops below its own level before ``pos``:
    one vectorised pass over the window, then a lookup of the few open frames.
    """
    end = min(pos, len(rows))
    begin = max(0, end - STACK_WALK)
    if end <= begin:
        return []
    lo, hi = int(rows[begin]), int(rows[end - 1]) + 1
    kind = cols.kinds(lo, hi)
    if not isinstance(rows, range):
        kind = kind[np.asarray(rows[begin:end]) - lo]
    step = (kind == KIND_CODE["kernel.call"]).astype(np.int64) - (
        kind == KIND_CODE["kernel.return"]
    ).astype(np.int64)
    level = np.cumsum(step)
    suffix_min = np.minimum.accumulate(level[::-1])[::-1]
    is_open = (kind == KIND_CODE["kernel.call"]) & (level <= suffix_min)
    frames: list[str] = []
    for p in np.flatnonzero(is_open).tolist():
        row = int(rows[begin + p])
        frames.append(f"{cols.value('name', row) or '?'} (called at #{cols.idx_at(row)})")
    return frames


def _arg_difference(k: int, r: str, c: str) -> str:
    """One differing argument; when only canary's printed pointer target differs, say so."""
    rp, rt = split_pointee(r)
    cp, ct = split_pointee(c)
    if rt is not None and ct is not None and rp.lower() == cp.lower():
        return f"args[{k}] points at 0x{rt.lower()} vs 0x{ct.lower()}"
    return f"args[{k}] {r} vs {c}"


def _pointee_parts(r: str | None, c: str | None) -> list[str]:
    """``args[0] points at 0x00000000 vs 0x00000001`` from two pointee arrays in ``text``."""
    try:
        ra, ca = msgspec.json.decode(r or "[]"), msgspec.json.decode(c or "[]")
    except msgspec.DecodeError:
        return [f"text {r} vs {c}"]
    if not (isinstance(ra, list) and isinstance(ca, list)) or len(ra) != len(ca):
        return [f"text {r} vs {c}"]
    return [
        f"args[{k}] points at {'-' if a is None else a} vs {'-' if b is None else b}"
        for k, (a, b) in enumerate(zip(ra, ca, strict=True))
        if a != b
    ]


def _frame_name(stack: list[str]) -> str | None:
    return stack[-1].split(" (")[0] if stack else None


def _describe(ev: TraceEvent) -> str:
    return f"{ev.kind} {ev.name}" if ev.name and not ev.kind.startswith("handle.") else ev.kind


def _candidate_has(
    one: str, several: str, n: int, first: TraceEvent, stack: list[str], at: str
) -> str:
    """The sentence for ``n`` events only one trace has, ``first`` leading, seen from the candidate.

    Missing and extra runs read alike but for their wording (``one`` for a single
    event, ``several`` for a run) and the side whose stack names the frame.
    """
    frame = _frame_name(stack)
    inside = f" inside {frame}" if frame else ""
    what = f"{one} {_describe(first)}" if n == 1 else f"{several} starting with {_describe(first)}"
    return f"candidate has {what}{inside} {at}"


def _handle_label(ev: TraceEvent) -> str:
    if ev.sid:
        return f"sid {ev.sid}"
    if ev.handle is not None:
        return f"handle 0x{ev.handle:08x}"
    return "a handle"


#: A finding's first event on each side, fetched beforehand (None: that side has none).
Prefetched = tuple[TraceEvent | None, TraceEvent | None]


class Explainer:
    """Explains findings of one diff result; caches per-side handle origins."""

    def __init__(self, result: DiffResult, ref_label: str, cand_label: str) -> None:
        self.result = result
        self.ref_label = ref_label
        self.cand_label = cand_label

    def _event(self, cols: TraceColumns, rows: Rows, pos: int) -> TraceEvent | None:
        if 0 <= pos < len(rows):
            return cols.event(int(rows[pos]))
        return None

    def explain(
        self,
        number: int,
        pr: PairResult,
        f: Finding,
        *,
        brief: bool = False,
        events: Prefetched | None = None,
    ) -> Explained:
        """Everything a report shows about ``f``; ``brief`` leaves out the window, the
        open calls and the handle origins (what makes explaining cost more than a
        few event lookups), for listing every divergence of a large diff."""
        res = self.result
        ref, cand = res.ref, res.cand
        ri, cj = pr.ref_idx(ref, f.i0), pr.cand_idx(cand, f.j0)
        if events is not None:
            r_ev, c_ev = events
        else:
            r_ev = self._event(ref, pr.ref_rows, f.i0)
            c_ev = self._event(cand, pr.cand_rows, f.j0)
        ref_stack = [] if brief else open_stack(ref, pr.ref_rows, f.i0)
        cand_stack = [] if brief else open_stack(cand, pr.cand_rows, f.j0)
        fields = list(f.fields)
        if f.cls == "changed" and not fields and r_ev and c_ev:
            fields = differing_fields(r_ev, c_ev, res)
        export = None
        main_ev = r_ev if f.cls != "extra" else c_ev
        if f.cls == "unmapped":
            main_ev = None
        if main_ev is not None:
            export = (
                main_ev.name
                if main_ev.name and not main_ev.kind.startswith("handle.")
                else _frame_name(ref_stack if f.cls != "extra" else cand_stack) or main_ev.name
            )
        text = self._sentence(pr, f, r_ev, c_ev, ri, cj, ref_stack, cand_stack, fields)
        return Explained(
            number=number,
            cls=f.cls,
            ref_tid=pr.pair.ref if pr.pair.ref is not None else -1,
            cand_tid=pr.pair.cand if pr.pair.cand is not None else -1,
            ref_idx=ri,
            cand_idx=cj,
            ref_count=f.i1 - f.i0,
            cand_count=f.j1 - f.j0,
            export=export,
            fields=fields,
            explanation=text,
            ref_stack=ref_stack,
            cand_stack=cand_stack,
            handles=[] if brief else self._handle_lines(pr, f),
            window=[] if brief else self._window(pr, f),
            rerun=self._rerun(pr, ri, cj),
            synced=f.synced,
        )

    def _sentence(
        self,
        pr: PairResult,
        f: Finding,
        r_ev: TraceEvent | None,
        c_ev: TraceEvent | None,
        ri: int,
        cj: int,
        ref_stack: list[str],
        cand_stack: list[str],
        fields: list[str],
    ) -> str:
        at = f"at ref#{ri} / cand#{cj}"
        if f.cls == "unmapped":
            return self._unmapped_sentence(pr, f, r_ev, c_ev)
        if f.cls == "missing" and r_ev is not None:
            n = f.i1 - f.i0
            s = _candidate_has("no", f"none of {n} events", n, r_ev, ref_stack, at)
            if r_ev.kind == "handle.create":
                s += f"; the reference created {_handle_label(r_ev)} here"
            return s
        if f.cls == "extra" and c_ev is not None:
            n = f.j1 - f.j0
            s = _candidate_has("an extra", f"{n} extra events", n, c_ev, cand_stack, at)
            if c_ev.kind == "handle.create":
                s += (
                    "; the reference created no handle here, "
                    f"the candidate created {_handle_label(c_ev)}"
                )
            return s
        if f.cls == "changed" and r_ev is not None and c_ev is not None:
            if fields == ["handle"]:
                return f"{_describe(r_ev)} {at} refers to a different handle: " + "; ".join(
                    self._handle_lines(pr, f)[:2]
                )
            if not f.synced:
                return (
                    f"the traces part ways {at} and do not meet again within the search window "
                    f"({f.i1 - f.i0} reference / {f.j1 - f.j0} candidate events left unaligned)"
                )
            rv, cv = field_values(r_ev), field_values(c_ev)
            parts = []
            for name in fields:
                if name == "args" and r_ev.args and c_ev.args:
                    parts.extend(self._arg_parts(r_ev, c_ev))
                elif name == "text" and self.result.projection.pointee_text:
                    parts.extend(_pointee_parts(r_ev.text, c_ev.text))
                elif name in rv or name in cv:
                    parts.append(f"{name} {rv.get(name, '-')} vs {cv.get(name, '-')}")
                else:
                    r_v, c_v = getattr(r_ev, name, None), getattr(c_ev, name, None)
                    parts.append(
                        f"{name} {'-' if r_v is None else r_v} vs {'-' if c_v is None else c_v}"
                    )
            n = f.i1 - f.i0
            more = f" (and {n - 1} more changed events)" if n > 1 else ""
            return f"{_describe(r_ev)} {at} differs: " + "; ".join(parts) + more
        if f.cls == "reordered":
            n = f.i1 - f.i0
            return (
                f"the same {n} events in a different order {at}, inside one thread "
                "(program order differs; interleaving across threads is never reported)"
            )
        if f.cls == "truncated":
            if f.j0 == f.j1:
                return (
                    f"candidate ended {at} after {pr.matched} matched events; "
                    f"the reference goes on for {f.i1 - f.i0} more"
                )
            return (
                f"reference ended {at} after {pr.matched} matched events; "
                f"the candidate goes on for {f.j1 - f.j0} more"
            )
        return f"{f.cls} {at}"

    def _arg_parts(self, r: TraceEvent, c: TraceEvent) -> list[str]:
        """``args[2] 0x00000002 vs 0x00000001`` for each compared argument that differs."""
        ra, ca = _masked_args(r, self.result), _masked_args(c, self.result)
        if len(ra) != len(ca):
            return [f"{len(ra)} vs {len(ca)} arguments"]
        r_args, c_args = r.args or [], c.args or []
        return [_arg_difference(k, r_args[k], c_args[k]) for k in range(len(ra)) if ra[k] != ca[k]]

    def _unmapped_sentence(
        self, pr: PairResult, f: Finding, r_ev: TraceEvent | None, c_ev: TraceEvent | None
    ) -> str:
        if pr.pair.cand is None:
            side, tid, n, ev, other = "reference", pr.pair.ref, f.i1 - f.i0, r_ev, self.result.cand
        else:
            side, tid, n, ev, other = "candidate", pr.pair.cand, f.j1 - f.j0, c_ev, self.result.ref
        first = f", first {_describe(ev)}" if ev is not None else ""
        if other.n == 0:
            why = f"the {'candidate' if side == 'reference' else 'reference'} has no events at all"
        else:
            why = "no thread of the other side is its partner"
        return f"{side} thread {tid} ({n} events{first}) is unmapped: {why}"

    def _handle_lines(self, pr: PairResult, f: Finding) -> list[str]:
        out: list[str] = []
        sides = (
            ("reference", self.result.ref, pr.ref_rows, range(f.i0, min(f.i1, f.i0 + 4)), "ref"),
            ("candidate", self.result.cand, pr.cand_rows, range(f.j0, min(f.j1, f.j0 + 4)), "cand"),
        )
        for label, cols, rows, span, side in sides:
            index = self.result.handles(side)
            for p in span:
                row = int(rows[p])
                o = index.origin_row(row)
                if o < 0:
                    if index.ambiguous(row):
                        out.append(
                            f"{label} #{cols.idx_at(row)}: handle created in several other "
                            "threads (origin ambiguous, not checked)"
                        )
                    elif index.uses(row):
                        out.append(f"{label} #{cols.idx_at(row)}: handle of unknown origin")
                    continue
                oev = cols.event(o)
                frame = self._frame_of(cols, o)
                where = f" inside {frame}" if frame else ""
                out.append(
                    f"{label} #{cols.idx_at(row)}: {_handle_label(oev)} created at "
                    f"tid {oev.tid} #{oev.idx}{where}"
                )
        return out

    def _frame_of(self, cols: TraceColumns, row: int) -> str | None:
        lo, hi = cols.thread_range(int(cols.value("tid", row)))
        return _frame_name(open_stack(cols, range(lo, hi), row - lo))

    def _window(self, pr: PairResult, f: Finding) -> list[WindowRow]:
        res = self.result
        pairs: list[tuple[str, int | None, int | None]] = []
        for t in range(CONTEXT, 0, -1):
            if f.i0 - t >= 0 and f.j0 - t >= 0:
                pairs.append(("=", f.i0 - t, f.j0 - t))
        ni, nj = f.i1 - f.i0, f.j1 - f.j0
        if f.cls in ("changed", "reordered"):
            mark = "~" if f.cls == "changed" else "%"
            pairs.extend(
                (mark, f.i0 + t if t < ni else None, f.j0 + t if t < nj else None)
                for t in range(min(max(ni, nj), MAX_HUNK_ROWS))
            )
        else:
            pairs.extend(("-", f.i0 + t, None) for t in range(min(ni, MAX_HUNK_ROWS)))
            pairs.extend(("+", None, f.j0 + t) for t in range(min(nj, MAX_HUNK_ROWS)))
        for t in range(CONTEXT):
            if f.i1 + t < len(pr.ref_rows) and f.j1 + t < len(pr.cand_rows):
                pairs.append(("=", f.i1 + t, f.j1 + t))
        rows: list[WindowRow] = []
        for mark, i, j in pairs:
            r = self._event(res.ref, pr.ref_rows, i) if i is not None else None
            c = self._event(res.cand, pr.cand_rows, j) if j is not None else None
            diff = differing_fields(r, c, res) if (r and c and mark == "~") else []
            if mark == "~" and f.fields == ("handle",):
                diff = ["handle", "sid"]
            rows.append(
                WindowRow(
                    mark=mark,
                    ref=display(r) if r else None,
                    cand=display(c) if c else None,
                    ref_fields=field_values(r) if r else {},
                    cand_fields=field_values(c) if c else {},
                    differing=diff,
                )
            )
        return rows

    def _rerun(self, pr: PairResult, ri: int, cj: int) -> str:
        if pr.pair.ref is None or pr.pair.cand is None:
            return " ".join(
                [
                    "x360k diff",
                    shlex.quote(self.ref_label),
                    shlex.quote(self.cand_label),
                    "--map REF=CAND",
                    "(to pair this thread by hand)",
                ]
            )
        return " ".join(
            [
                "x360k diff",
                shlex.quote(self.ref_label),
                shlex.quote(self.cand_label),
                f"--from {pr.pair.ref}:{ri}={pr.pair.cand}:{cj}",
            ]
        )
