"""``-o table`` and ``--query``, as az does them: a command's JSON document, optionally narrowed by a
JMESPath query, shown as an aligned table (or, for ``--query`` with json/text, as JSON or bare values).

Without ``--query``, a table shows each document's rows: a diagnosis's findings, a run's steps, a fleet
scan's VMs, an error document's errors; any other value is tabulated as it is (a list of objects: one
row each, one column per key with a scalar value)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...errors import InvalidInputError

__all__ = ["apply_query", "compile_query", "render_queried", "render_table", "table_rows"]

Row = dict[str, Any]


def compile_query(expression: str) -> Any:
    """The parsed JMESPath expression; a bad one (or no jmespath installed) is one line, exit 2."""
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError:
        raise InvalidInputError("--query needs the jmespath package: pip install 'azbackup-fix[cli]'") from None
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].split(", for expression")[0]
        raise InvalidInputError(f"--query: invalid JMESPath expression '{expression}': {reason}") from None


def apply_query(compiled: Any, document: Any) -> Any:
    return compiled.search(document)


def _name(resource_id: object) -> object:
    """The last segment of a resource id (az shows names in tables, not ids)."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(resource_id, str) and "/" in resource_id \
        else resource_id


def _diagnosis_rows(doc: Mapping[str, Any]) -> Iterable[Row]:
    vm = _name(doc.get("target"))
    findings = doc.get("findings") or []
    if not findings:
        yield {"VM": vm, "Severity": "-", "Code": "-", "Title": "no problem found"}
    for f in findings:
        yield {"VM": vm, "Severity": f.get("severity"), "Code": f.get("code"), "Title": f.get("title")}


def _run_rows(doc: Mapping[str, Any]) -> Iterable[Row]:
    vm = _name(doc.get("target"))
    steps = [(p.get("playbook"), s) for p in doc.get("playbooks") or [] for s in p.get("steps") or []]
    if not steps:
        yield {"VM": vm, "Mode": doc.get("mode"), "Playbook": "-", "Step": "-", "Status": "nothing to do",
               "Target": "-"}
    for playbook, s in steps:
        status = s.get("status")
        if s.get("rail") and s.get("refused"):
            status = f"{status} (needs --{str(s['rail']).replace('_', '-')})"
        yield {"VM": vm, "Mode": doc.get("mode"), "Playbook": playbook, "Step": s.get("step"), "Status": status,
               "Target": _name(s.get("target"))}


def _fleet_rows(doc: Mapping[str, Any]) -> Iterable[Row]:
    for vm in doc.get("vms") or []:
        yield {"VM": _name(vm.get("vm")), "Outcome": vm.get("outcome"), "Error": vm.get("error_code"),
               "Playbooks": ", ".join(vm.get("playbooks") or []), "Detail": vm.get("detail")}


def _error_rows(doc: Mapping[str, Any]) -> Iterable[Row]:
    for e in doc.get("errors") or []:
        yield {key.capitalize(): value for key, value in e.items()}


_ROWS: dict[str, Callable[[Mapping[str, Any]], Iterable[Row]]] = {
    "azbackup-fix/diagnosis/v1": _diagnosis_rows,
    "azbackup-fix/run/v1": _run_rows,
    "azbackup-fix/fleet/v1": _fleet_rows,
    "azbackup-fix/error/v1": _error_rows,
}


def table_rows(document: Any) -> Any:
    """The rows a table shows for a command's document (a list of documents: their rows in turn)."""
    docs = document if isinstance(document, list) else [document]
    if docs and all(isinstance(d, Mapping) and d.get("schema") in _ROWS for d in docs):
        return [row for d in docs for row in _ROWS[d["schema"]](d)]
    return document


def _cell(value: Any) -> str | None:
    """A scalar as text; None for what a table does not show (lists and objects, as in az's tables)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def render_table(value: Any) -> str:
    """An aligned table: a list of objects (a row each), one object (one row) or scalars (one column)."""
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return "" if value is None else (_cell(value) or json.dumps(value))
    if not value:
        return ""
    if not all(isinstance(v, Mapping) for v in value):
        value = [{"Result": v} for v in value]
    columns: list[str] = []
    for row in value:
        for key, cell in row.items():
            if key not in columns and _cell(cell) is not None:
                columns.append(key)
    cells = [[_cell(row.get(c)) or "" for c in columns] for row in value]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(_cell(v) is not None for v in value)


def render_queried(document: Any, *, output: str, query: Any = None) -> str:
    """What ``--query``/``-o table`` print for a command's JSON ``document``."""
    value = apply_query(query, document) if query is not None else document
    if output == "table":
        return render_table(table_rows(value) if query is None else value)
    if output == "text" and (_cell(value) is not None or _scalars(value)):
        # Bare values, one per line, for shell use: `--query 'findings[0].code' -o text`.
        return "\n".join(_cell(v) or "" for v in value) if isinstance(value, list) else (_cell(value) or "")
    return json.dumps(value, indent=2)
