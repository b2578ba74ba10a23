"""``x360k diff`` against the pipelines teams use today (sed or awk, split per thread, GNU diff).

Generates a reference/candidate pair of N events (8 threads, 1000 injected
divergences, fewer below 1M events; different thread ids, handle values,
pointers, timestamps and interleaving), then times in the same run:

* pipeline A, as teams describe it: ``sed`` normalisation | ``awk`` split per
  thread, then GNU ``diff`` per thread pair (given the thread mapping for free);
* pipeline B, the fastest plain one found: one ``awk`` pass that normalises and
  splits per thread, then the same GNU ``diff`` per thread pair; its thread
  files are checked to be byte-identical to A's. Ratios are against the faster
  of the two in the run (``LC_ALL=C`` for both);
* ``x360k diff`` (all divergences, and ``--first``) cold from JSONL on both
  sides (no cache), with the reference cached by a previous run, and from
  columnar files (both sides converted by ``x360k trace convert``).

Sizes: ``X360K_BENCH_DIFF_SIZES`` (comma separated, default ``10000,1000000``), e.g.
``X360K_BENCH_DIFF_SIZES=1000000,10000000``; 100M is ``100000000`` (needs ~40 GB disk), or
``X360K_BENCH_DIFF_REPLICATE=10`` with 10M: after each size, its columnar pair with every
thread repeated that many times, all divergences timed, text and ``--json`` (~26 GB disk
at 10M x 10), each read from disk when the page cache can be dropped (root on Linux).
``X360K_BENCH_DIFF_REPEAT`` (default 1) repeats each timed command and keeps the best
(sizes under 100k events always run each command five times: there the fixed cost is
what is measured). Figures are seconds, peak RSS of the process tree, and ratios to the
faster pipeline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    """Write ref.jsonl and cand.jsonl; their paths, the injected count, the thread mapping.

    1000 divergences at 1M events and above; one per 1000 events below (at least
    one per thread), so a small pair measures start-up rather than explanations.
    """
    rng = np.random.default_rng(seed)
    injected_total = max(THREADS, min(INJECTED, n_events // 1000))
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
        k = injected_total // THREADS + (1 if t < injected_total % THREADS else 0)
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


@dataclass(frozen=True, slots=True)
class Timed:
    """One command's best run: wall and CPU seconds (user + system, children included)."""

    wall: float
    cpu: float
    rss_mib: float
    code: int


def _run(
    cmd: list[str] | str,
    env: dict[str, str] | None = None,
    shell: bool = False,
    repeat: int | None = None,
) -> Timed:
    """The best (lowest wall) of ``repeat`` runs, with peak RSS of the command's process tree.

    Times and RSS come from GNU ``time`` wrapped around the command: a child
    forked from this (big) benchmark process would otherwise inherit its
    high-water mark through fork+exec and report the generator's memory as its own.
    """
    fd, out_file = tempfile.mkstemp(prefix="x360k-bench-rss-")
    os.close(fd)
    argv = ["sh", "-c", cmd] if shell else list(cmd)
    timed = ["/usr/bin/time", "-q", "-f", "%M %U %S", "-o", out_file, *argv]
    if repeat is None:
        repeat = max(1, int(os.environ.get("X360K_BENCH_DIFF_REPEAT", "1")))
    best = Timed(float("inf"), 0.0, 0.0, 0)
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            proc = subprocess.run(
                timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
            )
            wall = time.perf_counter() - start
            if proc.returncode not in (0, 1):
                raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]!r}")
            fields = Path(out_file).read_text().split()[-3:]
            rss, user, system = (float(f) for f in fields) if len(fields) == 3 else (0, 0, 0)
            if wall < best.wall:
                best = Timed(wall, user + system, rss / 1024, proc.returncode)
    finally:
        Path(out_file).unlink(missing_ok=True)
    return best


