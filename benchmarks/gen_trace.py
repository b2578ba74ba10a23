"""Deterministic synthetic traces for benchmarks and for the diff tool's tests.

A trace of ``n_events`` over 8 guest threads shaped like a title's boot:
calls arrive as ``import.call``/``kernel.call``/effects/``kernel.return``
groups, creators make handles that ``NtClose`` later destroys (some never
are), waits bracket with ``wait.begin``/``wait.end``, thread 0 creates the
others, checkpoints appear every 1000 events per thread. Export ordinals and
argument values are made up; only the shape is realistic. The same
``(n_events, seed)`` always gives the same events.

    python -m benchmarks.gen_trace 1000000 out.jsonl [--seed 1] [--format jsonl]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from x360k.trace.arrow_writer import write_arrow_file, write_arrow_stream
from x360k.trace.columns import ARROW_SCHEMA, batch_to_events, schema_with_header
from x360k.trace.event import KIND_CODE, KINDS, make_sid
from x360k.trace.header import TraceHeader
from x360k.trace.jsonl_writer import JsonlWriter
from x360k.trace.parquet_writer import write_parquet

THREADS: Final = 8
FORMATS: Final = ("jsonl", "arrow", "arrow-stream", "parquet", "text")

# (export, ordinal, weight, effect kinds between kernel.call and kernel.return, object type)
_EXPORTS: Final[tuple[tuple[str, int, float, tuple[str, ...], str | None], ...]] = (
    ("NtCreateEvent", 0xD2, 6, ("handle.create",), "Event"),
    ("NtCreateSemaphore", 0xD6, 2, ("handle.create",), "Semaphore"),
    ("NtCreateFile", 0xD1, 3, ("handle.create",), "File"),
    ("NtDuplicateObject", 0xDA, 1, ("handle.create",), "Event"),
    ("NtClose", 0xCF, 11, ("handle.destroy",), None),
    ("NtSetEvent", 0xF0, 10, (), None),
    ("NtWaitForSingleObjectEx", 0xFC, 8, ("wait.begin", "wait.end"), None),
    ("KeWaitForSingleObject", 0x7E, 6, ("wait.begin", "wait.end"), None),
    ("RtlEnterCriticalSection", 0x125, 14, (), None),
    ("RtlLeaveCriticalSection", 0x130, 14, (), None),
    ("NtReadFile", 0xDF, 5, (), None),
    ("KeQueryPerformanceCounter", 0x7A, 8, (), None),
    ("NtAllocateVirtualMemory", 0xCC, 3, (), None),
    ("KeTlsGetValue", 0x154, 9, (), None),
)


def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per export: row count and kind code at each row (padded)."""
    width = 6
    kinds = np.full((len(_EXPORTS), width), -1, np.int8)
    lengths = np.zeros(len(_EXPORTS), np.int64)
    for i, (_, _, _, effects, _) in enumerate(_EXPORTS):
        rows = ("import.call", "kernel.call", *effects, "kernel.return")
        kinds[i, : len(rows)] = [KIND_CODE[k] for k in rows]
        lengths[i] = len(rows)
    weights = np.array([e[2] for e in _EXPORTS], float)
    return kinds, lengths, weights / weights.sum()


