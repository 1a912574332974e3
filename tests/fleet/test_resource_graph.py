"""The sandbox's Resource Graph and the gateway's client: request/response shape, $skipToken paging,
the per-user quota headers, and Resource Graph's 400 for a query that is not valid KQL."""

from __future__ import annotations

import json

import pytest

from azbackup_fix import SandboxCredential
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
