"""Resource Graph in the sandbox evaluates KQL: the parser and evaluator on their own, then queries the
library never sends, over the real wire (an azure-core ARM pipeline against the sandbox, in-process and over
HTTPS), whose answers must equal what the ARM listings of the same estate say (azure-mgmt-compute,
azure-mgmt-recoveryservicesbackup, azure-mgmt-resource), and Resource Graph's 400 for what is not valid."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.core import ARMPipelineClient
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm import Arm

from azbackup_sandbox.providers.resourcegraph.kql import nodes as n
from azbackup_sandbox.providers.resourcegraph.kql.errors import KqlError
from azbackup_sandbox.providers.resourcegraph.kql.evaluate import Table, evaluate
from azbackup_sandbox.providers.resourcegraph.kql.parser import parse

MIX = "healthy=6,rp-limit-locked=1,failed-vmsnapshot=1,agent-not-ready=1,backup-in-progress=1,vm-deleted=1"
GRAPH = "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01"


# ---- parser -----------------------------------------------------------------------------------------------
def test_the_parser_builds_the_tree_with_kusto_precedence() -> None:
    script = parse("Resources | where a == 1 or b =~ 'x' and c in~ ('p', 'q') | project id, n = properties.x['y'][0]")
    where, project = script.query.operators
    assert script.query.source == n.TableRef("Resources", 0)
    assert isinstance(where, n.Where) and isinstance(where.predicate, n.Binary)
    assert where.predicate.op == "or"  # and binds tighter than or
    assert isinstance(where.predicate.right, n.Binary) and where.predicate.right.op == "and"
    assert isinstance(where.predicate.right.right, n.InList) and where.predicate.right.right.op == "in~"
    assert isinstance(project, n.Project) and [c.name for c in project.columns] == [None, "n"]
    path = project.columns[1].expr
    assert isinstance(path, n.Index) and path.key == n.Literal(0, path.key.pos)
    assert isinstance(path.target, n.Index) and isinstance(path.target.key, n.Literal)
    assert path.target.key.value == "y"
    arith = parse("T | extend x = 1 + 2 * 3 - -4").query.operators[0]
    assert isinstance(arith, n.Extend)
    top = arith.columns[0].expr
    assert isinstance(top, n.Binary) and top.op == "-" and top.right == n.Literal(-4, top.right.pos)


def test_the_parser_reads_every_operator_and_literal_of_the_subset() -> None:
    script = parse("""let cutoff = ago(14d);
        let vms = Resources | where type == 'microsoft.compute/virtualmachines';
        vms
        | extend t = datetime(2026-01-02T03:04:05Z), span = 1h + 30m, d = dynamic({"a": [1, -2, "x"]})
        | where t between (datetime(2026-01-01) .. now()) and name !has 'x' and name !startswith_cs "Y"
        | join kind=leftouter (ResourceContainers | project rg = name) on $left.resourceGroup == $right.rg
        | mv-expand z = d.a to typeof(string)
        | summarize count(), c = countif(t > cutoff), arg_max(t, *) by resourceGroup
        | project-away c
        | order by resourceGroup asc nulls last, count_ desc
        | top 3 by count_
        | distinct resourceGroup
        | take 2
        | count""")
    assert [let.name for let in script.lets] == ["cutoff", "vms"]
    kinds = [type(op).__name__ for op in script.query.operators]
    assert kinds == ["Extend", "Where", "Join", "MvExpand", "Summarize", "ProjectAway", "Order", "Top", "Distinct",
                     "Take", "Count"]
    extend = script.query.operators[0]
    assert isinstance(extend, n.Extend)
    values = [c.expr.value for c in extend.columns if isinstance(c.expr, n.Literal)]
    assert values[0] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert values[1] == {"a": [1, -2, "x"]}
    join = script.query.operators[2]
    assert isinstance(join, n.Join) and join.kind == "leftouter" and join.keys == (("resourceGroup", "rg"),)
    # Resource Graph takes a query without a table as one over Resources
    assert parse("where type =~ 'x' | take 1").query.source.name == "Resources"


@pytest.mark.parametrize(("query", "code", "line", "column", "token"), [
    ("Resources | projec id", "ParserFailure", 1, 12, "projec"),
    ("Resources\n| where name == 'x", "ParserFailure", 2, 16, ""),
    ("Resources | project id,", "ParserFailure", 1, 23, ""),
    ("Resources\n| where (name == 'a'\n| take 1", "ParserFailure", 3, 0, "|"),
    ("Resources | union ResourceContainers", "InvalidQueryLanguage", 1, 12, "union"),
    ("Resources | join kind=fullouter (Resources) on id", "InvalidQueryLanguage", 1, 22, "fullouter"),
    ("Resources | where x == 1 === 2", "ParserFailure", 1, 25, "=="),
    ("Resources | take 1.5", "ParserFailure", 1, 17, "1.5"),
])
def test_what_the_parser_rejects_names_its_line_position_and_token(query: str, code: str, line: int, column: int,
                                                                   token: str) -> None:
    with pytest.raises(KqlError) as caught:
        parse(query)
    assert (caught.value.code, caught.value.line, caught.value.column) == (code, line, column)
    if token:
        assert caught.value.token == token


# ---- evaluator ------------------------------------------------------------------------------------------
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
ITEMS = Table(("id", "rg", "n", "properties"), [
    {"id": "a", "rg": "RG1", "n": 1, "properties": {"s": "Failed", "t": "2026-11-01T00:00:00.0000000Z", "arr": [1, 2]}},
    {"id": "b", "rg": "rg1", "n": 5, "properties": {"s": "Completed", "t": "2026-10-01T00:00:00Z", "arr": []}},
    {"id": "c", "rg": "RG2", "n": None, "properties": {"s": "InProgress", "t": "2026-11-02T07:00:00Z", "arr": [3]}},
])
GROUPS = Table(("rgname", "loc"), [{"rgname": "rg1", "loc": "x"}, {"rgname": "rg3", "loc": "y"}])


def _run(query: str) -> list[dict[str, Any]]:
    return evaluate(parse(query), {"T": lambda types: ITEMS, "G": lambda types: GROUPS}, clock=lambda: NOW, text=query).records()


@pytest.mark.parametrize(("query", "expected"), [
    ("T | where properties.s =~ 'FAILED' | project id", [{"id": "a"}]),
    ("T | where properties.s == 'failed' | project id", []),  # == is case-sensitive
    ("T | where properties.s has 'progress' | project id", []),  # has matches whole terms
    ("T | where properties.s contains 'progress' | project id", [{"id": "c"}]),
    ("T | where properties.s !in~ ('failed', 'COMPLETED') | project id", [{"id": "c"}]),
    ("T | where n between (2 .. 10) | project id", [{"id": "b"}]),
    ("T | where n != 1 | project id", [{"id": "b"}, {"id": "c"}]),  # null != value is true
    ("T | where n == 1 or n > 2 | project id", [{"id": "a"}, {"id": "b"}]),  # null == value is false
    ("T | where not(n > 2) | project id", [{"id": "a"}]),  # not(null) is null
    ("T | where todatetime(properties.t) > ago(14d) | project id, age = now() - todatetime(properties.t)",
     [{"id": "a", "age": "1.08:00:00"}, {"id": "c", "age": "01:00:00"}]),
    ("T | summarize c = count(), ids = make_set(id), top_n = max(n) by g = tolower(rg) | order by g asc",
     [{"g": "rg1", "c": 2, "ids": ["a", "b"], "top_n": 5}, {"g": "rg2", "c": 1, "ids": ["c"], "top_n": None}]),
    ("T | summarize count(), countif(n > 1), dcount(rg), min(n)",
     [{"count_": 3, "countif_": 1, "dcount_rg": 3, "min_n": 1}]),
    ("T | where id == 'none' | summarize count()", [{"count_": 0}]),
    ("T | summarize arg_max(n, id) by g = tolower(rg) | where isnotnull(n)", [{"g": "rg1", "n": 5, "id": "b"}]),
    ("T | mv-expand x = properties.arr | project id, x", [{"id": "a", "x": 1}, {"id": "a", "x": 2}, {"id": "c", "x": 3}]),
    ("T | extend g = tolower(rg) | join kind=leftouter (G) on $left.g == $right.rgname | project id, loc",
     [{"id": "a", "loc": "x"}, {"id": "b", "loc": "x"}, {"id": "c", "loc": None}]),
    ("T | extend rgname = tolower(rg) | join kind=inner G on rgname | project id, rgname1",
     [{"id": "a", "rgname1": "rg1"}, {"id": "b", "rgname1": "rg1"}]),
    ("T | extend rgname = tolower(rg) | join (G) on rgname | project id", [{"id": "a"}]),  # innerunique
    ("T | order by n asc | project id", [{"id": "c"}, {"id": "a"}, {"id": "b"}]),  # nulls first when ascending
    ("T | sort by n | project id", [{"id": "b"}, {"id": "a"}, {"id": "c"}]),  # descending by default
    ("T | top 1 by n | project id", [{"id": "b"}]),
    ("T | distinct rg | count", [{"Count": 3}]),
    ("T | take 1 | project-away properties, r*", [{"id": "a", "n": 1}]),
    ("let x = 3; let big = T | where n > x; big | project id", [{"id": "b"}]),
    ("T | take 1 | project s = strcat(id, '-', n), p = split('a/b/c', '/')[-1], i = iif(n > 2, 'big', 'small'), "
     "c = coalesce(properties.none, 'dflt'), u = toupper(id), l = toint('42') + tolong(1.9), e = isempty('')",
     [{"s": "a-1", "p": "c", "i": "small", "c": "dflt", "u": "A", "l": 43, "e": True}]),
    ("T | take 1 | project v = parse_json('{\"a\": [1, {\"b\": 2}]}').a[1]['b'], w = todynamic('[5]')[0]",
     [{"v": 2, "w": 5}]),
    ("T | take 1 | project d = datetime(2026-01-01) + 1d - 30m, ts = 1h * 2, q = 7 / 2, r = 7.0 / 2, "
     "k = not(true), m = tostring(dynamic({\"x\": 1}))",
     [{"d": "2026-01-01T23:30:00Z", "ts": "02:00:00", "q": 3, "r": 3.5, "k": False, "m": '{"x":1}'}]),
])
def test_the_evaluator_computes_what_kusto_computes(query: str, expected: list[dict[str, Any]]) -> None:
    assert _run(query) == expected


@pytest.mark.parametrize(("query", "token"), [
    ("T | where nope == 1", "nope"),
    ("T | extend z = nosuchfunction(1)", "nosuchfunction"),
    ("X | take 1", "X"),
    ("T | project count()", "count"),
    ("T | project-away nope", "nope"),
    ("T | join kind=inner (G) on nope", "nope"),
    ("T | summarize tostring(n)", ""),
])
def test_names_that_resolve_to_nothing_are_semantic_errors_even_over_no_rows(query: str, token: str) -> None:
    with pytest.raises(KqlError) as caught:
        _run(f"{query.split(' | ')[0]} | where false | {query.split(' | ', 1)[1]}")
    assert caught.value.code == "SemanticError" and caught.value.token == token


# ---- over the wire, against the ARM listings of the same estate -------------------------------------------
class Graph:
    """Resource Graph's ``resources`` query on a bare azure-core ARM pipeline (no SDK wraps it here)."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm
        transport = arm.client_kwargs()["transport"]
        self.client = ARMPipelineClient(base_url=arm.endpoint, transport=transport, policies=[
            ARMChallengeAuthenticationPolicy(arm.credential, "https://management.azure.com/.default")])

    def post(self, query: str, **options: Any) -> tuple[int, Any]:
        body = {"subscriptions": self.arm.subscription_ids, "query": query, "options": options}
        response = self.client.send_request(HttpRequest("POST", f"{self.arm.endpoint}{GRAPH}", json=body))
        return response.status_code, response.json()

    def rows(self, query: str, page: int = 1000) -> list[dict[str, Any]]:
        status, answer = self.post(query, **{"$top": page})
        assert status == 200, answer
        rows = list(answer["data"])
        while answer.get("$skipToken"):
            status, answer = self.post(query, **{"$top": page, "$skipToken": answer["$skipToken"]})
            assert status == 200, answer
            rows += answer["data"]
        return rows


