"""Make (reference, candidate) trace pairs from a seed, with known injected divergences.

The two sides run "the same program": every thread is a list of blocks (a call
with its events). The candidate differs in what the diff must look through
(thread ids, handle values, sids, pointer arguments, how threads interleave)
and in injected divergences whose class and indices are recorded, so a test
can demand that the diff finds exactly those. Blocks chosen for injection
carry random argument and return values, which makes each injected stretch
unambiguous: no other minimal edit script could place it elsewhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from x360k.trace.event import TraceEvent, hex_arg, make_sid

Block = list[dict[str, Any]]

CLASSES = ("changed", "missing", "extra", "reordered", "truncated", "handle", "seed")


@dataclass(frozen=True, slots=True)
class Expected:
    """An injected finding: class and the per-thread indices where the diff must report it."""

    ref_tid: int
    cls: str
    ref_idx: int
    cand_idx: int


@dataclass(slots=True)
class Pair:
    ref: list[TraceEvent]
    cand: list[TraceEvent]
    expected: list[Expected]
    tid_map: dict[int, int]
    ref_threads: dict[int, list[TraceEvent]] = field(default_factory=dict)

    def tid_map_inverse(self, cand_tid: int) -> int:
        return {c: r for r, c in self.tid_map.items()}[cand_tid]


def _compare_block(rng: random.Random) -> Block:
    return [
        {
            "kind": "kernel.call",
            "name": "RtlCompareMemoryUlong",
            "args": ["PTR", hex_arg(rng.getrandbits(32)), hex_arg(rng.getrandbits(16))],
        },
        {"kind": "kernel.return", "name": "RtlCompareMemoryUlong", "ret": rng.getrandbits(32)},
    ]


def _create_block(rng: random.Random) -> Block:
    return [
        {"kind": "import.call", "name": "NtCreateEvent"},
        {
            "kind": "kernel.call",
            "name": "NtCreateEvent",
            "args": ["PTR", "PTR", hex_arg(rng.randrange(2)), hex_arg(rng.randrange(2))],
        },
        {"kind": "handle.create", "handle": "NEW", "object_type": "event"},
        {"kind": "kernel.return", "name": "NtCreateEvent", "status": 0},
    ]


def _set_block() -> Block:
    return [
        {"kind": "kernel.call", "name": "NtSetEvent", "args": ["H", "PTR"], "handle": "USE"},
        {"kind": "kernel.return", "name": "NtSetEvent", "status": 0},
    ]


def _wait_block() -> Block:
    return [
        {"kind": "wait.begin", "handle": "USE"},
        {"kind": "wait.end", "handle": "USE", "status": 0},
    ]


def _dup_block() -> Block:
    return [
        {"kind": "import.call", "name": "NtDuplicateObject"},
        {
            "kind": "kernel.call",
            "name": "NtDuplicateObject",
            "args": ["H", "PTR", hex_arg(0)],
            "handle": "USE",
        },
        {"kind": "handle.create", "handle": "DUP", "object_type": "event"},
        {"kind": "kernel.return", "name": "NtDuplicateObject", "status": 0},
    ]


class _Side:
    """Turns abstract blocks into concrete events for one emulator."""

    def __init__(self, rng: random.Random, handle_base: int, handle_step: int) -> None:
        self.rng = rng
        self.next_handle = handle_base
        self.step = handle_step
        self.events: dict[int, list[TraceEvent]] = {}

    def emit(self, tid: int, block: Block, pool: list[int], use: int | None) -> None:
        """Append a block to thread ``tid``; ``pool`` holds this side's live handles."""
        out = self.events.setdefault(tid, [])
        for spec in block:
            kw: dict[str, Any] = {"tid": tid, "idx": len(out)}
            for k, v in spec.items():
                if k == "args":
                    kw["args"] = [
                        hex_arg(self.rng.getrandbits(32) | 0x40000000)
                        if a == "PTR"
                        else hex_arg(pool[use] if use is not None else 0)
                        if a == "H"
                        else a
                        for a in v
                    ]
                elif k == "handle" and v in ("NEW", "DUP"):
                    h = self.next_handle
                    self.next_handle += self.step
                    kw["handle"] = h
                    kw["sid"] = make_sid(tid, len(out))
                    if v == "NEW":
                        pool.append(h)
                elif k == "handle" and v == "USE":
                    assert use is not None
                    kw["handle"] = pool[use]
                else:
                    kw[k] = v
            kw["ts"] = self.rng.getrandbits(40)
            kw["raw_tid"] = tid + 0x100
            out.append(TraceEvent(**kw))


def _interleave(threads: dict[int, list[TraceEvent]], rng: random.Random) -> list[TraceEvent]:
    pos = dict.fromkeys(threads, 0)
    out: list[TraceEvent] = []
    live = [t for t in threads if threads[t]]
    while live:
        t = rng.choice(live)
        take = rng.randint(1, 7)
        chunk = threads[t][pos[t] : pos[t] + take]
        out.extend(chunk)
        pos[t] += len(chunk)
        if pos[t] >= len(threads[t]):
            live.remove(t)
    return out


