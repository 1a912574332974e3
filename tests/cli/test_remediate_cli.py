"""azbackup-fix plan / apply / playbooks through main([...]) with --sandbox: reports and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main  # noqa: F401
from azbackup_fix.playbooks import playbook_ids

from .cli_runner import run

SUB = "a8383246-6edc-5168-a99f-ca020b3b8fc5"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"



@pytest.fixture(autouse=True)
def _journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))


def test_plan_lists_changes_exit_4_json() -> None:
    code, out, _ = run("plan", "--sandbox", "rp-limit-locked", "--vm", VM, "--output", "json")
    assert code == 4
    doc = json.loads(out)
    assert doc["schema"] == "azbackup-fix/run/v1" and doc["mode"] == "dry-run" and doc["write_count"] == 0
    steps = [s["step"] for p in doc["playbooks"] for s in p["steps"]]
    assert steps == ["delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]


def test_plan_without_vm_targets_every_protected_vm_of_the_sandbox() -> None:
    code, out, _ = run("plan", "--sandbox", "rp-limit-locked", "--output", "json")
    assert code == 4
    docs = json.loads(out)
    docs = docs if isinstance(docs, list) else [docs]
    assert sorted(d["target"].rsplit("/", 1)[-1] for d in docs) == ["vm-app-01", "vm-app-02"]
    assert all(d["write_count"] == 0 for d in docs)


def test_plan_healthy_exit_0() -> None:
    code, out, _ = run("plan", "--sandbox", "healthy", "--vm", VM)
    assert code == 0 and "nothing to do" in out


def test_apply_without_terminal_and_without_yes_refuses_exit_3() -> None:
    code, out, err = run("apply", "--sandbox", "rp-limit-locked", "--vm", VM)
    assert code == 3 and "--yes" in err and out == ""


@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_apply_yes_fixes_exit_0(output: str) -> None:
    code, out, _ = run("apply", "--sandbox", "failed-vmsnapshot-windows", "--vm", VM, "--yes", "--output", output)
    assert code == 0
    assert "changed" in out and ("delete-extension" in out or "uninstall extension" in out)


def test_protection_change_needs_permission_exit_3_then_allowed_exit_0() -> None:
    code, out, _ = run("apply", "--sandbox", "vm-deleted", "--vm", VM, "--yes", "--allow-protection-changes")
    assert code == 0 and "stop protection" in out
    code, out, _ = run("plan", "--sandbox", "protection-stopped", "--vm", VM)
    # The guides' file routes protection changes only when its guard rail allows; the plan names it.
    assert code == 3 and "needs --allow-protection-changes" in out


def test_bad_input_exit_2() -> None:
    code, _, err = run("plan", "--sandbox", "healthy", "--vm", "/subscriptions/x/nope")
    assert code == 2 and "error" in err
    code, _, err = run("plan", "--sandbox", "healthy", "--vm", VM, "--playbooks", "/no/such/file.yaml")
    assert code == 2


def test_max_targets_guard_rail_exit_3() -> None:
    other = VM.replace("vm-app-01", "vm-app-02")
    code, _, err = run("plan", "--sandbox", "healthy", "--vm", VM, "--vm", other, "--max-targets", "1")
    assert code == 3 and "limit" in err


def test_playbooks_lists_the_registry() -> None:
    code, out, _ = run("playbooks", "--output", "json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == list(playbook_ids())
    clear = next(r for r in rows if r["id"] == "clear-restore-point-limit")
    assert clear["destructive"] and "Microsoft.Authorization/locks/delete" in clear["actions"]


def test_failed_extension_needs_allow_extension_changes_then_is_rerun_exit_0() -> None:
    """Issue 12, item 1, through the CLI: without the rail the plan names it; with it the extension is
    re-run, the VM reapplied and the backup that proves it succeeds."""
    code, out, _ = run("plan", "--sandbox", "failed-extension-rerun", "--vm", VM)
    assert code == 3 and "needs --allow-extension-changes" in out
    code, out, _ = run("apply", "--sandbox", "failed-extension-rerun", "--vm", VM, "--yes",
                        "--allow-extension-changes", "--output", "json")
    assert code == 0, out
    steps = [(s["step"], s["status"]) for p in json.loads(out)["playbooks"] for s in p["steps"]]
    assert steps == [("rerun-extension", "changed"), ("reapply-vm", "changed"), ("trigger-backup", "changed")]


def test_transient_state_plan_waits_then_backs_up() -> None:
    code, out, _ = run("plan", "--sandbox", "vm-transitioning", "--vm", VM, "--output", "json")
    assert code == 4
    assert [s["step"] for p in json.loads(out)["playbooks"] for s in p["steps"]] == [
        "wait-for-vm-state", "trigger-backup"]