@pytest.fixture
def estate(arm: Arm) -> Arm:
    arm.load("fleet", vms=48, subscriptions=2, vaults=2, mix=MIX)
    return arm


def _vms(arm: Arm) -> list[Any]:
    vms = []
    for sub in arm.subscription_ids:
        with arm.client(ComputeManagementClient, sub) as compute:
            vms += list(compute.virtual_machines.list_all())
    return vms


def _rg(resource_id: str) -> str:
    return resource_id.split("/")[4].lower()


def test_vms_per_resource_group_equal_the_compute_listing(estate: Arm) -> None:
    rows = Graph(estate).rows("""Resources
        | where type == 'microsoft.compute/virtualmachines'
        | summarize vms = count(), names = make_set(name), regions = dcount(location) by subscriptionId, resourceGroup
        | order by subscriptionId asc, resourceGroup asc""")
    listed = Counter((vm.id.split("/")[2], _rg(vm.id)) for vm in _vms(estate))
    assert {(r["subscriptionId"], r["resourceGroup"]): r["vms"] for r in rows} == dict(listed)
    assert sum(len(r["names"]) for r in rows) == sum(listed.values()) > 30
    assert [(r["subscriptionId"], r["resourceGroup"]) for r in rows] == sorted(listed)
    assert all(r["regions"] == 1 for r in rows)
    assert set(rows[0]) == {"subscriptionId", "resourceGroup", "vms", "names", "regions"}


