"""End-to-end behaviour of the diff on the seed's case and on generated pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from x360k.diff.compare import DiffOptions, DiffResult, run_diff
from x360k.diff.inputs import events_to_columns, load
from x360k.diff.keys import Normalisation
from x360k.diff.report import build_report

from .pairgen import CLASSES, Expected, Pair, make_pair

FIXTURES = Path(__file__).parent / "fixtures"
SEED_REF = FIXTURES / "seed_canary_tid6.txt"
SEED_CAND = FIXTURES / "seed_ours_tid1.txt"


def _found(result: DiffResult) -> set[Expected]:
    out = set()
    for pr in result.pairs:
        assert pr.pair.ref is not None
        for f in pr.findings:
            cls = f.cls
            out.add(
                Expected(
                    pr.pair.ref,
                    cls,
                    pr.ref_idx(result.ref, f.i0),
                    pr.cand_idx(result.cand, f.j0),
                )
            )
    return out


def _diff(pair: Pair, **kw: object) -> DiffResult:
    return run_diff(
        events_to_columns(pair.ref, "ref"),
        events_to_columns(pair.cand, "cand"),
        DiffOptions(**kw),  # type: ignore[arg-type]
    )


def test_seed_case_one_divergence_with_the_seed_explanation() -> None:
    result = run_diff(load(SEED_REF), load(SEED_CAND))
    report = build_report(result, "ref", "cand")
    assert [(t.ref_tid, t.cand_tid) for t in report.threads] == [(6, 1)]
    assert report.threads[0].verdict == "DIVERGED at ref#102553 / cand#102553"
    assert report.divergence_count == 1
    (d,) = report.divergences
    assert (d.cls, d.ref_idx, d.cand_idx, d.ref_count, d.cand_count) == (
        "missing",
        102553,
        102553,
        1,
        0,
    )
    assert d.explanation == (
        "candidate has no handle.create inside NtDuplicateObject at ref#102553 / cand#102553; "
        "the reference created sid df686b147b291902 here"
    )
    assert d.ref_stack == ["NtDuplicateObject (called at #102552)"]
    assert d.rerun.endswith("--from 6:102553=1:102553")
    assert report.exit_code == 1


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_generated_pairs_find_every_injection_and_nothing_else(seed: int) -> None:
    pair = make_pair(seed)
    assert pair.expected, "the generator injected nothing"
    result = _diff(pair)
    mapping = {pr.pair.ref: pr.pair.cand for pr in result.pairs}
    assert mapping == pair.tid_map
    assert _found(result) == set(pair.expected)
    assert result.divergent


def test_every_class_is_injected_and_found_somewhere() -> None:
    seen: set[str] = set()
    for seed in range(10, 16):
        pair = make_pair(seed, threads=5)
        result = _diff(pair)
        found = _found(result)
        assert found == set(pair.expected)
        seen |= {e.cls for e in found}
    assert seen == {"changed", "missing", "extra", "reordered", "truncated"}


def test_a_swap_inside_one_thread_is_a_divergence() -> None:
    """Within a thread the order is program order: A then B against B then A fails."""
    pair = make_pair(21, inject=("reordered",))
    result = _diff(pair)
    assert result.divergent
    assert {f.cls for pr in result.pairs for f in pr.findings} == {"reordered"}
    assert {pr.verdict.split(" at ")[0] for pr in result.pairs} == {"DIVERGED"}
    report = build_report(result, "r", "c")
    assert report.exit_code == 1
    assert "different order" in report.divergences[0].explanation


def test_interleaving_across_threads_is_not_a_finding() -> None:
    """The generator interleaves each side's threads differently: no finding at all."""
    pair = make_pair(22, inject=())
    ref_order = [e.tid for e in pair.ref]
    cand_order = [pair.tid_map_inverse(e.tid) for e in pair.cand]
    assert ref_order != cand_order
    result = _diff(pair)
    assert not [f for pr in result.pairs for f in pr.findings]
    assert build_report(result, "r", "c").exit_code == 0


def test_identical_programs_match_despite_tids_handles_pointers_and_interleaving() -> None:
    pair = make_pair(31, inject=())
    assert not pair.expected
    result = _diff(pair)
    assert {pr.verdict for pr in result.pairs} == {"MATCH"}
    counts = result.rule_counts
    assert counts["handles"] > 0 and counts["pointers"] > 0 and counts["timestamps"] > 0


def test_turning_rules_off_exposes_what_they_hide() -> None:
    pair = make_pair(31, inject=())
    no_ptr = _diff(pair, norm=Normalisation(rules=frozenset({"handles", "timestamps"})))
    assert no_ptr.divergent
    no_handles = _diff(pair, norm=Normalisation(rules=frozenset({"pointers", "timestamps"})))
    assert no_handles.divergent


