"""Errors of Azure Policy as ARM and Policy Insights return them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.errors import ArmError

if TYPE_CHECKING:
    from .models import PolicyAssignment

__all__ = ["invalid_filter", "request_disallowed_by_policy"]


def request_disallowed_by_policy(resource: str, assignments: list[PolicyAssignment]) -> ArmError:
    """ARM's refusal of a write a Deny assignment forbids: 403 RequestDisallowedByPolicy, the assignments
    named in the message and in `additionalInfo` of type PolicyViolation (ARM_SEMANTICS: error envelope)."""
    names = ", ".join(f"'{a.display_name}'" for a in assignments)
    return ArmError(
        403, "RequestDisallowedByPolicy",
        f"Resource '{resource.rsplit('/', 1)[-1]}' was disallowed by policy. Policy identifiers: "
        + ", ".join(f'[{{"policyAssignment":{{"name":"{a.display_name}","id":"{a.id}"}},'
                    f'"policyDefinition":{{"name":"{a.definition_display_name}","id":"{a.definition_id}"}}}}]'
                    for a in assignments) + ".",
        details=[{"code": "PolicyViolation", "target": resource,
                  "message": f"disallowed by {names}",
                  "additionalInfo": [{"type": "PolicyViolation", "info": a.violation_info()} for a in assignments]}],
        target=resource,
    )


def invalid_filter(text: str) -> ArmError:
    return ArmError(400, "InvalidFilterInQueryString",
                    f"The $filter '{text}' is not supported: use field eq 'value' clauses joined by 'and'.")
