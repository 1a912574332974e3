"""The Resource Graph tables, built from the other providers' live state.

Resource Graph is a read model over ARM: every row is the resource as its provider's API returns it, in the
columns Resource Graph adds (``id, name, type, tenantId, kind, location, resourceGroup, subscriptionId,
managedBy, sku, plan, properties, tags, identity, zones, extendedLocation``), with ``type`` and
``resourceGroup`` lower-cased. Tables, limited to the subscriptions a request names:

- ``Resources``: virtual machines (``properties.extended.instanceView.powerState`` as Resource Graph adds it),
  their extensions, restore point collections, Recovery Services vaults;
- ``ResourceContainers``: subscriptions and resource groups;
- ``RecoveryServicesResources``: backup jobs of the last 14 days (Resource Graph keeps no older ones) and
  protected items, with the ``properties`` of the job and item APIs.

Rows come from the backends' state and the models' own serialisation (`to_arm`), never from routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .kql.evaluate import Source, Table

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["COLUMNS", "JOB_WINDOW", "SCHEMA", "TABLES", "build_tables"]

# Every table's columns and their Kusto types, as Resource Graph declares them.
SCHEMA = {"id": "string", "name": "string", "type": "string", "tenantId": "string", "kind": "string",
          "location": "string", "resourceGroup": "string", "subscriptionId": "string", "managedBy": "string",
          "sku": "dynamic", "plan": "dynamic", "properties": "dynamic", "tags": "dynamic", "identity": "dynamic",
          "zones": "dynamic", "extendedLocation": "dynamic"}
COLUMNS = tuple(SCHEMA)
JOB_WINDOW = timedelta(days=14)  # RecoveryServicesResources keeps backup jobs this long
TABLES = ("Resources", "ResourceContainers", "RecoveryServicesResources")


def _row(sb: Sandbox, body: dict[str, Any], subscription_id: str, resource_group: str | None) -> dict[str, Any]:
    sub = sb.resources.subscriptions.get(subscription_id.lower())
    return {
        "id": body["id"],
        "name": body.get("name", ""),
        "type": str(body.get("type", "")).lower(),
        "tenantId": sub.tenant_id if sub is not None else "",
        "kind": body.get("kind", ""),
        "location": str(body.get("location", "")).lower(),
        "resourceGroup": (resource_group or "").lower(),
        "subscriptionId": subscription_id,
        "managedBy": body.get("managedBy", ""),
        "sku": body.get("sku"),
        "plan": body.get("plan"),
        "properties": body.get("properties", {}),
        "tags": body.get("tags") or {},
        "identity": body.get("identity"),
        "zones": body.get("zones"),
        "extendedLocation": body.get("extendedLocation"),
    }


def _power_state(state: str) -> dict[str, str]:
    return {"code": f"PowerState/{state}", "displayStatus": f"VM {state}", "level": "Info"}


Wanted = Callable[[str], bool]
_VM, _EXTENSION = "microsoft.compute/virtualmachines", "microsoft.compute/virtualmachines/extensions"
_COLLECTION, _VAULT = "microsoft.compute/restorepointcollections", "microsoft.recoveryservices/vaults"
_SUBSCRIPTION, _GROUP = "microsoft.resources/subscriptions", "microsoft.resources/subscriptions/resourcegroups"
_JOB = "microsoft.recoveryservices/vaults/backupjobs"
_ITEM = "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"


def _resources(sb: Sandbox, subs: set[str], wanted: Wanted) -> Iterable[dict[str, Any]]:
    for vm in sorted(sb.compute.vms.values(), key=lambda v: v.id.lower()):
        if vm.subscription_id.lower() not in subs:
            continue
        if wanted(_VM):
            body = vm.to_arm(sb, resources=False)
            body["properties"]["extended"] = {"instanceView": {"powerState": _power_state(vm.power_state)}}
            yield _row(sb, body, vm.subscription_id, vm.resource_group)
        if wanted(_EXTENSION):
            for ext in sorted(vm.extensions.values(), key=lambda e: e.name.lower()):
                yield _row(sb, ext.to_arm(vm), vm.subscription_id, vm.resource_group)
    if wanted(_COLLECTION):
        for rpc in sorted(sb.compute.collections.values(), key=lambda c: c.id.lower()):
            if rpc.subscription_id.lower() in subs:
                yield _row(sb, rpc.to_arm(sb), rpc.subscription_id, rpc.resource_group)
    if wanted(_VAULT):
        for vault in sorted(sb.backup.vaults.values(), key=lambda v: v.id.lower()):
            if vault.subscription_id.lower() in subs:
                yield _row(sb, vault.to_arm(), vault.subscription_id, vault.resource_group)


def _containers(sb: Sandbox, subs: set[str], wanted: Wanted) -> Iterable[dict[str, Any]]:
    for sub in sorted(sb.resources.subscriptions.values(), key=lambda s: s.subscription_id):
        if sub.subscription_id.lower() not in subs or not wanted(_SUBSCRIPTION):
            continue
        body = sub.to_arm()
        yield _row(sb, {"id": body["id"], "name": sub.display_name, "type": "Microsoft.Resources/subscriptions",
                        "properties": {"state": sub.state,
                                       "subscriptionPolicies": body.get("subscriptionPolicies", {})}},
                   sub.subscription_id, None)
    for group in sorted(sb.resources.groups.values(), key=lambda g: g.id.lower()):
        if group.subscription_id.lower() in subs and wanted(_GROUP):
            body = {**group.to_arm(), "type": _GROUP}
            yield _row(sb, body, group.subscription_id, group.name)


def _recovery_services(sb: Sandbox, subs: set[str], wanted: Wanted) -> Iterable[dict[str, Any]]:
    since = sb.clock.now() - JOB_WINDOW
    for vault in sorted(sb.backup.vaults.values(), key=lambda v: v.id.lower()):
        if vault.subscription_id.lower() not in subs or not wanted(_JOB):
            continue
        for job in sb.backup.jobs_of(vault):
            if job.start is not None and job.start >= since:
                body = job.to_arm(sb, extended=False)
                body["location"] = vault.location
                yield _row(sb, body, vault.subscription_id, vault.resource_group)
    for item in sorted(sb.backup.items.values(), key=lambda i: i.id.lower()):
        vault = item.vault
        if vault.subscription_id.lower() in subs and wanted(_ITEM):
            body = item.to_arm(sb)
            body["location"] = vault.location
            yield _row(sb, body, vault.subscription_id, vault.resource_group)


_BUILDERS: dict[str, Callable[[Sandbox, set[str], Wanted], Iterable[dict[str, Any]]]] = {
    "Resources": _resources,
    "ResourceContainers": _containers,
    "RecoveryServicesResources": _recovery_services,
}


def build_tables(sb: Sandbox, subscriptions: Iterable[str]) -> dict[str, Source]:
    """Table name -> a builder of its rows over ``subscriptions``, built only when a query names the table,
    and only of the types the query's first ``where`` keeps (see :func:`.kql.evaluate.evaluate`)."""
    subs = {s.lower() for s in subscriptions}

    def builder(name: str) -> Source:
        def build(types: frozenset[str] | None) -> Table:
            return Table(COLUMNS, list(_BUILDERS[name](sb, subs, lambda t: types is None or t in types)))

        return build

    return {name: builder(name) for name in TABLES}
