"""Issue 18 item 10: docs/diagnosis-schema.md lists every key `diagnose --output json` writes,
including the named evidence fields (`evidence_fields`) that make the evidence easy for jq."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.cli.main import main
from azbackup_fix.models import DIAGNOSIS_JSON_SCHEMA, DIAGNOSIS_SCHEMA
from azbackup_sandbox.scenarios import SINGLE_SCENARIOS

DOC = (Path(__file__).parents[2] / "docs" / "diagnosis-schema.md").read_text(encoding="utf-8")
_DYNAMIC = re.compile(r"disk_.+")  # documented as disk_<name>


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in sorted(SINGLE_SCENARIOS):
        out, err = io.StringIO(), io.StringIO()
        main(["diagnose", "--sandbox", name, "--output", "json"], stdout=out, stderr=err)
        doc = json.loads(out.getvalue())
        docs += [d for d in (doc if isinstance(doc, list) else [doc]) if d.get("schema") == DIAGNOSIS_SCHEMA]
    return docs


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    docs = _documents()
    assert len(docs) > 10 and any(f["evidence_fields"] for d in docs for f in d["findings"])
    return docs


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every object key (lists as []), not going into evidence_fields."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            if key not in ("evidence_fields", "summary"):
                out |= _paths(inner, path)
    elif isinstance(value, list):
        for inner in value:
            out |= _paths(inner, prefix + "[]")
    return out


def _documented(path: str) -> bool:
    # "findings[].guide_title" is listed as such, or as `guide_title` in a findings[] row.
    last = path.rsplit(".", 1)[-1]
    rows = [line for line in DOC.splitlines() if line.startswith("| `")]
    names = (f"`{path}`", f"`{path}[]`")
    return any(any(n in row for n in names) or (f"`{last}`" in row and f"`{path.split('.')[0]}." in row)
               for row in rows)


def test_the_doc_lists_every_key_of_the_json(documents: list[dict[str, Any]]) -> None:
    paths = set().union(*(_paths(d) for d in documents))
    assert {"findings[].evidence_fields", "findings[].guide_title", "findings[].guide_url"} <= paths
    missing = sorted(p for p in paths if not _documented(p))
    assert not missing, missing


def test_the_doc_lists_every_evidence_field(documents: list[dict[str, Any]]) -> None:
    keys = {k for d in documents for f in d["findings"] for k in f["evidence_fields"]}
    missing = sorted(k for k in keys if f"`{k}`" not in DOC and not _DYNAMIC.fullmatch(k))
    assert not missing, missing
    assert "`disk_<name>`" in DOC


def test_evidence_fields_are_the_evidence_by_name(documents: list[dict[str, Any]]) -> None:
    for d in documents:
        for f in d["findings"]:
            first: dict[str, Any] = {}
            for e in f["evidence"]:
                first.setdefault(re.sub(r"[^a-z0-9]+", "_", e["label"].casefold()).strip("_"), e["value"])
            assert f["evidence_fields"] == first, f["code"]


def test_the_json_schema_and_the_doc_agree() -> None:
    finding = DIAGNOSIS_JSON_SCHEMA["properties"]["findings"]["items"]["properties"]
    for key in (*DIAGNOSIS_JSON_SCHEMA["properties"], *(f"findings[].{k}" for k in finding)):
        assert _documented(key), key