def generate_table(n_events: int, seed: int = 0) -> pa.Table:
    """The synthetic trace as a table in ARROW_SCHEMA, in emission order."""
    rng = np.random.default_rng(seed)
    template_kinds, lengths, weights = _templates()
    per_thread = max(1, n_events // THREADS)
    parts = []
    for tid in range(THREADS):
        quota = per_thread + (n_events - per_thread * THREADS if tid == 0 else 0)
        calls = rng.choice(len(_EXPORTS), size=quota // 3 + 8, p=weights)
        ends = np.cumsum(lengths[calls])
        calls = calls[: int(np.searchsorted(ends, quota, side="left")) + 1]
        call_len = lengths[calls]
        starts = np.cumsum(call_len) - call_len
        row_call = np.repeat(np.arange(len(calls)), call_len)
        pos = np.arange(int(call_len.sum())) - starts[row_call]
        kind = template_kinds[calls[row_call], pos][:quota]
        row_call = row_call[:quota]
        parts.append((tid, calls, row_call, kind))
    return _assemble(parts, rng)


def _assemble(
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], rng: np.random.Generator
) -> pa.Table:
    names = [e[0] for e in _EXPORTS]
    ordinals = np.array([e[1] for e in _EXPORTS], np.uint32)
    otypes = [e[4] for e in _EXPORTS]
    columns: dict[str, list[np.ndarray | list[object]]] = {n: [] for n in ARROW_SCHEMA.names}
    order_keys = []
    next_handle = 0
    for tid, calls, row_call, kind in parts:
        n = len(kind)
        idx = np.arange(n, dtype=np.int64)
        export = calls[row_call]
        is_call = (kind == KIND_CODE["import.call"]) | (kind == KIND_CODE["kernel.call"])
        is_ret = kind == KIND_CODE["kernel.return"]
        has_name = is_call | is_ret
        columns["tid"].append(np.full(n, tid, np.int32))
        columns["idx"].append(idx)
        columns["kind"].append(kind)
        columns["name"].append(
            [names[e] if h else None for e, h in zip(export, has_name, strict=True)]
        )
        columns["module"].append(["xboxkrnl" if c else None for c in is_call])
        columns["ordinal"].append(np.where(is_call, ordinals[export], 0))
        columns["call_id"].append(np.where(has_name, row_call, -1))
        columns["ret_addr"].append(
            np.where(is_call, 0x82000000 + (export * 0x1000 + row_call % 97 * 4), 0)
        )
        status = np.where(rng.random(n) < 0.03, 0xC0000008, 0).astype(np.uint32)
        columns["status"].append(np.where(is_ret, status, 0))
        values = rng.integers(0, 1 << 32, size=(n, 3), dtype=np.uint64)
        is_kcall = kind == KIND_CODE["kernel.call"]
        columns["args"].append(
            [
                [f"0x{int(v):08x}" for v in row] if k else None
                for row, k in zip(values, is_kcall, strict=True)
            ]
        )
        creates = np.flatnonzero(kind == KIND_CODE["handle.create"])
        destroys = np.flatnonzero(kind == KIND_CODE["handle.destroy"])
        handles = np.zeros(n, np.uint32)
        sids: list[object] = [None] * n
        objtypes: list[object] = [None] * n
        live: list[tuple[int, str]] = []
        events = np.sort(np.concatenate([creates, destroys]))
        for row in events:
            if kind[row] == KIND_CODE["handle.create"]:
                handle = 0xF8000000 + 4 * (next_handle % 0x3FFFFFF)
                next_handle += 1
                sid = make_sid(tid, int(row))
                handles[row], sids[row] = handle, sid
                objtypes[row] = otypes[export[row]]
                live.append((handle, sid))
            elif live and rng.random() < 0.97:
                handle, sid = live.pop(int(rng.integers(0, len(live))))
                handles[row], sids[row] = handle, sid
            else:
                kind[row] = KIND_CODE["marker"]  # a close of a handle that was never made
        columns["handle"].append(handles)
        columns["sid"].append(sids)
        columns["object_type"].append(objtypes)
        columns["raw_tid"].append(np.full(n, 0xF8000010 + 4 * tid, np.uint32))
        columns["ts"].append(np.cumsum(rng.integers(50, 5000, n)).astype(np.int64))
        order_keys.append(row_call.astype(np.int64) * THREADS + tid)
    masks: dict[str, np.ndarray] = {}
    kinds_all: np.ndarray = np.concatenate(columns["kind"])  # type: ignore[arg-type]
    masks["has_name"] = np.isin(
        kinds_all, [KIND_CODE[k] for k in ("import.call", "kernel.call", "kernel.return")]
    )
    masks["is_call"] = np.isin(kinds_all, [KIND_CODE[k] for k in ("import.call", "kernel.call")])
    masks["is_ret"] = kinds_all == KIND_CODE["kernel.return"]
    masks["handle"] = np.isin(
        kinds_all, [KIND_CODE[k] for k in ("handle.create", "handle.destroy")]
    )
    arrays: dict[str, pa.Array] = {}
    for field in ARROW_SCHEMA:
        chunks = columns[field.name]
        if not chunks:
            arrays[field.name] = pa.nulls(len(kinds_all), field.type)
            continue
        if field.name == "kind":
            arrays["kind"] = pa.DictionaryArray.from_arrays(
                pa.array(kinds_all, pa.int8()), pa.array(KINDS)
            )
            continue
        if isinstance(chunks[0], np.ndarray):
            values = np.concatenate(chunks)  # type: ignore[arg-type]
            mask = {
                "ordinal": ~masks["is_call"],
                "ret_addr": ~masks["is_call"],
                "call_id": ~masks["has_name"],
                "status": ~masks["is_ret"],
                "handle": ~masks["handle"] | (values == 0),
            }.get(field.name)
            arrays[field.name] = pa.array(
                values.astype(field.type.to_pandas_dtype()), field.type, mask=mask
            )
        else:
            flat = [v for chunk in chunks for v in chunk]
            if pa.types.is_dictionary(field.type):
                arrays[field.name] = pa.array(flat, pa.string()).dictionary_encode()
            else:
                arrays[field.name] = pa.array(flat, field.type)
    _add_thread_events(arrays)
    table = pa.Table.from_arrays(list(arrays.values()), schema=ARROW_SCHEMA)
    order = np.lexsort((np.arange(len(kinds_all)), np.concatenate(order_keys)))
    return table.take(pa.array(order))


def _add_thread_events(arrays: dict[str, pa.Array]) -> None:
    """Mark each thread's first event as its creation on thread 0 and last as exit.

    Rewriting in place keeps the per-thread index gap-free.
    """
    kind = arrays["kind"].indices.to_numpy(zero_copy_only=False).copy()
    tid = arrays["tid"].to_numpy()
    idx = arrays["idx"].to_numpy()
    last = np.zeros(THREADS, np.int64)
    np.maximum.at(last, tid, idx)
    exits = np.flatnonzero((idx == last[tid]) & (tid > 0))
    kind[exits] = KIND_CODE["thread.exit"]
    checkpoints = np.flatnonzero((idx % 1000 == 999) & (idx != last[tid]))
    kind[checkpoints] = KIND_CODE["checkpoint"]
    arrays["kind"] = pa.DictionaryArray.from_arrays(pa.array(kind, pa.int8()), pa.array(KINDS))
    checksum = np.full(len(kind), None, object)
    checksum[checkpoints] = [
        f"{int(t):02x}{int(i):014x}"
        for t, i in zip(tid[checkpoints], idx[checkpoints], strict=True)
    ]
    arrays["checksum"] = pa.array(checksum, pa.string())
    for name in (
        "name",
        "module",
        "args",
        "sid",
        "object_type",
        "handle",
        "status",
        "call_id",
        "ordinal",
        "ret_addr",
    ):
        nulls = np.zeros(len(kind), bool)
        nulls[exits] = True
        nulls[checkpoints] = True
        arrays[name] = _null_out(arrays[name], nulls)


def _null_out(array: pa.Array, nulls: np.ndarray) -> pa.Array:
    import pyarrow.compute as pc

    return pc.if_else(pa.array(nulls), pa.nulls(len(array), array.type), array)


def generate(n_events: int, seed: int, path: str | Path, fmt: str = "jsonl") -> Path:
    """Write a synthetic trace of ``n_events`` to ``path`` in ``fmt`` (one of FORMATS)."""
    path = Path(path)
    table = generate_table(n_events, seed)
    header = TraceHeader(
        emulator="x360k-synthetic", emulator_build=f"seed={seed}", thread_id_style="handle"
    )
    if fmt == "jsonl":
        with JsonlWriter(path, header, lines_per_write=4096) as writer:
            for batch in table.to_batches(65536):
                for event in batch_to_events(batch):
                    writer.record(event)
    elif fmt == "arrow":
        write_arrow_file(table, path, header)
    elif fmt == "arrow-stream":
        write_arrow_stream(table, path, header)
    elif fmt == "parquet":
        write_parquet(table.replace_schema_metadata(schema_with_header(header).metadata), path)
    elif fmt == "text":
        from x360k.trace.text_form import format_event

        with path.open("w") as out:
            for batch in table.to_batches(65536):
                for event in batch_to_events(batch):
                    out.write(format_event(event, with_tid=True) + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_events", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="jsonl")
    args = parser.parse_args()
    generate(args.n_events, args.seed, args.path, args.format)


if __name__ == "__main__":
    main()
