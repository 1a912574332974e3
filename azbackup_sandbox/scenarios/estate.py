"""A small builder that seeds realistic estates: subscriptions, VMs, vaults, policies, protection,
restore points and locks, with the names and shapes Azure Backup really uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..providers.backup.models import BackupPolicy, ProtectedItem, Vault
from ..providers.compute.models import (
    AgentState,
    DataDisk,
    Extension,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
)
from .schema import subscription_guid

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["Estate", "VmSpec", "subscription_guid"]

WINDOWS_AGENT = "2.7.41491.1102"
LINUX_AGENT = "2.11.1.12"
OS_NAMES = {"Windows": ("Windows Server 2022 Datacenter", "10.0.20348.2527"),
            "Linux": ("ubuntu", "22.04")}


@dataclass
class VmSpec:
    name: str
    resource_group: str
    os_type: str = "Windows"
    location: str = "eastus"
    size: str = "Standard_D2s_v3"
    data_disks_gb: tuple[int, ...] = ()
    encrypted: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Estate:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    @property
    def now(self) -> datetime:
        return self.sb.clock.now()

    def subscription(self, label: str, display_name: str | None = None) -> str:
        sub = subscription_guid(label)
        self.sb.resources.add_subscription(sub, display_name or label)
        return sub

    def group(self, subscription_id: str, name: str, location: str = "eastus") -> str:
        self.sb.resources.add_group(subscription_id, name, location)
        return name

    def vm(self, subscription_id: str, spec: VmSpec, *, with_backup_extension: bool = True) -> VirtualMachine:
        self.group(subscription_id, spec.resource_group, spec.location)
        os_name, os_version = OS_NAMES[spec.os_type]
        vm = VirtualMachine(
            subscription_id=subscription_id,
            resource_group=spec.resource_group,
            name=spec.name,
            location=spec.location,
            os_type=spec.os_type,
            vm_id=self.sb.new_guid(),
            vm_size=spec.size,
            os_disk_size_gb=127 if spec.os_type == "Windows" else 30,
            data_disks=[DataDisk(lun, f"{spec.name}_DataDisk_{lun}", size) for lun, size in
                        enumerate(spec.data_disks_gb)],
            encrypted=spec.encrypted,
            agent=AgentState(version=WINDOWS_AGENT if spec.os_type == "Windows" else LINUX_AGENT),
            time_created=self.now - timedelta(days=200),
            os_name=os_name,
            os_version=os_version,
            tags=dict(spec.tags),
        )
        self.sb.compute.add_vm(vm)
        if spec.os_type == "Windows":
            self.extension(vm, "BGInfo", "Microsoft.Compute", "BGInfo", "2.2")
        else:
            self.extension(vm, "AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33")
        if with_backup_extension:
            self.backup_extension(vm)
        return vm

    def extension(self, vm: VirtualMachine, name: str, publisher: str, type_: str, version: str,
                  *, failed_message: str | None = None) -> Extension:
        ext = Extension(name=name, publisher=publisher, type=type_, type_handler_version=version,
                        status_message="Plugin enabled")
        return self._install(vm, ext, failed_message)

    def backup_extension(self, vm: VirtualMachine, *, failed_message: str | None = None) -> Extension:
        """The VMSnapshot/VMSnapshotLinux extension exactly as the job engine installs it."""
        from ..providers.backup.physics import backup_extension

        return self._install(vm, backup_extension(self.sb, vm, self.sb.new_guid()), failed_message)

    def _install(self, vm: VirtualMachine, ext: Extension, failed_message: str | None) -> Extension:
        if failed_message is not None:
            ext.provisioning_state = "Failed"
            ext.status_code = "ProvisioningState/failed/-2147024891"
            ext.status_level = "Error"
            ext.status_message = failed_message
        return self.sb.compute.install_extension(vm, ext)

    def vault(self, subscription_id: str, name: str, resource_group: str, location: str = "eastus") -> Vault:
        self.group(subscription_id, resource_group, location)
        return self.sb.backup.add_vault(Vault(subscription_id, resource_group, name, location))

    def policy(self, vault: Vault, name: str = "DefaultPolicy", *, retention_days: int = 2,
               rg_prefix: str | None = None, rg_suffix: str | None = None) -> BackupPolicy:
        return self.sb.backup.add_policy(BackupPolicy(vault, name, instant_rp_retention_days=retention_days,
                                                      rg_prefix=rg_prefix, rg_suffix=rg_suffix))

    def protect(self, vm: VirtualMachine, vault: Vault, policy: BackupPolicy) -> ProtectedItem:
        item = ProtectedItem(vault=vault, vm_id=vm.id, vm_name=vm.name, vm_resource_group=vm.resource_group,
                             policy=policy, data_id=self.sb.rng.randrange(10**11, 10**12),
                             virtual_machine_guid=vm.vm_id)
        return self.sb.backup.add_item(item)

    def restore_points(self, vm: VirtualMachine, policy: BackupPolicy, count: int, *,
                       every: timedelta = timedelta(days=1)) -> RestorePointCollection:
        """The collection Azure Backup keeps for `vm`, with `count` daily points ending yesterday."""
        group = policy.restore_point_group(vm.location)
        self.group(vm.subscription_id, group, vm.location)
        rpc = self.sb.compute.add_collection(RestorePointCollection(
            subscription_id=vm.subscription_id, resource_group=group,
            name=f"AzureBackup_{vm.name}_{self.sb.rng.getrandbits(64)}", location=vm.location,
            source_id=vm.id, collection_id=self.sb.new_guid(),
        ))
        base = self.now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)
        for index in reversed(range(count)):
            when = base - every * index + timedelta(seconds=self.sb.rng.randrange(0, 1800))
            rpc.points.append(RestorePoint(f"AzureBackup_{when:%Y%m%d_%H%M%S}", when))
        return rpc

    def lock(self, scope: str, name: str, level: str = "CanNotDelete", notes: str | None = None) -> None:
        self.sb.locks.put(scope, name, level, notes)

    def group_id(self, subscription_id: str, name: str) -> str:
        return f"/subscriptions/{subscription_id}/resourceGroups/{name}"