def test_a_join_of_vms_and_their_extensions_equals_the_extension_listings(estate: Arm) -> None:
    rows = Graph(estate).rows("""Resources
        | where type =~ 'Microsoft.Compute/virtualMachines/extensions'
        | extend vmId = tolower(tostring(split(id, '/extensions/')[0]))
        | join kind=inner (
            Resources
            | where type == 'microsoft.compute/virtualmachines'
            | project vmId = tolower(id), vmName = name, power = tostring(properties.extended.instanceView.powerState.code)
        ) on vmId
        | summarize extensions = make_set(name), states = make_set(tostring(properties.provisioningState)) by vmId, vmName, power""")
    expected: dict[str, set[str]] = {}
    for vm in _vms(estate):
        with estate.client(ComputeManagementClient, vm.id.split("/")[2]) as compute:
            names = {e.name for e in compute.virtual_machine_extensions.list(_rg(vm.id), vm.name).value or []}
        if names:
            expected[vm.id.lower()] = names
    assert {r["vmId"]: set(r["extensions"]) for r in rows} == expected and len(expected) > 10
    assert all(r["power"].startswith("PowerState/") for r in rows)
    assert any("Failed" in r["states"] for r in rows)  # the failed-vmsnapshot VM


def test_a_leftouter_join_finds_the_vms_no_vault_protects(estate: Arm) -> None:
    graph = Graph(estate)
    rows = graph.rows("""Resources
        | where type == 'microsoft.compute/virtualmachines'
        | project vmId = tolower(id), name
        | join kind=leftouter (
            RecoveryServicesResources
            | where type == 'microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems'
            | project itemId = id, vmId = tolower(tostring(properties.sourceResourceId))
        ) on vmId
        | where isempty(itemId)
        | project vmId""")
    protected: set[str] = set()
    for sub in estate.subscription_ids:
        with estate.client(RecoveryServicesBackupClient, sub) as backup, \
                estate.client(ResourceManagementClient, sub) as arm_client:
            for vault in arm_client.resources.list(filter="resourceType eq 'Microsoft.RecoveryServices/vaults'"):
                for item in backup.backup_protected_items.list(vault.name, _rg(vault.id)):
                    protected.add(str(item.properties.source_resource_id).lower())
    unprotected = {vm.id.lower() for vm in _vms(estate)} - protected
    assert {r["vmId"] for r in rows} == unprotected
    # and the inner join's complement: every protected VM that exists is matched once
    matched = graph.rows("""Resources | where type == 'microsoft.compute/virtualmachines' | project vmId = tolower(id)
        | join kind=inner (RecoveryServicesResources
            | where type endswith '/protecteditems' | project vmId = tolower(tostring(properties.sourceResourceId)))
          on vmId | count""")
    assert matched == [{"Count": len({vm.id.lower() for vm in _vms(estate)} & protected)}]


