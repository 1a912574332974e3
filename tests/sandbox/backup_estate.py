"""A small backup estate seeded straight through the state models, for the backup contract and physics
tests: one subscription, a Windows VM protected by a vault with a V2 policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from azbackup_sandbox.core.sandbox import Sandbox
from azbackup_sandbox.providers.backup.models import BackupPolicy, ProtectedItem, Vault
from azbackup_sandbox.providers.compute.models import (
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
)

__all__ = ["SUB", "Estate", "seed", "add_vm", "seed_restore_points"]

SUB = "11111111-2222-3333-4444-555555555555"
VM_RG = "rg-App"
VAULT_RG = "rg-backup"
REGION = "eastus"


@dataclass
class Estate:
    sandbox: Sandbox
    vault: Vault
    policy: BackupPolicy
    vm: VirtualMachine
    item: ProtectedItem

    @property
    def container(self) -> str:
        return self.item.container

    @property
    def item_name(self) -> str:
        return self.item.name


def add_vm(sb: Sandbox, vault: Vault, policy: BackupPolicy | None, name: str, *, os_type: str = "Windows",
           **vm_fields: object) -> tuple[VirtualMachine, ProtectedItem]:
    vm = sb.compute.add_vm(VirtualMachine(SUB, VM_RG, name, REGION, os_type, sb.new_guid(), **vm_fields))
    item = sb.backup.add_item(ProtectedItem(vault, vm.id, vm.name, vm.resource_group, policy,
                                            data_id=sb.rng.getrandbits(48)))
    return vm, item


def seed(sb: Sandbox, *, rg_prefix: str | None = None, rg_suffix: str | None = None,
         os_type: str = "Windows", **vm_fields: object) -> Estate:
    with sb.lock:
        sb.resources.add_subscription(SUB)
        sb.resources.add_group(SUB, VM_RG, REGION)
        sb.resources.add_group(SUB, VAULT_RG, REGION)
        vault = sb.backup.add_vault(Vault(SUB, VAULT_RG, "vault-01", REGION))
        policy = sb.backup.add_policy(BackupPolicy(vault, "DefaultPolicy", rg_prefix=rg_prefix,
                                                   rg_suffix=rg_suffix))
        vm, item = add_vm(sb, vault, policy, "appVM01", os_type=os_type, **vm_fields)
        return Estate(sb, vault, policy, vm, item)


def seed_restore_points(sb: Sandbox, vm: VirtualMachine, group: str, count: int, *,
                        age_days: float = 5.0) -> RestorePointCollection:
    """A service collection in `group` holding `count` points, the newest `age_days` old."""
    with sb.lock:
        sb.resources.add_group(SUB, group, vm.location)
        rpc = sb.compute.add_collection(RestorePointCollection(
            SUB, group, f"AzureBackup_{vm.name}_1234567890123456789", vm.location, vm.id, sb.new_guid()))
        newest: datetime = sb.clock.now() - timedelta(days=age_days)
        for n in range(count):
            when = newest - timedelta(hours=n)
            rpc.points.append(RestorePoint("AzureBackup_" + when.strftime("%Y%m%d_%H%M%S"), when))
        return rpc
