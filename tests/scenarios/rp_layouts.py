"""Restore-point layouts the troubleshooting guides describe (issue 11), as the shipped estate files
``azbackup_sandbox/estates/rp-*.yaml``: the job history is not invented, tonight's backups run through
the sandbox's job engine when the estate loads (``runBackups``), so each failed job carries the
errorTitle its state yields.

Each layout: one broken VM ``vm-app-01`` and a healthy neighbour ``vm-app-02`` sharing its vault,
policy and restore-point group (a fix that touches the neighbour is caught).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azbackup_fix.ids import VmRef
from azbackup_sandbox import Sandbox

__all__ = ["LAYOUTS", "NOTES", "OWNERS", "RP_RG", "VM_RG", "Layout", "build", "locks", "collections_of"]

VM_RG = "rg-app-prod"
RP_RG = "AzureBackupRG_eastus_1"
NOTES = "Protect production resources from accidental deletion. Owner: platform team."
OWNERS = [{"applicationId": "3f1c2f0e-7a4b-4c55-9d1e-8b2a6c0d4e11"}]

# layout -> the shipped estate that holds it
LAYOUTS: dict[str, str] = {
    "read-only-at-limit": "rp-readonly-at-limit",
    "read-only-below-limit": "rp-readonly-below-limit",
    "old-layout-vm-group": "rp-old-layout-vm-group",
    "collection-scope-lock": "rp-collection-scope-lock",
    "vm-group-lock-unrelated": "rp-vm-group-lock-unrelated",
    "custom-group-n2": "rp-custom-group-n2",
    "deleted-vm-orphans": "rp-deleted-vm-orphans",
}


@dataclass
class Layout:
    sandbox: Sandbox
    subscription: str
    failed_title: str | None  # the errorTitle tonight's backup failed with

    def vm(self, name: str = "vm-app-01") -> VmRef:
        return VmRef(self.subscription, VM_RG, name)


def build(name: str, sandbox: Sandbox | None = None) -> Layout:
    sb = sandbox or Sandbox()
    sb.load(LAYOUTS[name])
    sub = sb.subscription_ids[0]
    vm_id = VmRef(sub, VM_RG, "vm-app-01").id
    failed = [j for j in sb.backup.jobs_for_vm(vm_id) if j.status == "Failed"]
    title = failed[-1].errors[0].error_title if failed and failed[-1].errors else None
    return Layout(sb, sub, title)


def locks(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.snapshot()["resources"]["locks"]


def collections_of(sandbox: Sandbox, vm: VmRef) -> dict[str, int]:
    """Collection id -> number of points, for the VM's collections anywhere."""
    return {c.id: len(c.points) for c in sandbox.compute.collections_for_vm(vm.id)}