def test_arg_max_gives_each_vms_latest_job_as_the_job_listing_does(estate: Arm) -> None:
    rows = Graph(estate).rows("""RecoveryServicesResources
        | where type == 'microsoft.recoveryservices/vaults/backupjobs' and properties.operation == 'Backup'
        | extend start = todatetime(properties.startTime), vault = tolower(tostring(split(id, '/backupJobs/')[0]))
        | summarize arg_max(start, name, properties) by vault, container = tolower(tostring(properties.containerName))
        | project vault, container, job = name, status = tostring(properties.status)""")
    latest: dict[tuple[str, str], tuple[datetime, str, str]] = {}
    since = estate.sandbox.clock.now() - timedelta(days=14)
    for sub in estate.subscription_ids:
        with estate.client(RecoveryServicesBackupClient, sub) as backup, \
                estate.client(ResourceManagementClient, sub) as arm_client:
            for vault in arm_client.resources.list(filter="resourceType eq 'Microsoft.RecoveryServices/vaults'"):
                for job in backup.backup_jobs.list(vault.name, _rg(vault.id)):
                    props = job.properties
                    if props.operation != "Backup" or props.start_time < since:
                        continue
                    key = (vault.id.lower(), str(props.container_name).lower())
                    if key not in latest or props.start_time > latest[key][0]:
                        latest[key] = (props.start_time, job.name, props.status)
    assert {(r["vault"], r["container"]): (r["job"], r["status"]) for r in rows} == {
        k: (v[1], v[2]) for k, v in latest.items()}
    assert {r["status"] for r in rows} >= {"Completed", "Failed"}