def make_pair(
    seed: int,
    *,
    threads: int = 4,
    blocks: int = 120,
    inject: tuple[str, ...] = CLASSES,
    per_thread: int = 2,
) -> Pair:
    """A pair with ``per_thread`` injections of the listed classes in every thread."""
    rng = random.Random(seed)
    ref = _Side(random.Random(seed * 7 + 1), 0xF8000000, 4)
    cand = _Side(random.Random(seed * 7 + 2), 0x00001000, 8)
    ref_tids = list(range(threads))
    cand_tids = rng.sample(range(1, 64), threads)
    tid_map = dict(zip(ref_tids, cand_tids, strict=True))
    expected: list[Expected] = []
    entries = [0x82000000 + 0x100 * k for k in range(threads)]
    for t in ref_tids:
        rt, ct = t, tid_map[t]
        rpool: list[int] = []
        cpool: list[int] = []
        plan: list[str] = []
        if t == 0:
            plan.extend(["thread"] * (threads - 1))
        plan.append("create")
        plan.append("create")
        for _ in range(blocks):
            plan.append(rng.choice(["compare", "compare", "create", "set", "wait", "dup"]))
        kinds = [c for c in inject if c != "truncated"]
        slots = sorted(rng.sample(range(len(plan) - blocks + 2, len(plan) - 4), per_thread * 2))
        todo = {s: kinds[(t + k) % len(kinds)] for k, s in enumerate(slots[::2])} if kinds else {}
        truncate_at = len(plan) - 3 if "truncated" in inject and t % 2 == 1 else None
        child = 1
        k = 0
        while k < len(plan):
            what = plan[k]
            ref_i, cand_i = len(ref.events.get(rt, [])), len(cand.events.get(ct, []))
            if truncate_at is not None and k == truncate_at:
                expected.append(Expected(rt, "truncated", ref_i, cand_i))
                for rest in plan[k:]:
                    block = _concrete(rest, rng)
                    use = rng.randrange(len(rpool)) if rpool else None
                    if rest == "thread":
                        continue
                    ref.emit(rt, block, rpool, use)
                break
            injected = todo.get(k)
            if what == "thread":
                rblock: Block = [
                    {
                        "kind": "kernel.call",
                        "name": "ExCreateThread",
                        "args": ["PTR", hex_arg(0x10000), "PTR"],
                    },
                    {"kind": "thread.create", "child_tid": child, "entry": entries[child]},
                    {"kind": "kernel.return", "name": "ExCreateThread", "status": 0},
                ]
                cblock = [dict(e) for e in rblock]
                cblock[1]["child_tid"] = tid_map[child]
                ref.emit(rt, rblock, rpool, None)
                cand.emit(ct, cblock, cpool, None)
                child += 1
                k += 1
                continue
            if injected == "reordered":
                a, b = _compare_block(rng), _compare_block(rng)
                ref.emit(rt, a, rpool, None)
                ref.emit(rt, b, rpool, None)
                cand.emit(ct, b, cpool, None)
                cand.emit(ct, a, cpool, None)
                expected.append(Expected(rt, "reordered", ref_i, cand_i))
                k += 1
                continue
            if injected == "extra":
                cand.emit(ct, _compare_block(rng), cpool, None)
                expected.append(Expected(rt, "extra", ref_i, cand_i))
            if injected == "missing":
                ref.emit(rt, _compare_block(rng), rpool, None)
                expected.append(Expected(rt, "missing", ref_i, cand_i))
            if injected == "changed":
                blk = _compare_block(rng)
                cblk = [dict(e) for e in blk]
                cblk[1]["ret"] = (blk[1]["ret"] + 1) & 0xFFFFFFFF
                ref.emit(rt, blk, rpool, None)
                cand.emit(ct, cblk, cpool, None)
                expected.append(Expected(rt, "changed", ref_i + 1, cand_i + 1))
            if injected == "handle" and len(rpool) >= 2:
                use = len(rpool) - 1
                ref.emit(rt, _set_block(), rpool, use)
                cand.emit(ct, _set_block(), cpool, use - 1)
                expected.append(Expected(rt, "changed", ref_i, cand_i))
                k += 1
                continue
            if injected == "seed" and rpool:
                use = rng.randrange(len(rpool))
                blk = _dup_block()
                ref.emit(rt, blk, rpool, use)
                cand.emit(ct, [blk[0], blk[1], blk[3]], cpool, use)
                expected.append(Expected(rt, "missing", ref_i + 2, cand_i + 2))
                k += 1
                continue
            block = _concrete(what, rng)
            use = rng.randrange(len(rpool)) if rpool and what in ("set", "wait", "dup") else None
            ref.emit(rt, block, rpool, use)
            cand.emit(ct, block, cpool, use)
            k += 1
    ref_stream = _interleave(ref.events, random.Random(seed * 11 + 3))
    cand_stream = _interleave(cand.events, random.Random(seed * 11 + 4))
    return Pair(ref_stream, cand_stream, expected, tid_map, ref.events)


def _concrete(what: str, rng: random.Random) -> Block:
    if what == "compare":
        return _compare_block(rng)
    if what == "create":
        return _create_block(rng)
    if what == "set":
        return _set_block()
    if what == "wait":
        return _wait_block()
    if what == "dup":
        return _dup_block()
    return []
