"""Wire format of subscriptions, resource groups and the generic resource listing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from ...core.tokens import decode_token
from . import errors
from .models import tenant_to_arm

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]

_RG = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"


def _token_tenant(req: SandboxRequest) -> str | None:
    """The `tid` of the caller's token when it is a JWT: ARM lists what that directory holds."""
    _, _, token = (req.headers.get("authorization") or "").partition(" ")
    claims = decode_token(token.strip()) if token else None
    tenant = claims.get("tid") if claims else None
    return str(tenant) if tenant else None


def _list_subscriptions(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    subs = sorted(sb.resources.subscriptions.values(), key=lambda s: s.subscription_id)
    tenant = _token_tenant(req)
    if tenant is not None:
        subs = [s for s in subs if s.tenant_id.lower() == tenant.lower()]
    return json_response(200, page(req, [s.to_arm() for s in subs], sb.config.page_size))


def _list_tenants(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    tenants = sb.resources.tenant_ids()
    tenant = _token_tenant(req)
    if tenant is not None:  # an app-only token sees its own directory
        tenants = [t for t in tenants if t.lower() == tenant.lower()] or [tenant]
    return json_response(200, page(req, [tenant_to_arm(t) for t in tenants], sb.config.page_size))


def _get_subscription(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.resources.require_subscription(p["subscriptionId"]).to_arm())


def _list_groups(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    groups = sorted(sb.resources.groups_of(p["subscriptionId"]), key=lambda g: g.name.lower())
    return json_response(200, page(req, [g.to_arm() for g in groups], sb.config.page_size))


def _get_group(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, sb.resources.require_group(p["subscriptionId"], p["resourceGroupName"]).to_arm())


def _head_group(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    found = sb.resources.find_group(p["subscriptionId"], p["resourceGroupName"])
    return empty_response(204 if found else 404)


def _put_group(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    body = req.json() or {}
    group, created = sb.resources.put_group(p["subscriptionId"], p["resourceGroupName"], body.get("location"),
                                            body.get("tags"))
    return json_response(201 if created else 200, group.to_arm())


def _filter_generic(req: SandboxRequest, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = (req.query.get("$filter") or "").strip()
    if not text:
        return items
    field, _, value = text.partition(" eq ")
    if field.strip().lower() != "resourcetype" or not value.strip().startswith("'"):
        raise errors.invalid_resource_filter(text)
    wanted = value.strip().strip("'").lower()
    return [i for i in items if i["type"].lower() == wanted]


def _provisioning_states(sb: Sandbox, subscription_id: str, resource_group: str | None) -> dict[str, str]:
    """Resource id (lower-cased) -> provisioningState, for `$expand=provisioningState`."""
    states: dict[str, str] = {}
    for vm in sb.compute.list_vms(subscription_id, resource_group):
        states[vm.id.lower()] = vm.provisioning_state
        for ext in vm.extensions.values():
            states[f"{vm.id}/extensions/{ext.name}".lower()] = ext.provisioning_state
    for collection in sb.compute.list_collections(subscription_id, resource_group):
        states[collection.id.lower()] = collection.provisioning_state
    return states


def _expand(sb: Sandbox, req: SandboxRequest, p: dict[str, str], items: list[dict[str, Any]]) -> None:
    """`$expand=createdTime,changedTime,provisioningState` (what `az resource list` asks for) adds the
    resource's provisioning state; the sandbox keeps no creation or change times, so those stay absent."""
    wanted = {part.strip().lower() for part in (req.query.get("$expand") or "").split(",")}
    if "provisioningstate" not in wanted:
        return
    states = _provisioning_states(sb, p["subscriptionId"], p.get("resourceGroupName"))
    for item in items:
        item["provisioningState"] = states.get(item["id"].lower(), "Succeeded")


def _list_resources(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    items = _filter_generic(req, sb.resources.generic_resources(p["subscriptionId"], p.get("resourceGroupName")))
    items = [dict(item) for item in items]
    _expand(sb, req, p, items)
    return json_response(200, page(req, items, sb.config.page_size))


def _delete_group(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    sb.resources.delete_group(p["subscriptionId"], p["resourceGroupName"])
    return empty_response(200)


def register(router: Router) -> None:
    add = router.add
    add("GET", "/tenants", _list_tenants, operation="Tenants_List", action="Microsoft.Resources/tenants/read")
    add("GET", "/subscriptions", _list_subscriptions, operation="Subscriptions_List",
        action="Microsoft.Resources/subscriptions/read")
    add("GET", "/subscriptions/{subscriptionId}", _get_subscription, operation="Subscriptions_Get",
        action="Microsoft.Resources/subscriptions/read")
    add("GET", "/subscriptions/{subscriptionId}/resourcegroups", _list_groups, operation="ResourceGroups_List",
        action="Microsoft.Resources/subscriptions/resourceGroups/read")
    add("GET", _RG, _get_group, operation="ResourceGroups_Get",
        action="Microsoft.Resources/subscriptions/resourceGroups/read")
    add("HEAD", _RG, _head_group, operation="ResourceGroups_CheckExistence",
        action="Microsoft.Resources/subscriptions/resourceGroups/read", group_must_exist=False)
    add("PUT", _RG, _put_group, operation="ResourceGroups_CreateOrUpdate",
        action="Microsoft.Resources/subscriptions/resourceGroups/write", lock_check="write",
        group_must_exist=False)
    add("DELETE", _RG, _delete_group, operation="ResourceGroups_Delete",
        action="Microsoft.Resources/subscriptions/resourceGroups/delete", lock_check="delete")
    add("GET", "/subscriptions/{subscriptionId}/resources", _list_resources, operation="Resources_List",
        action="Microsoft.Resources/subscriptions/resources/read")
    add("GET", _RG + "/resources", _list_resources, operation="Resources_ListByResourceGroup",
        action="Microsoft.Resources/subscriptions/resourceGroups/resources/read")
