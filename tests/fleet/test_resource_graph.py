"""The sandbox's Resource Graph and the gateway's client: request/response shape, $skipToken paging,
the per-user quota headers, and Resource Graph's 400 for a query that is not valid KQL."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from azbackup_fix import SandboxCredential
from azbackup_fix.fleet import Discovery, discover, discovery, queries
from azbackup_fix.fleet.queries import BACKUP_JOBS, PROTECTED_ITEMS
from azbackup_fix.gateway import Gateway
from azbackup_fix.gateway.resource_graph import ResourceGraphUnavailableError
from azbackup_sandbox.core.http import SandboxRequest
from tests.fleet.fleet_sandbox import ALL_KINDS, fleet

URL = "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version={v}"


def _post(sb, body: dict, version: str = "2022-10-01"):  # noqa: ANN001, ANN202
    return sb.handle(SandboxRequest(method="POST", url=URL.format(v=version),
                                    headers={"Authorization": "Bearer token", "Content-Type": "application/json"},
                                    body=json.dumps(body).encode()))


def test_wire_shape_paging_and_quota_headers() -> None:
    sb = fleet(120, ALL_KINDS, throttling=False)
    first = _post(sb, {"subscriptions": sb.subscription_ids, "query": BACKUP_JOBS, "options": {"$top": 50}})
    page = first.json()
    assert first.status == 200 and page["count"] == 50 and page["totalRecords"] > 100
    assert page["resultTruncated"] == "false" and page["$skipToken"] and page["facets"] == []
    row = page["data"][0]
    assert set(row) == {"id", "name", "type", "subscriptionId", "resourceGroup", "properties"}
    assert row["type"] == "microsoft.recoveryservices/vaults/backupjobs"
    assert {"status", "operation", "startTime", "containerName", "entityFriendlyName"} <= set(row["properties"])
    assert first.headers["x-ms-user-quota-remaining"] == "14"
    assert first.headers["x-ms-user-quota-resets-after"] == "00:00:05"
    rest = _post(sb, {"subscriptions": sb.subscription_ids, "query": BACKUP_JOBS,
                      "options": {"$top": 1000, "$skipToken": page["$skipToken"]}}).json()
    ids = [r["id"] for r in page["data"] + rest["data"]]
    assert len(ids) == len(set(ids)) == page["totalRecords"] and "$skipToken" not in rest
    for version in ("2021-03-01", "2022-10-01"):
        assert _post(sb, {"query": PROTECTED_ITEMS}, version).status == 200
    assert _post(sb, {"query": "Resources | project id"}).status == 200  # any valid query is answered
    bad = _post(sb, {"query": "Resources | project id,"})
    error = bad.json()["error"]
    assert bad.status == 400 and error["code"] == "BadRequest"
    assert [d["code"] for d in error["details"]] == ["InvalidQuery", "ParserFailure"]
    assert _post(sb, {"query": BACKUP_JOBS}, "2019-04-01").json()["error"]["code"] == "InvalidApiVersionParameter"


def test_the_client_pages_and_waits_for_the_user_quota_instead_of_a_429() -> None:
    sb = fleet(300, ALL_KINDS)  # throttling on: the 16th request of a 5 s window would be a 429
    transport = sb.transport()
    with Gateway(SandboxCredential(), sb.subscription_ids[0], transport=transport, polling_interval=0) as gw:
        graph = gw.resource_graph()
        rows = list(graph.query(BACKUP_JOBS, sb.subscription_ids, page_size=10))
        assert len({r["id"] for r in rows}) == len(rows) > 200
        assert graph.requests > 15 and graph.quota_waits >= 1
        assert [r for r in sb.requests() if r.status == 429] == []
        assert len(list(graph.query("Resources | take 1", sb.subscription_ids))) == 1
        with pytest.raises(ResourceGraphUnavailableError, match="BadRequest"):
            list(graph.query("Resources | take", sb.subscription_ids))
        assert set(graph.list_subscriptions()) == set(sb.subscription_ids)


# ---- discovery depends on the KQL being right ------------------------------------------------------------
def _discover(sb) -> Discovery:  # noqa: ANN001
    transport = sb.transport()
    with ExitStack() as stack:
        gateways = {sub: stack.enter_context(Gateway(SandboxCredential(), sub, transport=transport,
                                                     polling_interval=0)) for sub in sb.subscription_ids}
        return discover(gateways)


_SIGNALS = {
    "BACKUP_JOBS": ("latest backup job failed", "backup job in progress"),
    "PROTECTED_ITEMS": ("protection ", "backup health"),
    "BACKUP_EXTENSIONS": ("backup extension",),
}


def _reasons(found: Discovery, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(c.vm.id.casefold(), r) for c in found.candidates for r in c.reasons if r.startswith(prefixes)}


def test_discovery_through_the_kql_equals_discovery_through_the_vault_listings() -> None:
    sb = fleet(150, ALL_KINDS, throttling=False)
    found = _discover(sb)
    assert found.source == "resource-graph" and found.fallback_reason is None
    transport = sb.transport()
    with ExitStack() as stack:
        gateways = {sub: stack.enter_context(Gateway(SandboxCredential(), sub, transport=transport,
                                                     polling_interval=0)) for sub in sb.subscription_ids}
        listed = discover(gateways, use_resource_graph=False)
    job_and_item = _SIGNALS["BACKUP_JOBS"] + _SIGNALS["PROTECTED_ITEMS"]
    assert _reasons(found, job_and_item) == _reasons(listed, job_and_item)
    assert found.vms_seen == listed.vms_seen
    for prefixes in _SIGNALS.values():
        assert _reasons(found, prefixes), prefixes  # every query contributes signals in this fleet


@pytest.mark.parametrize(("name", "wrong", "right"), [
    ("BACKUP_JOBS", "'microsoft.recoveryservices/vaults/backupjob'", "'microsoft.recoveryservices/vaults/backupjobs'"),
    ("BACKUP_JOBS", "properties.operationName =~ 'Backup'", "properties.operation =~ 'Backup'"),
    ("PROTECTED_ITEMS", "/protecteditem'", "/protecteditems'"),
    ("PROTECTED_ITEMS", "properties.backupManagement =~", "properties.backupManagementType =~"),
    ("BACKUP_EXTENSIONS", "'microsoft.compute/virtualmachine/extensions'",
     "'microsoft.compute/virtualmachines/extensions'"),
    ("BACKUP_EXTENSIONS", "properties.publisherName =~", "properties.publisher =~"),
])
def test_a_broken_variant_of_each_query_loses_exactly_its_signals(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                  wrong: str, right: str) -> None:
    sb = fleet(150, ALL_KINDS, throttling=False)
    good = _discover(sb)
    text = getattr(queries, name)
    assert right in text
    monkeypatch.setattr(discovery, name, text.replace(right, wrong))
    broken = _discover(sb)
    assert broken.source == "resource-graph"  # still valid KQL: Resource Graph answers, with the wrong rows
    assert _reasons(good, _SIGNALS[name]) and not _reasons(broken, _SIGNALS[name])
    for other, prefixes in _SIGNALS.items():
        if other != name and not (name == "BACKUP_JOBS" and other == "BACKUP_EXTENSIONS"):
            assert _reasons(broken, prefixes) == _reasons(good, prefixes)


def test_a_query_resource_graph_rejects_sends_discovery_to_the_vault_listings(monkeypatch: pytest.MonkeyPatch) -> None:
    sb = fleet(60, ALL_KINDS, throttling=False)
    monkeypatch.setattr(discovery, "PROTECTED_ITEMS", queries.PROTECTED_ITEMS.replace("| project id,", "| project id,,"))
    found = _discover(sb)
    assert found.source == "vault-listing"
    assert found.fallback_reason is not None and "BadRequest" in found.fallback_reason
