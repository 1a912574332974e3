"""allow-storage-outbound: guide 002's Azure-side fix for a VM that cannot reach the region's storage, one
NSG rule behind the ``allow_network_changes`` rail. Routes, DNS and the guest side are reported by the
diagnosis (checks/network.py), never changed here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..checks.network_path import allow_rule_name, allow_rule_properties, evaluate_path, free_priority
from ..models import VmObservation
from ..models.rails import NETWORK
from ..steps import AddStorageAllowRule, RemoveStorageAllowRule, Step, TriggerBackup
from .base import Plan, Playbook
from .common import TRIGGER_OPTIONS, trigger_step
from .registry import register

__all__ = ["AllowStorageOutbound"]

# Reads the diagnosis made (the NIC, the effective rules and routes, the service tag, Network Watcher).
READ_ACTIONS = (
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
    "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/locations/serviceTags/read",
    "Microsoft.Network/networkWatchers/read",
    "Microsoft.Network/networkWatchers/ipFlowVerify/action",
    "Microsoft.Network/networkWatchers/nextHop/action",
    "Microsoft.Network/locations/operationResults/read",
)


@register
class AllowStorageOutbound(Playbook):
    id = "allow-storage-outbound"
    title = "Allow outbound HTTPS to the region's storage in the NSG that denies it"
    error_codes = ("StorageOutboundDenied", "ExtensionSnapshotFailedNoNetwork")
    # The rule's removal (`azbackup-fix remove-network-rules`) belongs to it too.
    actions = tuple(dict.fromkeys((*READ_ACTIONS, *AddStorageAllowRule.actions, *RemoveStorageAllowRule.actions,
                                   *TriggerBackup.actions)))
    rail = NETWORK
    options = MappingProxyType({**TRIGGER_OPTIONS})

    @classmethod
    def plan(cls, observation: VmObservation, options: Mapping[str, Any] | None = None) -> Plan:
        opts = cls.resolve(options)
        obs = observation
        target = obs.vm_ref.id
        path = obs.network
        if obs.vm is None or path is None:
            return Plan(cls.id, target, notes=("the network path was not read (the failure does not point at it)",))
        if not path.readable:
            return Plan(cls.id, target, notes=(f"the network path is not visible: {path.detail}",))
        verdict = evaluate_path(path)
        if verdict.open:
            return Plan(cls.id, target, notes=(f"outbound HTTPS to {path.storage_tag} is open; no NSG change",))
        if not verdict.cut_by_rule:
            return Plan(cls.id, target, notes=("the path is cut by a route, not an NSG rule: reported, not changed",))
        nsg, rule, nic = verdict.nsg, verdict.rule, path.nic
        assert nsg is not None and rule is not None
        if nic is None or not nic.private_ip:
            return Plan(cls.id, target, refusals=("the NIC has no private address to allow",))
        name = allow_rule_name(nic.name)
        if any(r.short_name.casefold() == name.casefold() for r in nsg.rules):
            return Plan(cls.id, target, refusals=(
                f"NSG {nsg.name} already has a rule '{name}' and the path is still denied by {rule.short_name}: "
                "not overwritten; see `azbackup-fix remove-network-rules`",))
        priority = free_priority(nsg, rule.priority)
        if priority is None:
            return Plan(cls.id, target, refusals=(
                f"no free priority ahead of {rule.short_name} ({rule.priority}) in NSG {nsg.name}",))
        steps: list[Step] = [AddStorageAllowRule(
            nsg.nsg_id, name, allow_rule_properties(nic.private_ip, path.storage_tag, priority), nic.id,
            f"{rule.short_name} ({rule.priority})")]
        trigger = trigger_step(obs, opts)
        if trigger is not None:
            steps.append(trigger)
        return Plan(cls.id, target, steps=tuple(steps))
