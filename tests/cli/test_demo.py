"""azbackup-fix demo through the real entry point: every block, the JSON form, the guard-rail variant."""

from __future__ import annotations

import io
import json

from azbackup_fix.cli.main import main

NAMES = ("vm-api-01", "vm-dc-01", "vm-files-01", "vm-sql-01", "vm-web-01")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_demo_text_has_one_block_per_vm_with_every_stage() -> None:
    code, out, err = _run("demo")
    assert code == 0 and err == ""
    blocks = out.split("\n\n")[1:-1]
    assert [b.split()[0] for b in blocks] == list(NAMES)
    for block in blocks:
        for label in ("diagnosis", "plan", "apply", "after", "next day"):
            assert f"\n  {label}" in block, (label, block)
        assert "Completed - OK" in block
    sql = blocks[3]
    assert "UserErrorRpCollectionLimitReached" in sql and "delete restore point collection" in sql
    assert "put CanNotDelete lock 'rg-no-delete' back" in sql
    assert len(out.splitlines()) < 120  # readable in a terminal


def test_demo_json_reports_fixed_state_and_the_next_backup() -> None:
    code, out, _ = _run("demo", "--output", "json")
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "azbackup-fix/demo/v1" and doc["exit_code"] == 0
    assert [v["vm"].rsplit("/", 1)[-1] for v in doc["vms"]] == list(NAMES)
    for vm in doc["vms"]:
        assert vm["fixed"] is True
        assert vm["plan"]["mode"] == "dry-run" and vm["plan"]["write_count"] == 0
        assert vm["apply"]["mode"] == "apply" and vm["apply"]["summary"]["failed"] == 0
        # state read back from the sandbox after the run: no error finding but the lock the fix put back
        assert {f["code"] for f in vm["after"]["findings"] if f["severity"] == "error"} <= {
            "RestorePointResourceGroupLocked"}
        (step,) = [s for p in vm["next_backup"]["playbooks"] for s in p["steps"]]
        assert step["step"] == "trigger-backup" and step["detail"]["job_status"] == "Completed"
    broken = [v for v in doc["vms"] if v["diagnosis"]["summary"]["error"]]
    assert len(broken) == 4 and all(v["apply"]["write_count"] > 0 for v in broken)
    sql = next(v for v in doc["vms"] if v["vm"].endswith("vm-sql-01"))
    steps = [s["step"] for p in sql["apply"]["playbooks"] for s in p["steps"]]
    assert steps == ["delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]
    assert "AzureBackupRG_eastus_1/providers/Microsoft.Authorization/locks/rg-no-delete" in json.dumps(
        sql["after"]["findings"])  # the lock is back


def test_demo_without_disruptive_fixes_leaves_two_vms_broken() -> None:
    code, out, _ = _run("demo", "--no-disruptive", "--output", "json")
    doc = json.loads(out)
    assert code == 1 and doc["allow_disruptive"] is False
    fixed = {v["vm"].rsplit("/", 1)[-1]: v["fixed"] for v in doc["vms"]}
    assert fixed == {"vm-api-01": False, "vm-dc-01": True, "vm-files-01": False, "vm-sql-01": True,
                     "vm-web-01": True}
