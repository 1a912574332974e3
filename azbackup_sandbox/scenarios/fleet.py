"""A generated fleet: N VMs over M subscriptions and V vaults each, with a chosen failure mix.

Generated as an estate document and built through the same loader as every estate file.
Deterministic for a seed. VMs of one subscription and region share the restore-point resource group,
as they do in Azure, so one lock there affects many VMs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..providers.compute.models import BACKUP_PUBLISHER, backup_extension_type
from .catalogue import FAILURE_KINDS, Placement, apply_kind, history
from .export import format_time
from .reader import EstateError
from .schema import LINUX_AGENT, WINDOWS_AGENT, parse_estate

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["build_fleet", "fleet_document", "DEFAULT_MIX", "parse_mix"]

REGIONS = ("eastus", "westeurope", "southeastasia")
ROLES = ("web", "app", "sql", "api", "files", "batch", "jump", "cache")
OS_NAMES = {"Windows": ("Windows Server 2022 Datacenter", "10.0.20348.2527"), "Linux": ("ubuntu", "22.04")}
BACKUP_HANDLER_VERSION = {"VMSnapshot": "1.9", "VMSnapshotLinux": "1.0"}
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


def fleet_document(sandbox: Sandbox, *, vms: int = 300, subscriptions: int = 3, vaults: int = 2,
                   mix: str | dict[str, float] | None = None, history_days: int = 1) -> dict[str, Any]:
    """The fleet as an estate document (docs/estate-files.md), drawn from the sandbox's seeded random source."""
    if vms < 1 or subscriptions < 1 or vaults < 1:
        raise ValueError("vms, subscriptions and vaults must be at least 1")
    weights = parse_mix(mix)
    rng = sandbox.rng
    now = sandbox.clock.now()
    config = sandbox.config
    subs: list[dict[str, Any]] = [
        {"label": f"fleet-{i:02d}", "displayName": f"Fleet subscription {i:02d}", "vms": [], "vaults": []}
        for i in range(subscriptions)
    ]
    slots = []
    for s_index, sub in enumerate(subs):
        for v_index in range(vaults):
            region = REGIONS[(s_index + v_index) % len(REGIONS)]
            vault = {"name": f"rsv-{region}-{v_index:02d}", "resourceGroup": f"rg-backup-{region}", "location": region,
                     "policies": [{"name": "DailyPolicy-VM"}], "protectedItems": []}
            sub["vaults"].append(vault)
            slots.append((sub, vault, region))
    locks: dict[int, dict[tuple[str, str], dict[str, Any]]] = {id(sub): {} for sub in subs}
    kinds = list(weights)
    chosen = rng.choices(kinds, weights=[weights[k] for k in kinds], k=vms)
    for index, kind in enumerate(chosen):
        sub, vault, region = slots[index % len(slots)]
        role = ROLES[index % len(ROLES)]
        os_type = "Linux" if rng.random() < 0.45 else "Windows"
        disk = rng.choice((128, 256, 512, 1024))
        size = rng.choice(SIZES)
        env = rng.choice(("prod", "prod", "test"))
        vm = _vm(f"vm-{role}-{index:05d}", f"rg-{role}-{region}", os_type, region, size, disk, now,
                 {"env": env, "kind": kind})
        sub["vms"].append(vm)
        item: dict[str, Any] = {"vm": {"name": vm["name"], "resourceGroup": vm["resourceGroup"]},
                                "policy": "DailyPolicy-VM", "runBackups": 1}
        history(item, now, rng, days=history_days, snapshot_seconds=config.backup_snapshot_seconds,
                transfer_seconds=config.backup_transfer_seconds)
        vault["protectedItems"].append(item)
        apply_kind(kind, Placement(sub, vault, vm, item, now, rng, locks[id(sub)]))
    for sub in subs:
        sub["locks"] = list(locks[id(sub)].values())
    return {"now": format_time(now), "subscriptions": subs}


def _vm(name: str, group: str, os_type: str, region: str, size: str, disk_gb: int, now: datetime,
        tags: dict[str, str]) -> dict[str, Any]:
    os_name, os_version = OS_NAMES[os_type]
    monitor = ({"name": "BGInfo", "publisher": "Microsoft.Compute", "type": "BGInfo", "typeHandlerVersion": "2.2"}
               if os_type == "Windows" else
               {"name": "AzureMonitorLinuxAgent", "publisher": "Microsoft.Azure.Monitor",
                "type": "AzureMonitorLinuxAgent", "typeHandlerVersion": "1.33"})
    snapshot = backup_extension_type(os_type)
    return {
        "name": name, "resourceGroup": group, "location": region, "osType": os_type, "vmSize": size,
        "osName": os_name, "osVersion": os_version, "timeCreated": format_time(now - timedelta(days=200)),
        "tags": tags, "vmAgent": {"vmAgentVersion": WINDOWS_AGENT if os_type == "Windows" else LINUX_AGENT},
        "dataDisks": [{"lun": 0, "diskSizeGB": disk_gb}],
        "extensions": [
            {**monitor, "statusMessage": "Plugin enabled"},
            # The service's extension: the builder fills in its settings as the job engine writes them.
            {"name": snapshot, "publisher": BACKUP_PUBLISHER, "type": snapshot,
             "typeHandlerVersion": BACKUP_HANDLER_VERSION[snapshot], "statusMessage": "Plugin enabled"},
        ],
    }


def build_fleet(sandbox: Sandbox, **params: Any) -> None:
    """Generate the fleet document, then build it the way every estate file is built."""
    from .builder import build_estate

    try:
        spec = parse_estate(fleet_document(sandbox, **params))
    except EstateError as exc:  # a generator bug, not the caller's: say where
        raise RuntimeError(f"the generated fleet is not a valid estate: {exc}") from exc
    build_estate(sandbox, spec)
