"""Azure Policy compliance records (Policy Insights ``policyStates``) as the checks read them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PolicyState"]


@dataclass(frozen=True, slots=True)
class PolicyState:
    """One assignment's verdict on one resource (``policyStates/latest``)."""

    assignment_id: str
    assignment_name: str | None
    assignment_scope: str | None
    definition_id: str | None
    definition_name: str | None
    effect: str | None  # policyDefinitionAction: deny, modify, audit, ...
    compliance_state: str | None  # Compliant, NonCompliant
    resource_id: str | None
    resource_type: str | None

    @property
    def denies(self) -> bool:
        return (self.effect or "").casefold() == "deny"

    @property
    def resource_name(self) -> str | None:
        return self.resource_id.rstrip("/").rsplit("/", 1)[-1] if self.resource_id else None
