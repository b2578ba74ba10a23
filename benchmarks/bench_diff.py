"""``x360k diff`` against the pipeline teams use today (sed, split per thread, GNU diff).

Generates a reference/candidate pair of N events (8 threads, 1000 injected
divergences, different thread ids, handle values, pointers, timestamps and
interleaving), then times in the same run:

* the pipeline: ``sed`` normalisation | ``awk`` split per thread, then GNU ``diff``
  per thread pair (given the thread mapping for free; ``LC_ALL=C``);
* ``x360k diff`` (all divergences, and ``--first``) cold from JSONL on both sides;
* ``x360k diff`` from columnar files (both sides converted by ``x360k trace convert``).

Sizes: ``X360K_BENCH_DIFF_SIZES`` (comma separated, default ``1000000``), e.g.
``X360K_BENCH_DIFF_SIZES=1000000,10000000``; 100M is ``100000000`` (needs ~40 GB disk).
``X360K_BENCH_DIFF_REPEAT`` (default 1) repeats each timed command and keeps the best.
Figures are seconds, peak RSS of the process tree, and ratios to the pipeline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

THREADS = 8
INJECTED = 1000
VOCAB = (
    "RtlCompareMemoryUlong",
    "KeQueryPerformanceFrequency",
    "KeQuerySystemTime",
    "RtlEnterCriticalSection",
    "RtlLeaveCriticalSection",
    "KeGetCurrentProcessType",
    "XexCheckExecutablePrivilege",
    "MmQueryAddressProtect",
    "NtQueryVirtualMemory",
    "KeTlsGetValue",
    "KeTlsSetValue",
    "RtlNtStatusToDosError",
    "XGetAVPack",
    "ExGetXConfigSetting",
    "KeRaiseIrqlToDpcLevel",
    "KfLowerIrql",
)
BIN = Path(sys.executable).parent


def _side_columns(
    rng: np.random.Generator, blocks: np.ndarray, vals: np.ndarray, tid: int, hbase: int, hstep: int
) -> dict[str, np.ndarray]:
    """Events of one thread from its blocks: 0 = call/return, 1 = create event, 2 = set event."""
    lens = np.array([2, 3, 2])[blocks]
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    n = int(lens.sum())
    kind = np.zeros(n, np.int8)  # codes into KINDS below
    name = np.zeros(n, np.int16)
    a0 = np.full(n, -1, np.int64)
    a1 = np.full(n, -1, np.int64)
    ret = np.full(n, -1, np.int64)
    status = np.full(n, -1, np.int64)
    handle = np.full(n, -1, np.int64)
    creates = np.cumsum(blocks == 1) - 1
    hval = hbase + hstep * np.maximum(creates, 0)
    for btype in (0, 1, 2):
        sel = blocks == btype
        s = starts[sel]
        if btype == 0:
            kind[s], kind[s + 1] = 1, 2
            name[s] = name[s + 1] = vals[sel, 0] % len(VOCAB)
            # only RtlCompareMemoryUlong (VOCAB[0]) takes a pointer first
            ptr = 0x40000000 | rng.integers(0, 1 << 28, len(s))
            a0[s] = np.where(name[s] == 0, ptr, (vals[sel, 0] >> 8) & 0x3FFFFFFF)
            a1[s] = vals[sel, 1] & 0x3FFFFFFF
            ret[s + 1] = vals[sel, 2] & 0x3FFFFFFF
        elif btype == 1:
            kind[s], kind[s + 1], kind[s + 2] = 1, 3, 2
            name[s] = name[s + 2] = len(VOCAB)
            a0[s] = 0x40000000 | rng.integers(0, 1 << 28, len(s))
            a1[s] = vals[sel, 1] & 1
            handle[s + 1] = hval[sel]
            status[s + 2] = 0
        else:
            kind[s], kind[s + 1] = 1, 2
            name[s] = name[s + 1] = len(VOCAB) + 1
            handle[s] = hval[sel]
            a0[s] = 0x40000000 | rng.integers(0, 1 << 28, len(s))
            status[s + 1] = 0
    return {
        "tid": np.full(n, tid, np.int64),
        "kind": kind,
        "name": name,
        "a0": a0,
        "a1": a1,
        "ret": ret,
        "status": status,
        "handle": handle,
        "ts": rng.integers(0, 1 << 40, n),
    }


def generate(n_events: int, out: Path, seed: int = 1) -> tuple[Path, Path, int, dict[int, int]]:
    """Write ref.jsonl and cand.jsonl; their paths, the injected count, the thread mapping."""
    rng = np.random.default_rng(seed)
    per_thread = n_events // THREADS
    n_blocks = int(per_thread / 2.2)
    cand_tids = rng.permutation(np.arange(1, 64))[:THREADS]
    ref_parts, cand_parts = [], []
    injected = 0
    for t in range(THREADS):
        blocks = rng.choice(3, size=n_blocks, p=[0.8, 0.1, 0.1]).astype(np.int64)
        blocks[0] = 1
        vals = rng.integers(0, 1 << 62, size=(n_blocks, 3))
        rblocks, rvals = blocks, vals
        # candidate: the same blocks with injected changes at block granularity
        cb, cv = blocks.copy(), vals.copy()
        k = INJECTED // THREADS + (1 if t < INJECTED % THREADS else 0)
        where = np.sort(rng.choice(np.flatnonzero(blocks[1:] == 0) + 1, size=k, replace=False))
        what = rng.integers(0, 3, size=k)
        cv[where[what == 0], 2] ^= 1  # changed return value
        keep = np.ones(len(cb), bool)
        keep[where[what == 1]] = False  # missing block
        extra_at = where[what == 2]
        cb = cb[keep]
        cv = cv[keep]
        ins_pos = np.searchsorted(np.flatnonzero(keep), extra_at)
        cb = np.insert(cb, ins_pos, 0)
        cv = np.insert(cv, ins_pos, rng.integers(0, 1 << 62, size=(len(ins_pos), 3)), axis=0)
        injected += k
        ref_parts.append(_side_columns(rng, rblocks, rvals, t, 0xF8000000, 4))
        cand_parts.append(_side_columns(rng, cb, cv, int(cand_tids[t]), 0x1000, 8))
    paths = []
    for label, parts, seed_off in (("ref", ref_parts, 11), ("cand", cand_parts, 12)):
        path = out / f"{label}.jsonl"
        _write_jsonl(parts, path, np.random.default_rng(seed + seed_off))
        paths.append(path)
    return paths[0], paths[1], injected, {t: int(cand_tids[t]) for t in range(THREADS)}


def _write_jsonl(parts: list[dict[str, np.ndarray]], path: Path, rng: np.random.Generator) -> None:
    """Interleave threads in random chunks (emission order) and write JSON Lines via DuckDB."""
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    idx = np.concatenate([np.arange(len(p["tid"])) for p in parts])
    order_key = np.concatenate(
        [np.cumsum(rng.integers(1, 8, len(p["tid"]))) + rng.random() for p in parts]
    )
    order = np.argsort(order_key, kind="stable")
    table = pa.table({**{k: v[order] for k, v in cols.items()}, "idx": idx[order]})
    names = [*VOCAB, "NtCreateEvent", "NtSetEvent"]
    kinds = ["import.call", "kernel.call", "kernel.return", "handle.create"]
    con = duckdb.connect()
    con.register("t", table)
    name_case = " ".join(f"WHEN {i} THEN '{n}'" for i, n in enumerate(names))
    kind_case = " ".join(f"WHEN {i} THEN '{k}'" for i, k in enumerate(kinds))
    hexed = "printf('\"0x%08x\"', {c})"
    line = (
        'concat(\'{"tid":\', tid, \',"idx":\', idx, \',"kind":"\', CASE kind '
        + kind_case
        + " END, '\"', CASE WHEN kind <> 3 THEN concat(',\"name\":\"', CASE name "
        + name_case
        + " END, '\"') ELSE '' END,"
        " CASE WHEN a0 >= 0 THEN concat(',\"args\":[', "
        + hexed.format(c="a0")
        + ", CASE WHEN a1 >= 0 THEN concat(',', "
        + hexed.format(c="a1")
        + ") ELSE '' END, ']') ELSE '' END,"
        " CASE WHEN status >= 0 THEN concat(',\"status\":', status) ELSE '' END,"
        " CASE WHEN ret >= 0 THEN concat(',\"ret\":', ret) ELSE '' END,"
        " CASE WHEN handle >= 0 THEN concat(',\"handle\":', handle) ELSE '' END,"
        " CASE WHEN kind = 3 THEN ',\"object_type\":\"event\"' ELSE '' END,"
        " ',\"ts\":', ts, '}', chr(10))"
    )
    header = (
        b'{"format":"x360k-trace","schema_version":1,"emulator":"bench",'
        b'"thread_id_style":"ordinal"}\n'
    )
    reader = con.sql(f"SELECT {line} AS l FROM t").to_arrow_reader(1 << 20)
    with path.open("wb") as f:
        f.write(header)
        for batch in reader:
            arr = batch.column(0)
            offsets = np.frombuffer(
                arr.buffers()[1], dtype=np.int32 if arr.type == pa.string() else np.int64
            )
            lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
            f.write(memoryview(arr.buffers()[2])[lo:hi])
    con.close()


def _run(
    cmd: list[str] | str,
    env: dict[str, str] | None = None,
    shell: bool = False,
    repeat: int | None = None,
) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) of the command's process tree, exit status.

    RSS comes from GNU ``time`` wrapped around the command: a child forked from
    this (big) benchmark process would otherwise inherit its high-water mark
    through fork+exec and report the generator's memory as its own.
    """
    fd, rss_file = tempfile.mkstemp(prefix="x360k-bench-rss-")
    os.close(fd)
    argv = ["sh", "-c", cmd] if shell else list(cmd)
    timed = ["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file, *argv]
    if repeat is None:
        repeat = max(1, int(os.environ.get("X360K_BENCH_DIFF_REPEAT", "1")))
    best_wall, best_rss, code = float("inf"), 0.0, 0
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            proc = subprocess.run(
                timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
            )
            wall = time.perf_counter() - start
            if proc.returncode not in (0, 1):
                raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]!r}")
            text = Path(rss_file).read_text().split()
            rss = int(text[-1]) / 1024 if text else 0.0
            if wall < best_wall:
                best_wall, best_rss, code = wall, rss, proc.returncode
    finally:
        Path(rss_file).unlink(missing_ok=True)
    return best_wall, best_rss, code


