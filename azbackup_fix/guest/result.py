"""The one JSON line every guest script ends with (schema ``azbackup-guest/v1``), and how to read it.

A probe whose output was cut (Azure keeps only the last 4,096 bytes), whose script failed, or that printed
no valid line is a problem to report, never a healthy guest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..models.guest import GuestChange

__all__ = ["GUEST_JSON_SCHEMA", "GUEST_SCHEMA", "ScriptOutput", "parse_output", "schema_problems"]

GUEST_SCHEMA = "azbackup-guest/v1"
OUTPUT_LIMIT = 4096

_SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
GUEST_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": GUEST_SCHEMA,
    "title": "azbackup-fix guest script result (the last line of its output)",
    "type": "object",
    "required": ["schema", "os", "changes", "errors"],
    "properties": {
        "schema": {"const": GUEST_SCHEMA},
        "os": {"enum": ["windows", "linux"]},
        "facts": {"type": "object", "description": "a probe's findings; keys in docs/guest-protocol.md"},
        "changes": {"type": "array", "items": {"type": "object", "required": ["action", "target", "before", "after"],
                                               "properties": {"action": {"type": "string"},
                                                              "target": {"type": "string"},
                                                              "before": _SCALAR, "after": _SCALAR}}},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}


def schema_problems(doc: Any) -> list[str]:
    """What in ``doc`` breaks GUEST_JSON_SCHEMA (a small validator: the keys, their types, the changes)."""
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    problems = [f"missing '{k}'" for k in GUEST_JSON_SCHEMA["required"] if k not in doc]
    if doc.get("schema") != GUEST_SCHEMA:
        problems.append(f"schema is {doc.get('schema')!r}, not {GUEST_SCHEMA}")
    if doc.get("os") not in ("windows", "linux"):
        problems.append(f"os is {doc.get('os')!r}")
    if "facts" in doc and not isinstance(doc["facts"], dict):
        problems.append("facts is not an object")
    for i, change in enumerate(doc.get("changes") or []):
        if not isinstance(change, dict) or not {"action", "target", "before", "after"} <= set(change):
            problems.append(f"changes[{i}] lacks action/target/before/after")
    if not isinstance(doc.get("errors", []), list) or not all(isinstance(e, str) for e in doc.get("errors", [])):
        problems.append("errors is not a list of strings")
    return problems


@dataclass(frozen=True, slots=True)
class ScriptOutput:
    """A script's parsed result: the JSON line's content, or why there is none."""

    facts: dict[str, Any] | None
    changes: tuple[GuestChange, ...]
    errors: tuple[str, ...]
    problem: str | None  # None: the line was there and valid

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.errors


def parse_output(stdout: str, *, exit_code: int | None = None, stderr: str = "") -> ScriptOutput:
    """Read the last non-empty line of ``stdout`` as the result. ``exit_code`` (managed Run Command only)
    and ``stderr`` make a failing script a problem even when it printed a line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    truncated = len(stdout.encode("utf-8")) >= OUTPUT_LIMIT
    if not lines:
        why = "the script printed nothing"
        if stderr.strip():
            why += f" (stderr: {stderr.strip().splitlines()[-1][:200]})"
        return ScriptOutput(None, (), (), why)
    try:
        doc = json.loads(lines[-1])
    except ValueError:
        why = "its output was cut to the last 4,096 bytes" if truncated else "its last line is not JSON"
        return ScriptOutput(None, (), (), why)
    problems = schema_problems(doc)
    if problems:
        return ScriptOutput(None, (), (), "its result line breaks the schema: " + "; ".join(problems))
    changes = tuple(GuestChange(str(c["action"]), str(c["target"]), c["before"], c["after"]) for c in doc["changes"])
    errors = tuple(str(e) for e in doc["errors"])
    problem = None
    if exit_code not in (None, 0) and not errors:
        problem = f"the script exited with code {exit_code}"
    return ScriptOutput(doc.get("facts"), changes, errors, problem)
