"""Small estates: one broken VM of a catalogue row beside a healthy neighbour that shares its vault and
restore-point resource group (so a fix that touches the neighbour is caught), and the demo estate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .catalogue import Placement, apply_kind, run_backups, seed_history
from .estate import Estate, VmSpec

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["build_single", "build_demo", "SINGLE_SCENARIOS", "DEMO_KINDS"]

# scenario name -> (failure kind, OS of the broken VM)
SINGLE_SCENARIOS: dict[str, tuple[str, str]] = {
    "healthy": ("healthy", "Windows"),
    "rp-limit-locked": ("rp-limit-locked", "Windows"),
    "rp-limit-custom-rg": ("rp-limit-custom-rg", "Linux"),
    "failed-vmsnapshot-windows": ("failed-vmsnapshot", "Windows"),
    "failed-vmsnapshot-linux": ("failed-vmsnapshot", "Linux"),
    "agent-not-ready": ("agent-not-ready", "Windows"),
    "vm-deallocated": ("vm-deallocated", "Linux"),
    "backup-in-progress": ("backup-in-progress", "Windows"),
    "protection-stopped": ("protection-stopped", "Windows"),
    "disk-too-large": ("disk-too-large", "Linux"),
    "vm-deleted": ("vm-deleted", "Windows"),
}

DEMO_KINDS = ("rp-limit-locked", "failed-vmsnapshot", "agent-not-ready", "backup-in-progress", "healthy")

SUBSCRIPTION_LABEL = "contoso-prod"


def _place(estate: Estate, sub: str, vault_name: str, name: str, os_type: str, kind: str) -> Placement:
    # The estate's one vault and policy, created with its first VM.
    vault = next(iter(estate.sb.backup.list_vaults(sub)), None) or estate.vault(sub, vault_name, "rg-backup-prod")
    policy = next(iter(estate.sb.backup.policies_of(vault)), None) or estate.policy(vault, "DailyPolicy-VM")
    vm = estate.vm(sub, VmSpec(name, "rg-app-prod", os_type, data_disks_gb=(512,), tags={"env": "prod"}))
    item = estate.protect(vm, vault, policy)
    seed_history(estate, item)
    placement = Placement(estate, vm, vault, policy, item)
    apply_kind(kind, placement)
    return placement


def build_single(sandbox: Sandbox, *, scenario: str) -> None:
    kind, os_type = SINGLE_SCENARIOS[scenario]
    estate = Estate(sandbox)
    sub = estate.subscription(SUBSCRIPTION_LABEL, "Contoso Production")
    broken = _place(estate, sub, "rsv-prod-eastus", "vm-app-01", os_type, kind)
    neighbour = _place(estate, sub, "rsv-prod-eastus", "vm-app-02", "Windows", "healthy")
    run_backups(estate, [broken.item, neighbour.item])


def build_demo(sandbox: Sandbox) -> None:
    estate = Estate(sandbox)
    sub = estate.subscription(SUBSCRIPTION_LABEL, "Contoso Production")
    names = {"rp-limit-locked": "vm-sql-01", "failed-vmsnapshot": "vm-web-01", "agent-not-ready": "vm-api-01",
             "backup-in-progress": "vm-files-01", "healthy": "vm-dc-01"}
    placements = [_place(estate, sub, "rsv-prod-eastus", names[kind], "Windows", kind) for kind in DEMO_KINDS]
    run_backups(estate, [p.item for p in placements])