def _pipeline(ref: Path, cand: Path, work: Path, tid_map: dict[int, int]) -> tuple[float, float]:
    """The plain team pipeline; wall seconds and peak MiB (largest single step).

    Per side: ``sed -E`` with the rules the generated traces need (move the
    tid to a tab-separated prefix, drop ts, handle and idx, mask pointers),
    piped into ``awk`` writing each line to its thread's file by that prefix
    (plain field splitting); then GNU ``diff`` per thread pair, the mapping given for free.
    ``LC_ALL=C`` so sed and awk do byte-wise matching, as anyone would to make
    it fast.
    """
    sed = (
        'sed -E \'s/^[{]"tid":([0-9]+),/\\1\\t{/; s/,"ts":[0-9]+//; '
        's/,"handle":[0-9]+//; s/"idx":[0-9]+,//; s/0x4[0-9a-f]{7}/PTR/g\''
    )
    awk = "awk -F'\\t' '{ print $2 > (\"DIR/\" $1) }'"
    env = {**os.environ, "LC_ALL": "C"}
    total, peak = 0.0, 0.0
    for side, path in (("r", ref), ("c", cand)):
        d = work / side
        d.mkdir()
        cmd = f"tail -n +2 {path} | {sed} | {awk.replace('DIR', str(d))}"
        w, m, _ = _run(cmd, env=env, shell=True)
        total += w
        peak = max(peak, m)
    for r, c in tid_map.items():
        w, m, _ = _run(["diff", str(work / "r" / str(r)), str(work / "c" / str(c))], env=env)
        total += w
        peak = max(peak, m)
    return total, peak


