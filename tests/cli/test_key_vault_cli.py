"""Key Vault access through the CLI entry point (--sandbox, in-process): diagnose names the missing
permissions, plan without the rail names it (exit 3), apply with it grants and backs up (exit 0);
without the keyvault extra an encrypted VM's finding names what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main  # noqa: F401

from .cli_runner import run

SUB = "3c4ad2f7-9b1e-5d3a-8f2c-61a0e4b7d901"  # keyvault-access-policy
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app-prod/providers/Microsoft.Compute/virtualMachines/vm-app-01"
BEK_SUB = "3c4ad2f7-9b1e-5d3a-8f2c-61a0e4b7d904"  # keyvault-bek-only
CODE = "UserErrorKeyvaultPermissionsNotConfigured"



@pytest.fixture(autouse=True)
def _journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))


def test_diagnose_names_the_missing_permissions() -> None:
    code, out, _ = run("diagnose", "--sandbox", "keyvault-access-policy", "--vm", VM, "--output", "json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["code"] == CODE and f["severity"] == "error"]
    assert finding["evidence_fields"]["missing_permissions"] == "keys backup, list; secrets backup, list"
    assert finding["evidence_fields"]["access_model"] == "access policies"
    assert "grant-backup-key-vault-access" in finding["playbooks"] and code == 4


def test_plan_needs_the_rail_then_apply_grants_and_backs_up() -> None:
    code, out, _ = run("plan", "--sandbox", "keyvault-access-policy", "--vm", VM)
    assert code == 3 and "--allow-permission-changes" in out
    code, out, _ = run("plan", "--sandbox", "keyvault-access-policy", "--vm", VM, "--allow-permission-changes")
    assert code == 4 and "keys backup, list; secrets backup, list" in out
    code, out, _ = run("apply", "--sandbox", "keyvault-access-policy", "--vm", VM, "--yes",
                        "--allow-permission-changes", "--output", "json")
    report = json.loads(out)
    assert code == 0, out
    kinds = {s["step"]: s["status"] for p in report["playbooks"] for s in p["steps"]}
    assert kinds == {"add-key-vault-access-policy": "changed", "trigger-backup": "changed"}


def test_the_object_id_option_and_its_bad_input() -> None:
    from azbackup_sandbox.providers.graph.models import backup_service_object_id

    bms = backup_service_object_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
    code, out, _ = run("diagnose", "--sandbox", "keyvault-bek-only", "--vm", VM.replace(SUB, BEK_SUB),
                        "--backup-service-object-id", bms, "--output", "json")
    (finding,) = [f for f in json.loads(out)["findings"] if f["code"] == CODE]
    assert finding["evidence_fields"]["backup_service_object_id"] == bms
    assert finding["evidence_fields"]["missing_permissions"] == "secrets backup"
    code, out, err = run("diagnose", "--sandbox", "keyvault-bek-only", "--backup-service-object-id", "nope")
    assert code == 2 and "must be a GUID" in err and len(err.strip().splitlines()) == 1


_BLOCK = """
import sys, importlib.abc
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("azure.mgmt.keyvault", "azure.mgmt.authorization"):
            raise ModuleNotFoundError(f"No module named '{name}'")
        return None
sys.meta_path.insert(0, _Absent())
from azbackup_fix.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_without_the_extra_the_finding_names_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "AZBACKUP_JOURNAL": str(tmp_path / "j.sqlite")}
    done = subprocess.run([sys.executable, "-c", _BLOCK, "diagnose", "--sandbox", "keyvault-access-policy", "--vm",
                           VM, "--output", "json"], capture_output=True, text=True, env=env, timeout=120, check=False)
    findings = json.loads(done.stdout)["findings"]
    # The state finding (what to install) merges with the failed job's (an error: backups do fail).
    (finding,) = [f for f in findings if f["code"] == CODE]
    assert "azbackup-fix[keyvault]" in finding["title"] and finding["evidence_fields"]["not_checked"], finding
