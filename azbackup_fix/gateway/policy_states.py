"""Policy Insights' ``policyStates`` query, through the resources client's pipeline (no extra SDK
package: one POST; azure-mgmt-policyinsights would add a dependency every user pays for)."""

from __future__ import annotations

from typing import Any

from azure.core.rest import HttpRequest

from ..models.policy import PolicyState
from .arm_errors import arm_call

__all__ = ["POLICY_STATES_API_VERSION", "GROUP_TYPE", "deny_states_for_groups"]

POLICY_STATES_API_VERSION = "2019-10-01"
GROUP_TYPE = "Microsoft.Resources/subscriptions/resourceGroups"
_FILTER = f"policyDefinitionAction eq 'deny' and resourceType eq '{GROUP_TYPE}'"


def _state(record: dict[str, Any]) -> PolicyState:
    return PolicyState(
        assignment_id=str(record.get("policyAssignmentId") or ""),
        assignment_name=record.get("policyAssignmentName"),
        assignment_scope=record.get("policyAssignmentScope"),
        definition_id=record.get("policyDefinitionId"),
        definition_name=record.get("policyDefinitionName"),
        effect=record.get("policyDefinitionAction"),
        compliance_state=record.get("complianceState"),
        resource_id=record.get("resourceId"),
        resource_type=record.get("resourceType"),
    )


def deny_states_for_groups(client: Any, subscription_id: str) -> tuple[PolicyState, ...]:
    """Every Deny assignment's verdict on the subscription's resource groups (``$filter`` server-side),
    following ``@odata.nextLink``."""
    path = (f"/subscriptions/{subscription_id}/providers/Microsoft.PolicyInsights/policyStates/latest/"
            "queryResults")
    request: HttpRequest | None = HttpRequest(
        "POST", path, params={"api-version": POLICY_STATES_API_VERSION, "$filter": _FILTER})
    states: list[PolicyState] = []
    with arm_call(f"policy states of subscription {subscription_id}"):
        while request is not None:
            response = client.send_request(request)
            response.raise_for_status()
            page = response.json()
            states += [_state(r) for r in page.get("value") or []]
            link = page.get("@odata.nextLink")
            request = HttpRequest("POST", link) if link else None
    return tuple(states)
