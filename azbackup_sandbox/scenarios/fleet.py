"""A generated fleet: N VMs over M subscriptions and V vaults each, with a chosen failure mix.

Deterministic for a seed. VMs of one subscription and region share the restore-point resource group,
as they do in Azure, so one lock there affects many VMs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .catalogue import FAILURE_KINDS, Placement, apply_kind, run_backups, seed_history
from .estate import Estate, VmSpec

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["build_fleet", "DEFAULT_MIX", "parse_mix"]

REGIONS = ("eastus", "westeurope", "southeastasia")
ROLES = ("web", "app", "sql", "api", "files", "batch", "jump", "cache")
SIZES = ("Standard_D2s_v3", "Standard_D4s_v5", "Standard_E4s_v5", "Standard_B2ms", "Standard_F4s_v2")

# A realistic mix: most VMs are fine; the failures follow how often the guides' causes occur.
DEFAULT_MIX: dict[str, float] = {
    "healthy": 0.86,
    "rp-limit-locked": 0.03,
    "failed-vmsnapshot": 0.03,
    "agent-not-ready": 0.03,
    "vm-deallocated": 0.01,
    "backup-in-progress": 0.015,
    "protection-stopped": 0.005,
    "disk-too-large": 0.003,
    "vm-deleted": 0.004,
    "rp-limit-custom-rg": 0.003,
}


def parse_mix(text: str | dict[str, float] | None) -> dict[str, float]:
    """`kind=weight,kind=weight` (weights are relative) or a dict; unknown kinds are an error."""
    if text is None or text == "":
        return dict(DEFAULT_MIX)
    pairs = text.items() if isinstance(text, dict) else (p.split("=", 1) for p in str(text).split(","))
    mix: dict[str, float] = {}
    for kind, weight in pairs:
        kind = kind.strip()
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind '{kind}'; known: {', '.join(FAILURE_KINDS)}")
        mix[kind] = float(weight)
    if sum(mix.values()) <= 0:
        raise ValueError("the failure mix needs a positive weight")
    return mix


def build_fleet(sandbox: Sandbox, *, vms: int = 300, subscriptions: int = 3, vaults: int = 2,
                mix: str | dict[str, float] | None = None, history_days: int = 1) -> None:
    if vms < 1 or subscriptions < 1 or vaults < 1:
        raise ValueError("vms, subscriptions and vaults must be at least 1")
    weights = parse_mix(mix)
    estate = Estate(sandbox)
    rng = sandbox.rng
    subs = [estate.subscription(f"fleet-{i:02d}", f"Fleet subscription {i:02d}") for i in range(subscriptions)]
    vault_list = []
    for s_index, sub in enumerate(subs):
        for v_index in range(vaults):
            region = REGIONS[(s_index + v_index) % len(REGIONS)]
            vault = estate.vault(sub, f"rsv-{region}-{v_index:02d}", f"rg-backup-{region}", region)
            policy = estate.policy(vault, "DailyPolicy-VM")
            vault_list.append((sub, vault, policy, region))
    kinds = list(weights)
    chosen = rng.choices(kinds, weights=[weights[k] for k in kinds], k=vms)
    items = []
    for index, kind in enumerate(chosen):
        sub, vault, policy, region = vault_list[index % len(vault_list)]
        role = ROLES[index % len(ROLES)]
        os_type = "Linux" if rng.random() < 0.45 else "Windows"
        disks = (rng.choice((128, 256, 512, 1024)),)
        spec = VmSpec(f"vm-{role}-{index:05d}", f"rg-{role}-{region}", os_type, region, rng.choice(SIZES),
                      disks, tags={"env": rng.choice(("prod", "prod", "test")), "kind": kind})
        vm = estate.vm(sub, spec)
        item = estate.protect(vm, vault, policy)
        seed_history(estate, item, history_days)
        apply_kind(kind, Placement(estate, vm, vault, policy, item))
        items.append(item)
    run_backups(estate, items)
