"""Subscriptions and resource groups: the containers every other provider's resources live in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["Subscription", "ResourceGroup", "ResourceBackend", "DEFAULT_TENANT_ID", "TENANT_DISPLAY_NAME",
           "TENANT_DEFAULT_DOMAIN", "tenant_to_arm"]

# The directory every subscription belongs to unless a scenario says otherwise; the `tid` of the
# managed identity's tokens and the one entry of `GET /tenants`.
DEFAULT_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_DISPLAY_NAME = "Sandbox Directory"
TENANT_DEFAULT_DOMAIN = "sandbox.onmicrosoft.com"


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    tenant_id: str
    state: str = "Enabled"

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def to_arm(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": self.subscription_id,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "state": self.state,
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "Internal_2014-09-01",
                                     "spendingLimit": "Off"},
        }


@dataclass
class ResourceGroup:
    subscription_id: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}"

    def to_arm(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "properties": {"provisioningState": "Succeeded"},
        }
        if self.tags:
            body["tags"] = dict(self.tags)
        if self.managed_by:
            body["managedBy"] = self.managed_by
        return body


def tenant_to_arm(tenant_id: str) -> dict[str, Any]:
    # 2020-01-01 and later: category, country, display name and domains (2016-06-01 had id/tenantId only).
    return {
        "id": f"/tenants/{tenant_id}",
        "tenantId": tenant_id,
        "countryCode": "US",
        "displayName": TENANT_DISPLAY_NAME,
        "domains": [TENANT_DEFAULT_DOMAIN],
        "tenantCategory": "Home",
        "defaultDomain": TENANT_DEFAULT_DOMAIN,
        "tenantType": "AAD",
    }


class ResourceBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.subscriptions: dict[str, Subscription] = {}
        self.groups: dict[tuple[str, str], ResourceGroup] = {}
        self.expired_tokens: set[str] = set()

    def add_subscription(self, subscription_id: str, display_name: str = "", tenant_id: str = "") -> Subscription:
        sub = Subscription(
            subscription_id,
            display_name or f"Sandbox subscription {subscription_id[:8]}",
            tenant_id or DEFAULT_TENANT_ID,
        )
        self.subscriptions[subscription_id.lower()] = sub
        return sub

    def tenant_ids(self) -> list[str]:
        """The directories of the estate's subscriptions (the default one for an empty estate)."""
        found = sorted({s.tenant_id for s in self.subscriptions.values()}, key=lambda t: t != DEFAULT_TENANT_ID)
        return found or [DEFAULT_TENANT_ID]

    def home_tenant_id(self) -> str:
        """The directory the sandbox's identities live in: their tokens' `tid`."""
        return self.tenant_ids()[0]

    def require_subscription(self, subscription_id: str) -> Subscription:
        try:
            return self.subscriptions[subscription_id.lower()]
        except KeyError:
            raise errors.subscription_not_found(subscription_id) from None

    def add_group(self, subscription_id: str, name: str, location: str, **tags: str) -> ResourceGroup:
        self.require_subscription(subscription_id)
        key = (subscription_id.lower(), name.lower())
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = ResourceGroup(subscription_id, name, location, dict(tags))
        return group

    def find_group(self, subscription_id: str, name: str) -> ResourceGroup | None:
        return self.groups.get((subscription_id.lower(), name.lower()))

    def require_group(self, subscription_id: str, name: str) -> ResourceGroup:
        group = self.find_group(subscription_id, name)
        if group is None:
            raise errors.resource_group_not_found(name)
        return group

    def groups_of(self, subscription_id: str) -> list[ResourceGroup]:
        sub = subscription_id.lower()
        return [g for (s, _), g in self.groups.items() if s == sub]

    def put_group(self, subscription_id: str, name: str, location: str | None,
                  tags: dict[str, str] | None) -> tuple[ResourceGroup, bool]:
        """Create or update a group (PUT replaces its tags): (group, created)."""
        if not location:
            raise errors.location_required()
        # Azure Policy before the write: Modify adds tags, Deny refuses the group.
        tags, denied = self._sb.policy.group_write(subscription_id, name, dict(tags or {}))
        if denied:
            from ..policy.errors import request_disallowed_by_policy

            raise request_disallowed_by_policy(f"/subscriptions/{subscription_id}/resourceGroups/{name}", denied)
        existed = self.find_group(subscription_id, name) is not None
        group = self.add_group(subscription_id, name, location)
        group.tags = tags
        return group, not existed

    def generic_resources(self, subscription_id: str, resource_group: str | None) -> list[dict[str, Any]]:
        """Every resource of the subscription (or group) as the generic resource listing shows it."""
        out: list[dict[str, Any]] = []
        for backend in (self._sb.compute, self._sb.backup):
            out.extend(backend.generic_resources(subscription_id, resource_group))
        return sorted(out, key=lambda r: r["id"].lower())

    def delete_group(self, subscription_id: str, name: str) -> None:
        if self.generic_resources(subscription_id, name):
            raise errors.group_not_empty(name)
        self.groups.pop((subscription_id.lower(), name.lower()), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscriptions": [
                {"subscriptionId": s.subscription_id, "displayName": s.display_name, "state": s.state}
                for s in sorted(self.subscriptions.values(), key=lambda s: s.subscription_id)
            ],
            "resourceGroups": [
                {"id": g.id, "location": g.location, "tags": dict(sorted(g.tags.items()))}
                for g in sorted(self.groups.values(), key=lambda g: g.id.lower())
            ],
        }
