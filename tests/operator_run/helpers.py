"""What the operator-run tests share: the CLI's in-process entry, the broken VM's id, a journal."""

from __future__ import annotations

import io
import json
from typing import Any

from azbackup_fix.cli.main import main

SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"
OTHER = VM.replace("vm-app-01", "vm-app-02")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str) -> tuple[int, Any, str]:
    code, out, err = cli(*argv, "--output", "json")
    return code, json.loads(out), err


def steps(doc: dict[str, Any], status: str | None = None) -> list[str]:
    return [s["step"] for p in doc["playbooks"] for s in p["steps"] if status is None or s["status"] == status]