def test_ignore_status_hides_a_status_change() -> None:
    pair = make_pair(41, inject=())
    cand = list(pair.cand)
    k = next(i for i, e in enumerate(cand) if e.kind == "kernel.return" and e.status == 0)
    cand[k] = type(cand[k])(**{**_fields(cand[k]), "status": 0xC0000008})
    changed = Pair(pair.ref, cand, [], pair.tid_map)
    res = _diff(changed)
    (f,) = [f for pr in res.pairs for f in pr.findings]
    assert f.cls == "changed"
    report = build_report(res, "r", "c")
    assert report.divergences[0].fields == ["status"]
    assert (
        "status STATUS_SUCCESS (0x00000000) vs STATUS_INVALID_HANDLE (0xC0000008)"
        in report.divergences[0].explanation
    )
    quiet = _diff(changed, norm=Normalisation(ignore=frozenset({"status"})))
    assert not quiet.divergent


def _fields(ev: object) -> dict[str, object]:
    return {k: getattr(ev, k) for k in ev.__struct_fields__ if getattr(ev, k) is not None}  # type: ignore[attr-defined]


def test_first_stops_at_the_first_divergence_per_thread() -> None:
    pair = make_pair(51, inject=("changed", "missing", "extra"), per_thread=2)
    full = _diff(pair)
    first = _diff(pair, first=True)
    for pf, pa in zip(first.pairs, full.pairs, strict=True):
        div_full = [f for f in pa.findings if f.divergent]
        div_first = [f for f in pf.findings if f.divergent]
        assert div_first == div_full[:1]


def test_forced_map_overrides_and_unmapped_threads_are_reported() -> None:
    pair = make_pair(61, inject=())
    wrong = {0: pair.tid_map[1], 1: pair.tid_map[0]}
    res = _diff(pair, forced_map=wrong)
    got = {pr.pair.ref: (pr.pair.cand, pr.pair.method) for pr in res.pairs}
    assert got[0] == (pair.tid_map[1], "--map")
    assert res.divergent
    lone = [e for e in pair.ref if e.tid != 3]
    res2 = run_diff(
        events_to_columns(pair.ref),
        events_to_columns([e for e in pair.cand if e.tid != pair.tid_map[3]]),
    )
    assert any(pr.verdict == "UNMAPPED" and pr.pair.ref == 3 for pr in res2.pairs)
    assert lone


def test_first_occurrence_compares_export_order() -> None:
    pair = make_pair(71, inject=())
    res = _diff(pair, first_occurrence=True)
    assert not res.divergent


def test_similarity_fallback_when_no_creation_tree() -> None:
    pair = make_pair(81, inject=())
    strip = [e for e in pair.ref if e.kind != "thread.create"]
    strip_c = [e for e in pair.cand if e.kind != "thread.create"]
    res = run_diff(events_to_columns(strip), events_to_columns(strip_c))
    mapping = {pr.pair.ref: pr.pair.cand for pr in res.pairs}
    assert mapping[0] == pair.tid_map[0]
    methods = {pr.pair.method for pr in res.pairs}
    assert "similarity" in methods


def test_every_generator_class_is_known() -> None:
    assert set(CLASSES) >= {"changed", "missing", "extra", "reordered", "truncated"}


def test_streaming_first_in_small_stretches_finds_the_same_first_divergence() -> None:
    from x360k.diff.align import AlignParams

    pair = make_pair(52, inject=("changed", "missing", "extra"), per_thread=3)
    full = _diff(pair)
    small = AlignParams(stream_chunk=16, window=32, max_window=64)
    first = _diff(pair, first=True, params=small)
    for pf, pa in zip(first.pairs, full.pairs, strict=True):
        div_full = [f for f in pa.findings if f.divergent]
        div_first = [f for f in pf.findings if f.divergent]
        assert div_first[:1] == div_full[:1]
        assert len(div_first) <= 1


def test_narrow_column_types_compare_like_schema_strings(tmp_path: Path) -> None:
    """Arrow files storing args as list<uint32> and sid as uint64 diff like the JSON form."""
    import pyarrow as pa

    from x360k.diff.inputs import load
    from x360k.trace.columns import events_to_batch, sort_by_thread

    pair = make_pair(43, inject=("changed", "missing"))
    expected = _found(_diff(pair))
    assert expected
    table = sort_by_thread(pa.Table.from_batches([events_to_batch(pair.cand)]))
    args = pa.array(
        [None if a is None else [int(x, 16) for x in a] for a in table.column("args").to_pylist()],
        pa.list_(pa.uint32()),
    )
    sid = pa.array(
        [None if s is None else int(s, 16) for s in table.column("sid").to_pylist()], pa.uint64()
    )
    table = table.set_column(table.schema.get_field_index("args"), "args", args)
    table = table.set_column(table.schema.get_field_index("sid"), "sid", sid)
    path = tmp_path / "cand.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    res = run_diff(events_to_columns(pair.ref, "ref"), load(path))
    assert _found(res) == expected


def test_argument_table_comes_from_the_export_registry() -> None:
    from x360k.diff.keys import registry_arg_table

    table = registry_arg_table()
    assert table["NtClose"] == ("handle",)
    assert table["NtCreateEvent"][0] == "ptr"
    assert len(table) > 50


def test_keys_built_in_small_stretches_give_the_same_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import x360k.diff.keys as keys_mod

    pair = make_pair(44, inject=("changed", "missing", "extra", "handle"))
    expected = _found(_diff(pair))
    monkeypatch.setattr(keys_mod, "KEY_CHUNK", 7)
    res = _diff(pair)
    assert _found(res) == expected
    assert isinstance(res.pairs[0].ref_rows, range)
