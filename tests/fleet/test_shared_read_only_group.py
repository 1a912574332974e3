"""Issue 11, fleet: a ReadOnly lock on a restore-point group shared by several VMs (some at the limit,
some below it, all failing) is removed once, every VM's verification backup completes, and only then is
the lock put back once, identical; with ``--leave-locks-removed`` it stays removed, journaled."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from azbackup_fix.fleet import Outcome
from azbackup_fix.ids import VmRef
from azbackup_sandbox import Sandbox
from tests.fleet.fleet_sandbox import Fleet
from tests.scenarios.rp_layouts import NOTES, OWNERS, RP_RG, VM_RG

POINTS = {"vm-a": 18, "vm-b": 18, "vm-c": 3, "vm-d": 1}  # two at the limit, two below


def _estate() -> tuple[Sandbox, str, dict[str, str]]:
    document = {"name": "rp-shared-readonly", "subscriptions": [{
        "label": "contoso-rp-fleet",
        "vms": [{"name": name, "resourceGroup": VM_RG, "osType": "Windows"} for name in POINTS],
        "vaults": [{"name": "rsv-prod-eastus", "resourceGroup": "rg-backup-prod",
                    "policies": [{"name": "DailyPolicy-VM", "instantRpRetentionRangeInDays": 2}],
                    "protectedItems": [{"vm": name, "policy": "DailyPolicy-VM", "runBackups": 1} for name in POINTS]}],
        "restorePointCollections": [{"resourceGroup": RP_RG, "source": name, "restorePoints": count}
                                    for name, count in POINTS.items()],
        "locks": [{"name": "backup-rg-readonly", "scope": f"resourceGroups/{RP_RG}", "level": "ReadOnly",
                   "notes": NOTES, "owners": OWNERS}],
    }]}
    sb = Sandbox(estate=document)
    sub = sb.subscription_ids[0]
    return sb, sub, {name: VmRef(sub, VM_RG, name).id for name in POINTS}


def _lock_writes(sb: Sandbox) -> list[tuple[int, str]]:
    return [(r.seq, r.method) for r in sb.requests()
            if "/microsoft.authorization/locks/" in r.path.casefold() and r.method in ("PUT", "DELETE")]


@pytest.mark.parametrize("leave", [False, True], ids=["locks-back", "leave-locks-removed"])
def test_shared_read_only_group_every_backup_before_the_lock_returns(tmp_path: Path, leave: bool) -> None:
    sb, _, ids = _estate()
    failed = {name: sb.backup.jobs_for_vm(vm_id)[-1].errors[0].error_title for name, vm_id in ids.items()}
    assert failed == {"vm-a": "UserErrorRpCollectionLimitReached", "vm-b": "UserErrorRpCollectionLimitReached",
                      "vm-c": "UserErrorCrpReportedUserError", "vm-d": "UserErrorCrpReportedUserError"}
    locks_before = sb.snapshot()["resources"]["locks"]
    sb.clear_requests()
    f = Fleet(sb, tmp_path / "j.sqlite")
    options = {"clear-restore-point-limit": {"restore_locks": False}} if leave else {}

    report = f.scan(apply=True, options=options)

    assert {v.vm.rsplit("/", 1)[-1]: v.outcome for v in report.vms} == dict.fromkeys(POINTS, Outcome.FIXED)
    assert report.exit_code == 0
    writes = _lock_writes(sb)
    (removal,) = [seq for seq, method in writes if method == "DELETE"]
    # Every VM's verification backup ran after the removal and completed (polled to the end).
    verification = set()
    for name, vm_id in ids.items():
        latest = max(sb.backup.jobs_for_vm(vm_id), key=lambda j: j.start)
        assert latest.status == "Completed", name
        verification.add(latest.job_id.casefold())
    job_reads = [r.seq for r in sb.requests() if r.method == "GET"
                 and r.path.casefold().rsplit("/", 1)[-1] in verification]
    triggers = [r.seq for r in sb.requests() if r.method == "POST" and r.path.casefold().endswith("/backup")]
    assert len(triggers) == len(POINTS) and min(triggers) > removal and len(job_reads) >= len(POINTS)
    steps = Counter(s for v in report.vms for s, status, _ in v.steps if status == "changed")
    assert steps["delete-restore-point-collection"] == 2 and steps[TRIGGER] == len(POINTS)
    with f.journal as journal:
        assert journal.pending_locks() == ()
        left = journal.left_locks()
    if leave:
        assert [seq for seq, method in writes if method == "PUT"] == []
        assert [e.lock.name for e in left] == ["backup-rg-readonly"]
        assert [a for a, _, _ in report.lock_actions] == ["delete-lock", "leave-lock-removed"]
        assert sb.snapshot()["resources"]["locks"] == []
    else:
        (restore,) = [seq for seq, method in writes if method == "PUT"]
        assert restore > max(job_reads)
        assert left == ()
        assert [a for a, _, _ in report.lock_actions] == ["delete-lock", "restore-lock"]
        assert sb.snapshot()["resources"]["locks"] == locks_before


TRIGGER = "trigger-backup"