#: Pipeline A's normalisation: tid to a tab-separated prefix, drop ts, handle and idx,
#: mask pointers (what the generated traces need).
SED_RULES = (
    's/^[{]"tid":([0-9]+),/\\1\\t{/; s/,"ts":[0-9]+//; s/,"handle":[0-9]+//; '
    's/"idx":[0-9]+,//; s/0x4[0-9a-f]{7}/PTR/g'
)
#: Pipeline B: the same rules and the split in one awk program (mawk has no {7}).
AWK_ONE_PASS = (
    '{ sub(/,"ts":[0-9]+/, ""); sub(/,"handle":[0-9]+/, ""); '
    'gsub(/0x4[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]/, "PTR"); '
    't = substr($0, 8, index($0, ",") - 8); sub(/^[{]"tid":[0-9]+,"idx":[0-9]+,/, "{"); '
    'print > ("DIR/" t) }'
)


def _split(label: str, ref: Path, cand: Path, work: Path, repeat: int | None) -> tuple[Timed, Path]:
    """One pipeline's normalise-and-split step on both sides, and its output folder."""
    env = {**os.environ, "LC_ALL": "C"}
    total = Timed(0.0, 0.0, 0.0, 0)
    base = work / label
    for side, path in (("r", ref), ("c", cand)):
        d = base / side
        if label == "sed":
            awk = "awk -F'\\t' '{ print $2 > (\"DIR/\" $1) }'".replace("DIR", str(d))
            cmd = f"rm -rf {d} && mkdir -p {d} && tail -n +2 {path} | sed -E '{SED_RULES}' | {awk}"
        else:
            prog = AWK_ONE_PASS.replace("DIR", str(d))
            cmd = f"rm -rf {d} && mkdir -p {d} && tail -n +2 {path} | awk '{prog}'"
        total = _add(total, _run(cmd, env=env, shell=True, repeat=repeat))
    return total, base


def _add(a: Timed, b: Timed) -> Timed:
    """Two steps run one after the other: times add up, the peak is the larger one."""
    return Timed(a.wall + b.wall, a.cpu + b.cpu, max(a.rss_mib, b.rss_mib), max(a.code, b.code))


def _pipelines(
    ref: Path, cand: Path, work: Path, tid_map: dict[int, int], repeat: int | None
) -> dict[str, Timed]:
    """Both plain pipelines, each step timed (peak MiB: the largest single step).

    Both end in GNU ``diff`` per thread pair on identical thread files, so the
    diff step is timed once and counted in both.
    """
    env = {**os.environ, "LC_ALL": "C"}
    sed, sed_dir = _split("sed", ref, cand, work, repeat)
    awk, awk_dir = _split("awk", ref, cand, work, repeat)
    diffs = Timed(0.0, 0.0, 0.0, 0)
    for r, c in tid_map.items():
        for side, tid in (("r", r), ("c", c)):
            a, b = sed_dir / side / str(tid), awk_dir / side / str(tid)
            if a.read_bytes() != b.read_bytes():
                raise RuntimeError(f"pipelines disagree on {a} and {b}")
        one = _run(
            ["diff", str(sed_dir / "r" / str(r)), str(sed_dir / "c" / str(c))],
            env=env,
            repeat=repeat,
        )
        diffs = _add(diffs, one)
    return {
        "A: sed | awk split | GNU diff": _add(sed, diffs),
        "B: one awk pass | GNU diff": _add(awk, diffs),
    }