def test_mv_expand_and_resource_containers_agree_with_the_resource_listings(estate: Arm) -> None:
    graph = Graph(estate)
    tags = graph.rows("""Resources
        | where type == 'microsoft.compute/virtualmachines'
        | mv-expand tag = tags
        | extend key = tostring(tag)
        | summarize vms = count() by key""")
    listed: Counter[str] = Counter()
    for vm in _vms(estate):
        for k, v in (vm.tags or {}).items():
            listed[f'{{"{k}":"{v}"}}'] += 1
    assert {r["key"]: r["vms"] for r in tags} == dict(listed) and listed
    groups = graph.rows("""ResourceContainers
        | where type == 'microsoft.resources/subscriptions/resourcegroups'
        | join kind=leftouter (Resources | summarize resources = count() by resourceGroup, subscriptionId)
          on $left.resourceGroup == $right.resourceGroup, $left.subscriptionId == $right.subscriptionId
        | project subscriptionId, name, resources = coalesce(resources, 0)""")
    expected = {}
    for sub in estate.subscription_ids:
        with estate.client(ResourceManagementClient, sub) as arm_client:
            for group in arm_client.resource_groups.list():
                expected[(sub, group.name)] = len(list(arm_client.resources.list_by_resource_group(group.name)))
    assert {(r["subscriptionId"], r["name"]): r["resources"] for r in groups} == expected
    subs = graph.rows("ResourceContainers | where type == 'microsoft.resources/subscriptions' | project subscriptionId")
    assert sorted(r["subscriptionId"] for r in subs) == sorted(estate.subscription_ids)


