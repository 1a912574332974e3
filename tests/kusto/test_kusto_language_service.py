"""The library's Resource Graph queries checked by Microsoft's own Kusto language service
(``@kusto/language-service-next``, run by ``check.js`` under node) against the sandbox tables' schema: a
query the sandbox's interpreter accepts but real Kusto would reject cannot pass unnoticed.

Needs ``npm ci --prefix tests/kusto`` (package.json and package-lock.json are committed); skipped without it."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from azbackup_fix.fleet import queries
from azbackup_sandbox.providers.resourcegraph.kql.errors import KqlError
from azbackup_sandbox.providers.resourcegraph.kql.evaluate import Table, evaluate
from azbackup_sandbox.providers.resourcegraph.kql.parser import parse
from azbackup_sandbox.providers.resourcegraph.tables import COLUMNS, SCHEMA, TABLES

HERE = Path(__file__).parent
SERVICE = HERE / "node_modules" / "@kusto" / "language-service-next"
LIBRARY = {name: getattr(queries, name) for name in queries.__all__}

# CI must run the check (its Makefile installs the service); a developer machine without npm skips it.
_MISSING = "node is not installed" if shutil.which("node") is None else (
    None if SERVICE.is_dir() else "the Kusto language service is not installed: run 'npm ci --prefix tests/kusto'")
if _MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI runs the Kusto check: {_MISSING}")
pytestmark = [pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]


def _errors(texts: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    # bracketed names: 'kind' and 'type' are keywords of the schema syntax
    schema = "(" + ", ".join(f"['{column}']:{kind}" for column, kind in SCHEMA.items()) + ")"
    payload = {"tables": {table: schema for table in TABLES}, "queries": texts}
    done = subprocess.run(["node", str(HERE / "check.js")], input=json.dumps(payload), capture_output=True,
                          text=True, check=True, timeout=120, cwd=HERE)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_library_queries_have_no_kusto_errors_and_the_sandbox_parses_them() -> None:
    assert set(LIBRARY) == {"BACKUP_JOBS", "PROTECTED_ITEMS", "BACKUP_EXTENSIONS"}
    assert _errors(LIBRARY) == {name: [] for name in LIBRARY}
    for text in LIBRARY.values():
        parse(text)


def test_the_check_can_fail_a_query_kusto_rejects() -> None:
    broken = {
        "column": LIBRARY["PROTECTED_ITEMS"].replace("| project id,", "| project nosuchcolumn, id,"),
        "aggregate": "RecoveryServicesResources | extend x = make_list_if(id, true)",
        "syntax": "Resources | projec id",
    }
    errors = _errors(broken)
    assert all(errors[name] for name in broken), errors
    assert any("nosuchcolumn" in str(e["message"]) for e in errors["column"])


def _sandbox_verdict(text: str) -> str:
    """'ok', or the code of the sandbox's error, over empty tables of the real schema."""
    empty = {name: (lambda types: Table(COLUMNS, [])) for name in TABLES}
    try:
        evaluate(parse(text), empty, clock=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc), text=text)
    except KqlError as exc:
        return exc.code
    return "ok"


def test_the_sandbox_and_kusto_agree_on_every_query_its_tests_send() -> None:
    """Each query text of tests/sandbox/test_resource_graph_kql.py that names a real table: valid Kusto
    exactly when the sandbox accepts it, but for the operators the sandbox does not implement."""
    source = (HERE.parent / "sandbox" / "test_resource_graph_kql.py").read_text(encoding="utf-8")
    texts = sorted({node.value for node in ast.walk(ast.parse(source))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.match(rf"\s*({'|'.join(TABLES)})\b", node.value)})
    assert len(texts) > 15
    kusto = _errors({f"q{i}": text for i, text in enumerate(texts)})
    for i, text in enumerate(texts):
        verdict = _sandbox_verdict(text)
        if verdict == "InvalidQueryLanguage":
            continue  # valid Kusto (or not) that the sandbox declines
        assert (verdict == "ok") == (not kusto[f"q{i}"]), (text, verdict, kusto[f"q{i}"])
