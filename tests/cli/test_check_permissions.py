"""plan/apply --check-permissions ROLE_FILE: missing actions reported before any change, exit 3."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "examples/rbac/azbackup-fix-operator.json"
CONTRIBUTOR = {"Name": "Contributor", "Actions": ["*"],
               "NotActions": ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"]}


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))


def test_contributor_cannot_remove_locks_apply_stops_with_3(tmp_path: Path) -> None:
    role = tmp_path / "contributor.json"
    role.write_text(json.dumps(CONTRIBUTOR), encoding="utf-8")
    code, out, _ = _run("apply", "--sandbox", "demo", "--yes", "--check-permissions", str(role))
    assert code == 3
    assert "nothing was changed" in out
    assert "clear-restore-point-limit: Microsoft.Authorization/locks/delete" in out
    assert "apply:" not in out  # no run report: nothing was applied


def test_json_preflight_report(tmp_path: Path) -> None:
    role = tmp_path / "reader.json"
    role.write_text(json.dumps({"properties": {"roleName": "Reader", "permissions": [{"actions": ["*/read"]}]}}),
                    encoding="utf-8")
    code, out, _ = _run("plan", "--sandbox", "demo", "--check-permissions", str(role), "--output", "json")
    doc = json.loads(out)
    assert code == 3 and doc["schema"] == "azbackup-fix/preflight/v1" and doc["ok"] is False
    assert "Microsoft.Compute/virtualMachines/extensions/delete" in doc["missing"]
    assert set(doc["missing_by_playbook"]) >= {"clear-restore-point-limit", "reinstall-backup-extension"}


def test_operator_role_passes_and_the_run_goes_on() -> None:
    code, out, err = _run("apply", "--sandbox", "demo", "--yes", "--check-permissions", str(OPERATOR))
    assert "permissions: all" in err and "granted" in err
    # The run itself decides: under default guard rails the stuck job's cancel and the agent's restart are
    # refused, naming the flag (no hour-long wait on a job that will not finish).
    assert code == 3 and "needs --allow-disruptive" in out
    assert out.count("apply: /subscriptions/") == 5


def test_bad_role_file_is_bad_input(tmp_path: Path) -> None:
    role = tmp_path / "role.json"
    role.write_text("{", encoding="utf-8")
    code, _, err = _run("plan", "--sandbox", "demo", "--check-permissions", str(role))
    assert code == 2 and "not JSON" in err
