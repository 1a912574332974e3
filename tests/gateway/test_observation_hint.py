"""``observe_vm(..., vault_hint=)``: a fleet scan's known vault replaces the backupStatus request when its
item actively protects the VM, and changes nothing else the checks see; a stopped item falls back."""

from __future__ import annotations

from dataclasses import replace

import pytest

from azbackup_fix import SandboxCredential
from azbackup_fix.checks import diagnosis_for
from azbackup_fix.gateway import Gateway, observe_vm
from azbackup_fix.ids import VaultRef
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import Target


def _observe(scenario: str, *, hinted: bool) -> tuple[Sandbox, object]:
    sandbox = Sandbox(scenario=scenario)
    gateway = Gateway(SandboxCredential(), subscription_ids(sandbox)[0], transport=sandbox.transport())
    vm = Target(sandbox).vm()
    # The vault that holds the VM's item, as a fleet scan's discovery would name it.
    hint = next(VaultRef.parse(i.vault.id) for i in sandbox.backup.items.values()
                if i.vm_id.casefold() == vm.id.casefold()) if hinted else None
    sandbox.clear_requests()
    return sandbox, observe_vm(gateway, vm, vault_hint=hint)


@pytest.mark.parametrize("scenario", ["healthy", "rp-limit-locked", "failed-vmsnapshot-linux", "backup-in-progress"])
def test_a_hinted_vault_replaces_backup_status_and_nothing_else_changes(scenario: str) -> None:
    plain_sb, plain = _observe(scenario, hinted=False)
    hinted_sb, hinted = _observe(scenario, hinted=True)
    plain_ops = [r.operation for r in plain_sb.requests()]
    hinted_ops = [r.operation for r in hinted_sb.requests()]
    assert "BackupStatus_Get" in plain_ops and "BackupStatus_Get" not in hinted_ops
    assert sorted(hinted_ops) == sorted(op for op in plain_ops if op != "BackupStatus_Get")
    assert hinted.backup_status is None and hinted.vault == plain.vault and hinted.is_protected
    same = replace(hinted, backup_status=plain.backup_status, observed_at=plain.observed_at)
    assert same == plain
    assert diagnosis_for(hinted).findings == diagnosis_for(plain).findings


def test_a_stopped_item_in_the_hinted_vault_falls_back_to_backup_status_without_reading_it_twice() -> None:
    sandbox, hinted = _observe("protection-stopped", hinted=True)
    ops = [r.operation for r in sandbox.requests()]
    assert "BackupStatus_Get" in ops and ops.count("ProtectedItems_Get") == 1
    assert hinted.protected_item is not None and hinted.protected_item.is_inactive
    _, plain = _observe("protection-stopped", hinted=False)
    assert diagnosis_for(hinted).findings == diagnosis_for(plain).findings