def bench_size(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="x360k-bench-diff-"))
    try:
        t0 = time.perf_counter()
        ref, cand, injected, tid_map = generate(n, work)
        gen = time.perf_counter() - t0
        mb = (ref.stat().st_size + cand.stat().st_size) / 1e6
        print(
            f"-- {n:,} events per side, {THREADS} threads, {injected} injected; "
            f"JSONL {mb:.0f} MB (generated in {gen:.1f} s)"
        )
        pipe_s, pipe_m = _pipeline(ref, cand, work, tid_map)
        print(
            f"   pipeline sed|awk split|GNU diff : {pipe_s:7.2f} s  {pipe_m:7.0f} MiB  (baseline)"
        )
        x = str(BIN / "x360k")
        env = {**os.environ, "X360K_CACHE": str(work / "cache")}
        rows = []
        for label, args in (
            ("x360k diff, JSONL cold, all", [x, "diff", str(ref), str(cand)]),
            ("x360k diff, JSONL cold, --first", [x, "diff", "--first", str(ref), str(cand)]),
        ):
            shutil.rmtree(work / "cache", ignore_errors=True)
            rows.append((label, *_run(args, env, repeat=1)))  # cold: the cache is gone
        ra, ca = work / "ref.arrow", work / "cand.arrow"
        for src, dst in ((ref, ra), (cand, ca)):
            _run([x, "trace", "convert", str(src), str(dst)], env)
        for label, args in (
            ("x360k diff, columnar, all", [x, "diff", str(ra), str(ca)]),
            ("x360k diff, columnar, --first", [x, "diff", "--first", str(ra), str(ca)]),
        ):
            rows.append((label, *_run(args, env)))
        for label, secs, mem, code in rows:
            print(
                f"   {label:<33}: {secs:7.2f} s  {mem:7.0f} MiB  "
                f"{pipe_s / secs:5.1f}x faster  (exit {code})"
            )
        found = subprocess.run(
            [x, "diff", "--json", str(ra), str(ca)], env=env, capture_output=True, check=False
        )
        import msgspec

        rep = msgspec.json.decode(found.stdout)
        print(f"   divergences found: {rep['divergence_count']} (injected {injected})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("X360K_BENCH_DIFF_SIZES", "1000000").split(",") if s]
    for n in sizes:
        bench_size(n)


if __name__ == "__main__":
    main()
