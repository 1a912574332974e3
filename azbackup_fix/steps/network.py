"""AddStorageAllowRule: one outbound Allow rule (TCP 443 from the NIC's address to Storage.<region>) in the
NSG that denies it; journaled (rule id and body) before it is written. RemoveStorageAllowRule takes it
out again (``azbackup-fix remove-network-rules``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import GuardRailError
from ..models.rails import NETWORK
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["NSG_RULE_ADDED", "NSG_RULE_REMOVED", "AddStorageAllowRule", "RemoveStorageAllowRule", "rule_detail"]

NSG_RULE_ADDED = "nsg-rule-added"  # journal action: the rule's full id, and its body in detail
NSG_RULE_REMOVED = "nsg-rule-removed"


JOURNALED = ("access", "destinationAddressPrefix", "destinationPortRange", "direction", "priority", "protocol",
             "sourceAddressPrefix", "sourcePortRange")


def rule_detail(properties: dict[str, object], nic_id: str) -> str:
    """What the journal keeps beside the rule's full id (its target): the body that identifies the rule
    when it is removed, and the NIC it is for. Compact: the journal keeps one bounded line."""
    body = {k: properties[k] for k in JOURNALED if k in properties}
    return json.dumps({"nic": nic_id.rstrip("/").rsplit("/", 1)[-1], "properties": body}, sort_keys=True,
                      separators=(",", ":"))


_RULE = "Microsoft.Network/networkSecurityGroups/securityRules/"
_POLL = "Microsoft.Network/locations/operations/read"  # the Network RP's operation status


@dataclass(frozen=True)
class _RuleStep(Step):
    """A change to one rule of one NSG, behind the network rail."""

    nsg_id: str
    name: str

    rail = NETWORK

    @property
    def target(self) -> str:
        return f"{self.nsg_id}/securityRules/{self.name}"

    @property
    def nsg_name(self) -> str:
        return self.nsg_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class AddStorageAllowRule(_RuleStep):
    properties: dict[str, object] = field(default_factory=dict, hash=False, compare=True)
    nic_id: str = ""
    denying_rule: str = ""

    kind = "add-nsg-rule"
    actions = (_RULE + "write", _RULE + "read", _POLL)

    def describe(self) -> str:
        p = self.properties
        return (f"add outbound rule '{self.name}' to NSG {self.nsg_name}: Allow {p['protocol']} {p['destinationPortRange']} "
                f"from {p['sourceAddressPrefix']} to {p['destinationAddressPrefix']} at priority {p['priority']}"
                + (f", ahead of {self.denying_rule}" if self.denying_rule else ""))

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        p = self.properties
        return (("nsg", self.nsg_id), ("rule", self.name), ("priority", int(p["priority"])),  # type: ignore[call-overload]
                ("source", str(p["sourceAddressPrefix"])), ("destination", str(p["destinationAddressPrefix"])),
                ("port", str(p["destinationPortRange"])), ("ahead_of", self.denying_rule or None))

    def run(self, ctx: StepContext) -> StepOutcome:
        if ctx.journal is None or ctx.run_id is None:
            raise GuardRailError(f"rule '{self.name}' not added: no journal to record it in")
        # Durable BEFORE the PUT: a run killed after it still leaves the rule findable for removal.
        ctx.journal.record_change(ctx.run_id, action=NSG_RULE_ADDED, target=self.target,
                                  detail=rule_detail(dict(self.properties), self.nic_id))
        rule_id = ctx.gateway.put_security_rule(self.nsg_id, self.name, dict(self.properties))
        return self.outcome(StepStatus.CHANGED, detail=(("rule_id", rule_id),))


@dataclass(frozen=True)
class RemoveStorageAllowRule(_RuleStep):
    kind = "remove-nsg-rule"
    actions = (_RULE + "delete", _RULE + "read", _POLL)

    def describe(self) -> str:
        return f"remove outbound rule '{self.name}' from NSG {self.nsg_name}"

    def run(self, ctx: StepContext) -> StepOutcome:
        if ctx.journal is not None and ctx.run_id is not None:
            ctx.journal.record_change(ctx.run_id, action=NSG_RULE_REMOVED, target=self.target,
                                      detail='{"removed":true}')
        ctx.gateway.delete_security_rule(self.nsg_id, self.name)
        return self.outcome(StepStatus.CHANGED)
