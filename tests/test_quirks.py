"""The quirk table, the Quirks record, the profiles and the generated documentation agree."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from x360k.quirks import DIVERGENCES, QUIRK_TABLE, Quirks

ROOT = Path(__file__).resolve().parent.parent


def test_table_and_record_have_the_same_quirks() -> None:
    fields = [f.name for f in dataclasses.fields(Quirks)]
    names = [q.name for q in QUIRK_TABLE]
    assert len(names) == len(set(names))
    assert sorted(fields) == sorted(names)


def test_every_quirk_documents_both_behaviours_and_a_source() -> None:
    for q in (*QUIRK_TABLE, *DIVERGENCES):
        assert q.canary and q.console and q.source, q.name
        assert q.canary != q.console, q.name
        assert "reference" in q.source, q.name


def test_profiles() -> None:
    assert Quirks.for_profile("canary").enabled() == [q.name for q in QUIRK_TABLE]
    assert Quirks.for_profile("console").enabled() == []
    mixed = Quirks.for_profile("console", double_close_succeeds=True)
    assert mixed.enabled() == ["double_close_succeeds"]


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown quirk"):
        Quirks.for_profile("canary", no_such_quirk=True)
    with pytest.raises(ValueError, match="unknown profile"):
        Quirks.for_profile("xenia")  # type: ignore[arg-type]


def test_semantics_doc_is_generated_from_the_table() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_semantics", ROOT / "tools" / "gen_semantics.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    doc = (ROOT / "docs" / "semantics.md").read_text()
    assert gen.render(doc) == doc, "docs/semantics.md is out of date: run `make docs`"
    for q in QUIRK_TABLE:
        assert f"`{q.name}`" in doc
