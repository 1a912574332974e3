"""Azure Policy assignments that govern resource-group tags, and the compliance Policy Insights reports.

One rule family, the one guide 001's UserErrorRequestDisallowedByPolicy is about ("an Azure Policy that
governs tags within your environment"): resource groups must carry a tag. With effect Deny, ARM refuses
a group without it (403 RequestDisallowedByPolicy), including the restore-point group the backup
service creates; with Modify, ARM adds the tag and lets the write through; with Audit it only reports.
Policy Insights' `policyStates` evaluates every assignment against the groups that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["EFFECTS", "GROUP_TYPE", "PolicyAssignment", "PolicyBackend"]

EFFECTS = ("Deny", "Modify", "Audit")
GROUP_TYPE = "Microsoft.Resources/subscriptions/resourceGroups"


@dataclass
class PolicyAssignment:
    subscription_id: str
    name: str
    display_name: str
    definition_name: str
    definition_display_name: str
    effect: str
    tag: str
    tag_value: str = ""
    scope: str = ""  # "" (the subscription) or resourceGroups/NAME

    @property
    def scope_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}" + (f"/{self.scope}" if self.scope else "")

    @property
    def id(self) -> str:
        return f"{self.scope_id}/providers/Microsoft.Authorization/policyAssignments/{self.name}"

    @property
    def definition_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/policyDefinitions/" \
               f"{self.definition_name}"

    def covers(self, group_id: str) -> bool:
        scope, target = self.scope_id.lower(), group_id.lower()
        return target == scope or target.startswith(scope + "/")

    def compliant(self, tags: dict[str, str]) -> bool:
        return any(k.lower() == self.tag.lower() for k in tags)

    def violation_info(self) -> dict[str, Any]:
        return {"policyAssignmentId": self.id, "policyAssignmentName": self.name,
                "policyAssignmentDisplayName": self.display_name, "policyDefinitionId": self.definition_id,
                "policyDefinitionName": self.definition_name,
                "policyDefinitionDisplayName": self.definition_display_name,
                "policyDefinitionEffect": self.effect.lower()}

    def to_arm(self) -> dict[str, Any]:
        return {"id": self.id, "type": "Microsoft.Authorization/policyAssignments", "name": self.name,
                "properties": {"displayName": self.display_name, "scope": self.scope_id,
                               "policyDefinitionId": self.definition_id, "enforcementMode": "Default",
                               "parameters": {"tagName": {"value": self.tag}}}}


class PolicyBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.assignments: dict[tuple[str, str], PolicyAssignment] = {}

    def add(self, assignment: PolicyAssignment) -> PolicyAssignment:
        self.assignments[(assignment.scope_id.lower(), assignment.name.lower())] = assignment
        return assignment

    def for_subscription(self, subscription_id: str) -> list[PolicyAssignment]:
        sub = subscription_id.lower()
        return sorted((a for a in self.assignments.values() if a.subscription_id.lower() == sub),
                      key=lambda a: a.id.lower())

    def group_write(self, subscription_id: str, name: str, tags: dict[str, str]) -> tuple[dict[str, str], list[PolicyAssignment]]:
        """What ARM makes of a resource-group write: the tags after Modify assignments, and the Deny
        assignments that refuse it (empty: allowed)."""
        group_id = f"/subscriptions/{subscription_id}/resourceGroups/{name}"
        tags = dict(tags)
        covering = [a for a in self.for_subscription(subscription_id) if a.covers(group_id)]
        for a in covering:
            if a.effect == "Modify" and not a.compliant(tags):
                tags[a.tag] = a.tag_value
        return tags, [a for a in covering if a.effect == "Deny" and not a.compliant(tags)]

    def states(self, subscription_id: str) -> list[dict[str, Any]]:
        """`policyStates/latest`: one record per assignment and resource group it covers."""
        now = self._sb.clock.now()
        records = []
        groups = [g for g in self._sb.resources.groups.values() if g.subscription_id.lower() == subscription_id.lower()]
        for a in self.for_subscription(subscription_id):
            for g in sorted(groups, key=lambda g: g.name.lower()):
                gid = f"/subscriptions/{g.subscription_id}/resourcegroups/{g.name}"
                if not a.covers(gid):
                    continue
                records.append({
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "resourceId": gid,
                    "resourceType": GROUP_TYPE, "resourceGroup": g.name, "resourceLocation": g.location,
                    "subscriptionId": g.subscription_id, "isCompliant": a.compliant(g.tags),
                    "complianceState": "Compliant" if a.compliant(g.tags) else "NonCompliant",
                    "policyAssignmentId": a.id, "policyAssignmentName": a.name,
                    "policyAssignmentScope": a.scope_id, "policyDefinitionId": a.definition_id,
                    "policyDefinitionName": a.definition_name, "policyDefinitionAction": a.effect.lower(),
                    "policyDefinitionCategory": "Tags",
                })
        return records

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"id": a.id, "effect": a.effect, "tag": a.tag} for a in sorted(self.assignments.values(),
                                                                              key=lambda a: a.id.lower())]
