"""Wire format of Microsoft.KeyVault/vaults: GET, PUT, lists per group and subscription, and
`PUT .../accessPolicies/{operationKind}` (add, replace, remove), as the Key Vault RP answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.http import SandboxRequest, SandboxResponse, json_response
from ...core.paging import page
from .models import parse_policies

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}"
_VAULTS = "/providers/Microsoft.KeyVault/vaults"
_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _get(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = sb.keyvault.get(p["subscriptionId"], p["resourceGroupName"], p["vaultName"])
    return json_response(200, vault.to_arm(), _JSON)


def _put(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault, created = sb.keyvault.put(p["subscriptionId"], p["resourceGroupName"], p["vaultName"], req.json() or {})
    return json_response(201 if created else 200, vault.to_arm(), _JSON)


def _list(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vaults = sb.keyvault.list(p["subscriptionId"], p.get("resourceGroupName"))
    return json_response(200, page(req, [v.to_arm() for v in vaults], sb.config.page_size), _JSON)


def _access_policy(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    vault = sb.keyvault.get(p["subscriptionId"], p["resourceGroupName"], p["vaultName"])
    props = (req.json() or {}).get("properties") or {}
    policies = parse_policies(props.get("accessPolicies"))
    sb.keyvault.update_access_policy(vault, p["operationKind"], policies)
    body = {"id": f"{vault.id}/accessPolicies/", "type": "Microsoft.KeyVault/vaults/accessPolicies",
            "properties": {"accessPolicies": [pol.to_arm() for pol in policies]}}
    return json_response(200, body, _JSON)


def register(router: Router) -> None:
    one = _RG + _VAULTS + "/{vaultName}"
    router.add("GET", one, _get, operation="Vaults_Get", action="Microsoft.KeyVault/vaults/read")
    router.add("PUT", one, _put, operation="Vaults_CreateOrUpdate", action="Microsoft.KeyVault/vaults/write",
               lock_check="write")
    router.add("PUT", one + "/accessPolicies/{operationKind}", _access_policy, operation="Vaults_UpdateAccessPolicy",
               action="Microsoft.KeyVault/vaults/accessPolicies/write", lock_check="write")
    router.add("GET", _RG + _VAULTS, _list, operation="Vaults_ListByResourceGroup",
               action="Microsoft.KeyVault/vaults/read")
    router.add("GET", _SUB + _VAULTS, _list, operation="Vaults_ListBySubscription",
               action="Microsoft.KeyVault/vaults/read")
