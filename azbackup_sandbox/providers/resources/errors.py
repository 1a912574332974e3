"""Every ARM error Microsoft.Resources (subscriptions, resource groups, generic resources) raises in the
sandbox, one factory per code. A missing group is the ARM gateway's own answer (`core.errors`), which the
pipeline also gives for routes whose group must exist."""

from __future__ import annotations

from ...core.errors import ArmError, bad_request, resource_group_not_found

__all__ = [
    "group_not_empty",
    "invalid_resource_filter",
    "location_required",
    "resource_group_not_found",
    "subscription_not_found",
]


def subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def location_required() -> ArmError:
    return bad_request("The 'location' property is required.", "LocationRequired")


def invalid_resource_filter(text: str) -> ArmError:
    return bad_request(f"The $filter '{text}' is not supported by the sandbox (only resourceType eq '...').",
                       "InvalidFilterInQueryString")


def group_not_empty(name: str) -> ArmError:
    # ARM deletes a group with everything in it; the sandbox refuses rather than cascade across providers.
    return ArmError(409, "ResourceGroupNotEmpty",
                    f"The sandbox deletes only empty resource groups; '{name}' still holds resources.")
