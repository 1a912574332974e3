"""Microsoft Graph's directory, as far as the backup fixes need it: service principals per tenant.

Every tenant holds the first-party "Backup Management Service" principal (app id
262044b1-e2ce-469f-a196-69ab7ada62d3); its object id differs per tenant, as in Entra ID, which is
why clients must look it up instead of hard-coding it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["BACKUP_MANAGEMENT_APP_ID", "MICROSOFT_TENANT", "ServicePrincipal", "backup_service_object_id",
           "service_principals"]

BACKUP_MANAGEMENT_APP_ID = "262044b1-e2ce-469f-a196-69ab7ada62d3"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # appOwnerOrganizationId of first-party apps
_FIRST_PARTY = ((BACKUP_MANAGEMENT_APP_ID, "Backup Management Service"),)


@dataclass(frozen=True)
class ServicePrincipal:
    object_id: str
    app_id: str
    display_name: str

    def to_graph(self) -> dict[str, Any]:
        return {
            "id": self.object_id, "appId": self.app_id, "displayName": self.display_name,
            "accountEnabled": True, "appOwnerOrganizationId": MICROSOFT_TENANT,
            "servicePrincipalNames": [self.app_id], "servicePrincipalType": "Application",
            "signInAudience": "AzureADMultipleOrgs", "tags": [],
        }


def _object_id(tenant_id: str, app_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"azbackup-sandbox/graph/{tenant_id.lower()}/{app_id.lower()}"))


def backup_service_object_id(tenant_id: str) -> str:
    """The object id of the Backup Management Service principal in a tenant."""
    return _object_id(tenant_id, BACKUP_MANAGEMENT_APP_ID)


def service_principals(tenant_id: str) -> list[ServicePrincipal]:
    return [ServicePrincipal(_object_id(tenant_id, app), app, name) for app, name in _FIRST_PARTY]
