"""Key Vault access of encrypted VMs: managed disks' ADE settings, Key Vault vaults, role assignments and
the Backup Management Service principal's object id in Microsoft Graph, read and granted.

The Key Vault and Authorization clients come from the optional ``keyvault`` extra
(``pip install 'azbackup-fix[keyvault]'``: azure-mgmt-keyvault, azure-mgmt-authorization); without it
:class:`KeyVaultExtraMissing` says what to install. Graph is called through azure-core with the
gateway's own credential for the Graph audience (no msgraph SDK); a principal that may not read
service principals can pass the object id instead."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from azure.core import PipelineClient
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy
from azure.core.rest import HttpRequest

from ..errors import AzBackupFixError, NotFoundError, PermissionDeniedError
from ..models.keyvault import (
    BACKUP_MANAGEMENT_APP_ID,
    AccessPolicyEntry,
    EncryptionKey,
    KeyVaultState,
    Permission,
    RoleGrant,
)
from ..sdk_imports import SDK_IMPORT_LOCK
from .arm_errors import arm_call
from .convert_compute import disk_keys
from .policies import CappedRetryPolicy
from .wire import dig

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["GRAPH_ENDPOINTS", "KEYVAULT_EXTRA", "KeyVaultExtraMissing", "KeyVaultGateway"]

KEYVAULT_EXTRA = "pip install 'azbackup-fix[keyvault]' (azure-mgmt-keyvault, azure-mgmt-authorization)"
GRAPH_ENDPOINTS = {"azurecloud": "https://graph.microsoft.com", "azurechinacloud": "https://microsoftgraph.chinacloudapi.cn",
                   "azureusgovernment": "https://graph.microsoft.us"}
COMPUTE_DISKS_API_VERSION = "2025-01-02"


class KeyVaultExtraMissing(AzBackupFixError):
    """The Key Vault reads need the ``keyvault`` extra."""


def _keys_field(model: type) -> str:
    # azure-mgmt-keyvault 13.0 renamed Permissions.keys to keys_property (models became mappings).
    # (the field is a descriptor that class-level getattr cannot read: look it up in the class dicts)
    return "keys_property" if any("keys_property" in vars(c) for c in model.__mro__) else "keys"


def _perm_list(perms: Any, kind: str) -> tuple[str, ...]:
    """One kind's permissions of an access policy entry, whichever SDK generation read it (before 13.0
    ``keys`` is a list attribute; from 13.0 it is ``keys_property`` and the models are mappings)."""
    if perms is None:
        return ()
    value = getattr(perms, "keys_property", None) if kind == "keys" else None
    if value is None:
        value = getattr(perms, kind, None)
    if (value is None or callable(value)) and hasattr(perms, "get"):
        value = perms.get(kind)
    if value is None or callable(value):
        return ()
    return tuple(str(getattr(v, "value", v)) for v in value)


class KeyVaultGateway:
    """Reads and writes for one subscription, sharing the :class:`Gateway`'s credential, transport,
    retry policy and request counter."""

    def __init__(self, gateway: Gateway, *, graph_url: str | None = None) -> None:
        try:
            with SDK_IMPORT_LOCK:  # sdk_imports.py
                from azure.mgmt.authorization import AuthorizationManagementClient
                from azure.mgmt.keyvault import KeyVaultManagementClient
        except ImportError as exc:
            raise KeyVaultExtraMissing(f"reading Key Vault access needs the keyvault extra: {KEYVAULT_EXTRA}") from exc
        self.gateway = gateway
        self._keyvault_class = KeyVaultManagementClient
        self._keyvaults: dict[str, Any] = {}  # per subscription: a VM's vault may live in another one
        self._keyvaults_lock = threading.Lock()  # one VM's vault reads run concurrently
        self.keyvault = self._vaults_client(gateway.subscription_id)
        self.authorization = AuthorizationManagementClient(gateway.credential, gateway.subscription_id,
                                                           **gateway.client_kwargs())
        default = gateway.base_url if gateway.base_url != gateway.cloud.arm_endpoint.rstrip("/") else \
            GRAPH_ENDPOINTS.get(gateway.cloud.name.casefold(), "https://graph.microsoft.com")
        self.graph_url = (graph_url or default).rstrip("/")
        scope = ("https://graph.microsoft.com/.default" if self.graph_url == gateway.base_url
                 else self.graph_url + "/.default")
        self._graph = PipelineClient(self.graph_url, policies=[
            HeadersPolicy(), gateway.counter, CappedRetryPolicy(**gateway.retry_settings()),
            BearerTokenCredentialPolicy(gateway.credential, scope)], transport=gateway.shared_transport())

    def _vaults_client(self, subscription_id: str) -> Any:
        key = subscription_id.casefold()
        with self._keyvaults_lock:
            if key not in self._keyvaults:
                self._keyvaults[key] = self._keyvault_class(self.gateway.credential, subscription_id,
                                                            **self.gateway.client_kwargs())
            return self._keyvaults[key]

    def close(self) -> None:
        for client in (*self._keyvaults.values(), self.authorization):
            client.close()

    # -- disks -----------------------------------------------------------------------------------
    def disk_encryption_keys(self, disk_id: str, disk_name: str) -> tuple[EncryptionKey, ...]:
        """The ADE keys a managed disk's ``encryptionSettingsCollection`` names (single- and dual-pass)."""
        with arm_call(f"managed disk {disk_id}"):
            response = self.gateway.compute.send_request(
                HttpRequest("GET", disk_id, params={"api-version": COMPUTE_DISKS_API_VERSION}))
            response.raise_for_status()
        collection = dig(response.json(), "properties", "encryptionSettingsCollection", default={}) or {}
        if not collection.get("enabled"):
            return ()
        out: list[EncryptionKey] = []
        for entry in collection.get("encryptionSettings") or []:
            out += disk_keys(entry, disk_name, "disk")
        return tuple(out)

    # -- vaults ----------------------------------------------------------------------------------
    def key_vault(self, vault_id: str, principal_object_id: str | None) -> KeyVaultState:
        """The vault's access model; for RBAC vaults, the principal's role grants at or above it."""
        parts = vault_id.strip("/").split("/")
        name = parts[-1]
        try:
            with arm_call(f"Key Vault {vault_id}"):
                vault = self._vaults_client(parts[1]).vaults.get(parts[3], name)
        except NotFoundError as exc:  # a missing vault is a finding; a denied read is the caller's error
            return KeyVaultState(vault_id, name, error=str(exc))
        props = vault.properties
        policies = tuple(
            AccessPolicyEntry(str(p.tenant_id), str(p.object_id), _perm_list(p.permissions, "keys"),
                              _perm_list(p.permissions, "secrets"), _perm_list(p.permissions, "certificates"),
                              str(p.application_id) if p.application_id else None)
            for p in props.access_policies or ())
        rbac = bool(props.enable_rbac_authorization)
        grants = self.role_grants(str(vault.id), principal_object_id) if rbac and principal_object_id else ()
        return KeyVaultState(str(vault.id), str(vault.name), str(props.tenant_id), rbac, policies, grants)

    def role_grants(self, scope: str, principal_object_id: str) -> tuple[RoleGrant, ...]:
        """The principal's role assignments at or above ``scope``, each with its role's data actions."""
        with arm_call(f"role assignments at {scope}"):
            listed = list(self.authorization.role_assignments.list_for_scope(
                scope, filter=f"principalId eq '{principal_object_id}'"))
        folded = scope.casefold().rstrip("/")
        out = []
        for assignment in listed:
            at = str(assignment.scope or "").casefold().rstrip("/")
            if not (folded == at or folded.startswith(at + "/") or at == "/"):
                continue  # below the vault: does not reach it
            with arm_call(f"role definition {assignment.role_definition_id}"):
                role = self.authorization.role_definitions.get_by_id(str(assignment.role_definition_id))
            data, not_data = [], []
            for perm in role.permissions or ():
                data += list(perm.data_actions or ())
                not_data += list(perm.not_data_actions or ())
            out.append(RoleGrant(str(assignment.id), str(role.role_name), str(assignment.scope), tuple(data),
                                 tuple(not_data)))
        return tuple(out)

    def role_definition_id(self, scope: str, role_name: str) -> str:
        with arm_call(f"role definition '{role_name}'"):
            found = list(self.authorization.role_definitions.list(scope, filter=f"roleName eq '{role_name}'"))
        if not found:
            raise NotFoundError(f"no role definition named '{role_name}' at {scope}")
        return str(found[0].id)

    # -- Microsoft Graph -------------------------------------------------------------------------
    def service_principal_object_id(self, app_id: str = BACKUP_MANAGEMENT_APP_ID) -> str:
        """The object id of the app's service principal in the caller's tenant."""
        request = HttpRequest("GET", f"{self.graph_url}/v1.0/servicePrincipals",
                              params={"$filter": f"appId eq '{app_id}'", "$select": "id,appId,displayName"})
        try:
            response = self._graph.send_request(request)
            response.raise_for_status()
        except HttpResponseError as exc:
            code = dig(_json_or_empty(exc), "error", "code") or exc.status_code
            raise PermissionDeniedError(
                f"Microsoft Graph refused the service principal lookup ({code}); give the Backup Management "
                "Service's object id instead (--backup-service-object-id; Python: backup_service_object_id=)") from exc
        found = (response.json() or {}).get("value") or []
        if not found:
            raise NotFoundError(f"no service principal with app id {app_id} in the tenant")
        return str(found[0]["id"])

    # -- writes ----------------------------------------------------------------------------------
    def update_access_policy(self, vault_id: str, operation: str, tenant_id: str, object_id: str,
                             permissions: tuple[Permission, ...]) -> None:
        """``add`` or ``remove`` exactly these permissions for the principal (never ``replace``)."""
        if operation not in ("add", "remove"):
            raise ValueError(operation)
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.keyvault import models as kv

        by_kind: dict[str, list[str]] = {}
        for kind, name in permissions:
            by_kind.setdefault(kind, []).append(name)
        perms = kv.Permissions(**{(_keys_field(kv.Permissions) if k == "keys" else k): v for k, v in by_kind.items()})
        entry = kv.AccessPolicyEntry(tenant_id=tenant_id, object_id=object_id, permissions=perms)
        body = kv.VaultAccessPolicyParameters(properties=kv.VaultAccessPolicyProperties(access_policies=[entry]))
        parts = vault_id.strip("/").split("/")
        with arm_call(f"access policy {operation} on Key Vault {parts[-1]}"):
            self._vaults_client(parts[1]).vaults.update_access_policy(parts[3], parts[-1], operation, body)

    def create_role_assignment(self, scope: str, role_definition_id: str, principal_id: str,
                               name: str | None = None) -> str:
        """Assign the role at ``scope``; returns the assignment's id."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

        params = RoleAssignmentCreateParameters(role_definition_id=role_definition_id, principal_id=principal_id,
                                                principal_type="ServicePrincipal")
        with arm_call(f"role assignment at {scope}"):
            created = self.authorization.role_assignments.create(scope, name or str(uuid.uuid4()), params)
        return str(created.id)

    def delete_role_assignment(self, assignment_id: str) -> bool:
        """Delete by id; False when it was already gone."""
        scope, _, name = assignment_id.rpartition("/providers/Microsoft.Authorization/roleAssignments/")
        with arm_call(f"role assignment {assignment_id}"):
            deleted = self.authorization.role_assignments.delete(scope, name)
        return deleted is not None


def _json_or_empty(exc: HttpResponseError) -> Any:
    try:
        return exc.response.json() if exc.response is not None else {}
    except ValueError:
        return {}
