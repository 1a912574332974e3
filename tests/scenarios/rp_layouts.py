"""Restore-point layouts the troubleshooting guides describe (issue 11), seeded through the sandbox's
Python backends with its Estate builder: the job history is not invented, tonight's backups run through
the sandbox's job engine, so each failed job carries the errorTitle its state yields.

Each layout: one broken VM ``vm-app-01`` and a healthy neighbour ``vm-app-02`` sharing its vault,
policy and restore-point group (a fix that touches the neighbour is caught). Restore points are
seeded straight into the backends (``RestorePoints_Create`` over ARM is another piece of work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from azbackup_sandbox.scenarios.estate import Estate, VmSpec

from azbackup_fix.ids import VmRef
from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.compute.models import RestorePoint, RestorePointCollection, VirtualMachine
from azbackup_sandbox.scenarios.catalogue import run_backups, seed_history

__all__ = ["LAYOUTS", "NOTES", "OWNERS", "RP_RG", "VM_RG", "Layout", "build", "locks", "collections_of"]

VM_RG = "rg-app-prod"
RP_RG = "AzureBackupRG_eastus_1"
CUSTOM_PREFIX, CUSTOM_SUFFIX = "rg-vmbackup-rp-", "-eus"
NOTES = "Protect production resources from accidental deletion. Owner: platform team."
OWNERS = [{"applicationId": "3f1c2f0e-7a4b-4c55-9d1e-8b2a6c0d4e11"}]


@dataclass
class Layout:
    sandbox: Sandbox
    subscription: str
    failed_title: str | None  # the errorTitle tonight's backup failed with

    def vm(self, name: str = "vm-app-01") -> VmRef:
        return VmRef(self.subscription, VM_RG, name)


@dataclass
class _Seed:
    estate: Estate
    sub: str
    vm: VirtualMachine
    neighbour: VirtualMachine
    policy: Any
    items: list[Any]


def _group_id(sub: str, group: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def _collection(s: _Seed, group: str, count: int, *, vm: VirtualMachine | None = None) -> RestorePointCollection:
    """A collection as the service names it, ``count`` daily points ending yesterday."""
    sb, vm = s.estate.sb, vm or s.vm
    s.estate.group(s.sub, group, vm.location)
    rpc = sb.compute.add_collection(RestorePointCollection(
        s.sub, group, f"AzureBackup_{vm.name}_{sb.rng.getrandbits(64)}", vm.location, vm.id, sb.new_guid()))
    base = s.estate.now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for index in reversed(range(count)):
        when = base - timedelta(days=index)
        rpc.points.append(RestorePoint(f"AzureBackup_{when:%Y%m%d_%H%M%S}", when))
    return rpc


def _lock(s: _Seed, scope: str, name: str, level: str) -> None:
    s.estate.sb.locks.put(scope, name, level, NOTES, OWNERS)


def _seed(sb: Sandbox, *, custom: bool = False) -> _Seed:
    estate = Estate(sb)
    sub = estate.subscription("contoso-rp-layouts", "Contoso Production")
    vault = estate.vault(sub, "rsv-prod-eastus", "rg-backup-prod")
    policy = estate.policy(vault, "DailyPolicy-VM", retention_days=2,
                           **({"rg_prefix": CUSTOM_PREFIX, "rg_suffix": CUSTOM_SUFFIX} if custom else {}))
    vm = estate.vm(sub, VmSpec("vm-app-01", VM_RG, "Windows", data_disks_gb=(512,)))
    neighbour = estate.vm(sub, VmSpec("vm-app-02", VM_RG, "Windows"))
    items = [estate.protect(vm, vault, policy), estate.protect(neighbour, vault, policy)]
    for item in items:
        seed_history(estate, item)
    return _Seed(estate, sub, vm, neighbour, policy, items)


def _read_only(points: int) -> Callable[[_Seed], None]:
    def seed(s: _Seed) -> None:
        _collection(s, RP_RG, points)
        _collection(s, RP_RG, 2, vm=s.neighbour)
        _lock(s, _group_id(s.sub, RP_RG), "backup-rg-readonly", "ReadOnly")
    return seed


def _old_layout(s: _Seed) -> None:
    # The older layout: the VM's points in its own group (locked there), the newest in the service's group.
    _collection(s, VM_RG, 17)
    _collection(s, RP_RG, 1)
    _collection(s, RP_RG, 2, vm=s.neighbour)
    _lock(s, _group_id(s.sub, VM_RG), "app-rg-no-delete", "CanNotDelete")


def _collection_lock(s: _Seed) -> None:
    rpc = _collection(s, RP_RG, 18)
    _collection(s, RP_RG, 2, vm=s.neighbour)
    _lock(s, rpc.id, "keep-restore-points", "CanNotDelete")


def _vm_group_lock_unrelated(s: _Seed) -> None:
    _collection(s, RP_RG, 18)
    _collection(s, RP_RG, 2, vm=s.neighbour)
    _lock(s, _group_id(s.sub, RP_RG), "rg-no-delete", "CanNotDelete")
    _lock(s, _group_id(s.sub, VM_RG), "app-rg-keep", "CanNotDelete")  # guards none of the VM's points


def _custom_group_n2(s: _Seed) -> None:
    group = f"{CUSTOM_PREFIX}2{CUSTOM_SUFFIX}"
    _collection(s, group, 18)
    _collection(s, group, 2, vm=s.neighbour)
    _lock(s, _group_id(s.sub, group), "keep-backup-rg", "CanNotDelete")


def _orphans(s: _Seed) -> None:
    _collection(s, RP_RG, 5)
    _collection(s, RP_RG, 2, vm=s.neighbour)
    _lock(s, _group_id(s.sub, RP_RG), "rg-no-delete", "CanNotDelete")
    s.estate.sb.compute.delete_vm(s.vm)


LAYOUTS: dict[str, tuple[Callable[[_Seed], None], bool]] = {  # name -> (seed, custom policy)
    "read-only-at-limit": (_read_only(18), False),
    "read-only-below-limit": (_read_only(3), False),
    "old-layout-vm-group": (_old_layout, False),
    "collection-scope-lock": (_collection_lock, False),
    "vm-group-lock-unrelated": (_vm_group_lock_unrelated, False),
    "custom-group-n2": (_custom_group_n2, True),
    "deleted-vm-orphans": (_orphans, False),
}


def build(name: str, sandbox: Sandbox | None = None) -> Layout:
    sb = sandbox or Sandbox()
    seed, custom = LAYOUTS[name]
    with sb.lock:
        s = _seed(sb, custom=custom)
        seed(s)
    run_backups(s.estate, s.items)  # tonight's backups, through the job engine
    item = s.items[0]
    failed = [j for j in sb.backup.jobs_for_vm(item.vm_id) if j.status == "Failed"]
    title = failed[-1].errors[0].error_title if failed and failed[-1].errors else None
    return Layout(sb, s.sub, title)


def locks(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.snapshot()["resources"]["locks"]


def collections_of(sandbox: Sandbox, vm: VmRef) -> dict[str, int]:
    """Collection id -> number of points, for the VM's collections anywhere."""
    return {c.id: len(c.points) for c in sandbox.compute.collections_for_vm(vm.id)}