def test_ago_reads_the_virtual_clock_and_jobs_leave_the_table_after_14_days(estate: Arm) -> None:
    graph = Graph(estate)
    query = "RecoveryServicesResources | where type endswith '/backupjobs' | summarize n = count(), oldest = min(todatetime(properties.startTime))"
    before = graph.rows(query)[0]
    recent = graph.rows(f"{query.split(' | summarize')[0]} | where todatetime(properties.startTime) > ago(1d) | count")
    assert before["n"] > recent[0]["Count"] > 0
    estate.advance(15 * 86400)
    assert graph.rows(query)[0]["n"] < before["n"]
    assert graph.rows(f"{query.split(' | summarize')[0]} | where todatetime(properties.startTime) > ago(1d) | count") \
        == [{"Count": 0}]


def test_paging_reads_the_first_pages_snapshot(estate: Arm) -> None:
    graph = Graph(estate)
    query = "Resources | where type endswith '/extensions' | project id, name | order by id asc"
    status, first = graph.post(query, **{"$top": 10})
    assert status == 200 and first["count"] == 10 and first["$skipToken"]
    total = first["totalRecords"]
    vm_id, _, extension = first["data"][0]["id"].partition("/extensions/")
    with estate.client(ComputeManagementClient, vm_id.split("/")[2]) as compute:
        compute.virtual_machine_extensions.begin_delete(_rg(vm_id), vm_id.split("/")[-1], extension).result()
    status, rest = graph.post(query, **{"$top": 1000, "$skipToken": first["$skipToken"]})
    assert status == 200 and rest["totalRecords"] == total and len(first["data"]) + len(rest["data"]) == total
    assert graph.post(query)[1]["totalRecords"] == total - 1  # a new query sees the change


@pytest.mark.parametrize(("query", "code", "token"), [
    ("Resources | where", "ParserFailure", ""),
    ("Resources | project nosuchcolumn", "SemanticError", "nosuchcolumn"),
    ("NoSuchTable | take 1", "SemanticError", "NoSuchTable"),
    ("Resources | parse id with * '/' rest", "InvalidQueryLanguage", "parse"),
    ("Resources | where name == 'x' | extend y = unknownfn(name)", "SemanticError", "unknownfn"),
])
def test_an_invalid_query_gets_resource_graphs_400(arm: Arm, query: str, code: str, token: str) -> None:
    arm.load("healthy")
    status, answer = Graph(arm).post(query)
    error = answer["error"]
    assert status == 400 and error["code"] == "BadRequest"
    assert error["message"].startswith("Please provide below info when asking for support: timestamp = ")
    invalid, detail = error["details"]
    assert invalid["code"] == "InvalidQuery" and invalid["message"].startswith("Query is invalid.")
    assert detail["code"] == code and detail["line"] == 1 and detail["characterPositionInLine"] >= 0
    assert detail.get("token", "") == token


@pytest.mark.parametrize(("query", "hint"), [
    ("T | where type =~ 'A/B' and n > 1", frozenset({"a/b"})),
    ("T | where n > 1 and type in~ ('x', 'Y')", frozenset({"x", "y"})),
    ("T | where type == 'a' or n > 1", None),  # an 'or' may keep other types
    ("T | extend type = 'a' | where type == 'a'", None),  # only the first operator restricts the source
    ("T | take 1", None),
])
def test_a_table_is_asked_only_for_the_types_the_first_where_keeps(query: str, hint: frozenset[str] | None) -> None:
    asked: list[frozenset[str] | None] = []

    def build(types: frozenset[str] | None) -> Table:
        asked.append(types)
        return Table(("type", "n"), [{"type": "a/b", "n": 2}])

    evaluate(parse(query), {"T": build}, clock=lambda: NOW, text=query)
    assert asked == [hint]