def bench_size(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="x360k-bench-diff-"))
    repeat = 5 if n < 100_000 else None
    try:
        t0 = time.perf_counter()
        ref, cand, injected, tid_map = generate(n, work)
        gen = time.perf_counter() - t0
        mb = (ref.stat().st_size + cand.stat().st_size) / 1e6
        print(
            f"-- {n:,} events per side, {THREADS} threads, {injected} injected; "
            f"JSONL {mb:.0f} MB (generated in {gen:.1f} s)"
        )
        floor = _run(
            [sys.executable, "-c", "import numpy, pyarrow, pyarrow.compute"], repeat=repeat
        )
        print(f"   (python -c 'import numpy, pyarrow, pyarrow.compute': {floor.wall:.2f} s)")
        # what x360k pays: it imports no pyarrow.compute and starts OpenBLAS on one thread
        lean = _run(
            [sys.executable, "-c", "import numpy, pyarrow"],
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            repeat=repeat,
        )
        print(
            f"   (OPENBLAS_NUM_THREADS=1 python -c 'import numpy, pyarrow': {lean.wall:.2f} s, "
            f"cpu {lean.cpu:.2f} s)"
        )
        pipes = _pipelines(ref, cand, work, tid_map, repeat)
        for label, t in pipes.items():
            print(
                f"   pipeline {label:<29}: {t.wall:7.2f} s  cpu {t.cpu:7.2f} s  "
                f"{t.rss_mib:6.0f} MiB"
            )
        base_label, base = min(pipes.items(), key=lambda kv: kv[1].wall)
        sed_pipe = pipes["A: sed | awk split | GNU diff"]
        print(
            f"   ratios below (pipeline seconds / x360k seconds, > 1: x360k faster): against "
            f"pipeline {base_label[:1]}, the faster in this run (wall / cpu), and against "
            "pipeline A (sed per thread file, the one teams describe; wall)"
        )
        x = str(BIN / "x360k")
        cache = work / "cache"
        env = {**os.environ, "X360K_CACHE": str(cache)}
        rows = []
        cold = [x, "diff", "--no-cache"]
        for label, args in (
            ("JSONL cold, all", [*cold, str(ref), str(cand)]),
            ("JSONL cold, --first", [*cold, "--first", str(ref), str(cand)]),
        ):
            rows.append((label, _run(args, env, repeat=repeat)))
        _run([x, "diff", str(ref), str(cand)], env, repeat=1)  # fills the cache
        for label, args in (
            ("JSONL, ref cached, all", [x, "diff", str(ref), str(cand)]),
            ("JSONL, ref cached, --first", [x, "diff", "--first", str(ref), str(cand)]),
        ):
            rows.append((label, _run(args, env, repeat=repeat)))
        shutil.rmtree(cache, ignore_errors=True)
        ra, ca = work / "ref.arrow", work / "cand.arrow"
        for src, dst in ((ref, ra), (cand, ca)):
            _run([x, "trace", "convert", str(src), str(dst)], env, repeat=1)
        for label, args in (
            ("columnar (Arrow), all", [x, "diff", str(ra), str(ca)]),
            ("columnar (Arrow), --first", [x, "diff", "--first", str(ra), str(ca)]),
        ):
            rows.append((label, _run(args, env, repeat=repeat)))
        for label, t in rows:
            print(
                f"   x360k diff, {label:<26}: {t.wall:7.2f} s  cpu {t.cpu:7.2f} s  "
                f"{t.rss_mib:6.0f} MiB  {base.wall / t.wall:5.2f}x / {base.cpu / t.cpu:5.2f}x "
                f"{base_label[:1]}, {sed_pipe.wall / t.wall:5.2f}x A (exit {t.code})"
            )
        found = subprocess.run(
            [x, "diff", "--json", str(ra), str(ca)], env=env, capture_output=True, check=False
        )
        import msgspec

        rep = msgspec.json.decode(found.stdout)
        print(f"   divergences found: {rep['divergence_count']} (injected {injected})")
        copies = int(os.environ.get("X360K_BENCH_DIFF_REPLICATE", "0"))
        if copies > 1:
            _bench_replicated(x, env, ra, ca, work, copies, n, injected)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _replicate(src: Path, dst: Path, copies: int) -> None:
    """An Arrow trace with each thread repeated ``copies`` times, idx shifted to stay gap-free.

    Threads keep their order and the file stays sorted by (tid, idx), with its
    thread ranges in the metadata as ``trace convert`` writes them.
    """
    import json

    import pyarrow.compute as pc

    from x360k.trace.columns import THREADS_METADATA_KEY

    with pa.memory_map(str(src)) as source:
        table = pa.ipc.open_file(source).read_all()
        tid = table.column("tid").to_numpy()
        bounds = np.concatenate(([0], np.flatnonzero(tid[1:] != tid[:-1]) + 1, [len(tid)]))
        ends = np.cumsum(np.diff(bounds) * copies)
        ranges = {
            str(int(tid[lo])): [int(end - (hi - lo) * copies), int(end)]
            for lo, hi, end in zip(bounds[:-1], bounds[1:], ends, strict=True)
        }
        meta = dict(table.schema.metadata or {})
        meta[THREADS_METADATA_KEY] = json.dumps(ranges).encode()
        schema = table.schema.with_metadata(meta)
        at = schema.get_field_index("idx")
        with pa.ipc.new_file(str(dst), schema) as out:
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                part = table.slice(lo, hi - lo)
                for k in range(copies):
                    shifted = pc.add(part.column("idx"), (hi - lo) * k)
                    field = schema.field("idx")
                    copy = part.set_column(at, field, shifted.cast(field.type))
                    out.write_table(copy.replace_schema_metadata(meta), max_chunksize=1 << 20)


def _bench_replicated(
    x: str, env: dict[str, str], ra: Path, ca: Path, work: Path, copies: int, n: int, injected: int
) -> None:
    """All divergences of the columnar pair with every thread repeated ``copies`` times.

    How a 100M pair is made on a machine where generating 2 x 22 GB of JSON
    Lines is out of reach: ``X360K_BENCH_DIFF_REPLICATE=10`` on the 10M size.
    """
    big_r, big_c = work / f"ref-x{copies}.arrow", work / f"cand-x{copies}.arrow"
    t0 = time.perf_counter()
    _replicate(ra, big_r, copies)
    _replicate(ca, big_c, copies)
    ra.unlink()
    ca.unlink()
    gb = (big_r.stat().st_size + big_c.stat().st_size) / 1e9
    print(
        f"-- {n * copies:,} events per side (each thread of the pair above {copies} times; "
        f"Arrow {gb:.1f} GB, made in {time.perf_counter() - t0:.0f} s)"
    )
    for label, extra in (("all", []), ("all, --json", ["--json"])):
        cold = _drop_page_cache()
        t = _run([x, "diff", *extra, str(big_r), str(big_c)], env, repeat=1)
        source = "from disk" if cold else "page cache as found"
        print(
            f"   x360k diff, columnar (Arrow), {label:<12}: {t.wall:7.2f} s  cpu {t.cpu:7.2f} s  "
            f"{t.rss_mib:6.0f} MiB (exit {t.code}; {source}; pipeline not run at this size)"
        )
    found = subprocess.run(
        [x, "diff", "--json", str(big_r), str(big_c)], env=env, capture_output=True, check=False
    )
    import msgspec

    count = msgspec.json.decode(found.stdout)["divergence_count"]
    print(f"   divergences found: {count} (injected {injected} x {copies})")


def _drop_page_cache() -> bool:
    """Empty the OS's page cache so the next run reads its files from disk; whether it could.

    Only root can (Linux's ``/proc/sys/vm/drop_caches``); elsewhere the runs find the files
    as the previous step left them, and the figures say so.
    """
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def _compile_package() -> None:
    """Write x360k's bytecode first, as installing the package does.

    A source checkout run with ``PYTHONDONTWRITEBYTECODE`` (or from a read-only
    tree) recompiles every module on each start; that is not the fixed cost a
    user of an installed x360k pays, and at 10k events it is a quarter of it.
    """
    import compileall

    import x360k

    compileall.compile_dir(str(Path(x360k.__file__).parent), quiet=1)


def main() -> None:
    _compile_package()
    sizes = os.environ.get("X360K_BENCH_DIFF_SIZES", "10000,1000000")
    for n in [int(s) for s in sizes.split(",") if s]:
        bench_size(n)


if __name__ == "__main__":
    main()
