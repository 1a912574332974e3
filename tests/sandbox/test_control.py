"""The control API (`/_sandbox/*`) and the managed-identity endpoint, in both modes: in-process through
`Sandbox.handle`, and over HTTPS through the real server."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm import Arm

from azbackup_sandbox.core.control import (
    IDENTITY_API_VERSION,
    MANAGED_IDENTITY_OBJECT_ID,
    identity_secret,
)
from azbackup_sandbox.core.timefmt import parse_time

ARM_RESOURCE = "https://management.azure.com"


def _error(answer: Any) -> dict[str, str]:
    payload = answer.json()
    assert set(payload["error"]) >= {"code", "message"}, payload
    return payload["error"]


def _groups(arm: Arm) -> list[str]:
    with arm.client(ResourceManagementClient) as client:
        return sorted(group.name for group in client.resource_groups.list())


# ---- reset, load, state --------------------------------------------------------------------------


def test_load_seeds_the_estate_and_reports_subscriptions(arm: Arm) -> None:
    loaded = arm.load("healthy")
    assert loaded["scenario"] == "healthy"
    assert loaded["subscription_ids"] == arm.subscription_ids != []
    state = arm.snapshot()
    assert state["scenario"] == "healthy"
    assert state["resources"]["compute"]["virtualMachines"]
    assert _groups(arm)  # the SDK sees the seeded estate


def test_load_passes_typed_params_to_the_scenario(arm: Arm) -> None:
    loaded = arm.load("fleet", vms=12, subscriptions=2, vaults=1)
    assert len(loaded["subscription_ids"]) == 2
    assert len(arm.snapshot()["resources"]["compute"]["virtualMachines"]) == 12


def test_load_query_params_are_parsed_as_ints(arm: Arm) -> None:
    answer = arm.call("POST", "/_sandbox/load", params={"scenario": "fleet", "vms": "5", "subscriptions": "1"})
    assert answer.status == 200, answer.body
    assert answer.json()["params"] == {"vms": 5, "subscriptions": 1}
    assert len(arm.snapshot()["resources"]["compute"]["virtualMachines"]) == 5


def test_load_errors(arm: Arm) -> None:
    unknown = arm.call("POST", "/_sandbox/load", params={"scenario": "no-such-estate"})
    assert unknown.status == 404
    assert _error(unknown)["code"] == "ScenarioNotFound"
    assert "no-such-estate" in _error(unknown)["message"] and "healthy" in _error(unknown)["message"]
    missing = arm.call("POST", "/_sandbox/load")
    assert missing.status == 400 and _error(missing)["code"] == "MissingScenario"
    bad = arm.call("POST", "/_sandbox/load", params={"scenario": "healthy", "bogus": "1"})
    assert bad.status == 400 and _error(bad)["code"] == "InvalidScenarioParameters"


def test_reset_empties_the_estate(arm: Arm) -> None:
    arm.load("healthy")
    arm.reset()
    state = arm.snapshot()
    assert state["scenario"] is None
    assert state["resources"]["resources"]["subscriptions"] == []
    assert state["time"].startswith("2026-11-02T08:00:00")


def test_state_is_the_snapshot(arm: Arm) -> None:
    arm.load("healthy")
    answer = arm.call("GET", "/_sandbox/state")
    assert answer.status == 200
    assert answer.json() == arm.snapshot()


def test_scenarios_lists_names_and_descriptions(arm: Arm) -> None:
    answer = arm.call("GET", "/_sandbox/scenarios")
    assert answer.status == 200
    listed = {item["name"]: item["description"] for item in answer.json()}
    assert "healthy" in listed and "fleet" in listed
    assert all(isinstance(text, str) and text for text in listed.values())


# ---- request log ---------------------------------------------------------------------------------


def test_request_log_records_sdk_calls_and_filters_by_seq(arm: Arm) -> None:
    arm.load("healthy")
    assert arm.requests() == []  # load starts a fresh log
    _groups(arm)
    _groups(arm)
    log = arm.requests()
    assert [r["operation"] for r in log] == ["ResourceGroups_List", "ResourceGroups_List"]
    first = log[0]
    assert first["method"] == "GET" and first["status"] == 200 and first["kind"] == "reads"
    assert first["path"].lower() == f"/subscriptions/{arm.subscription_id}/resourcegroups"
    assert "api-version=" in first["query"]
    assert [r["seq"] for r in arm.requests(since=first["seq"])] == [log[1]["seq"]]
    cleared = arm.call("DELETE", "/_sandbox/requests")
    assert cleared.status == 200 and cleared.json() == {"cleared": 2}
    assert arm.requests() == []


def test_control_calls_are_not_logged(arm: Arm) -> None:
    arm.load("healthy")
    arm.snapshot()
    arm.call("GET", "/_sandbox/clock")
    assert arm.requests() == []


# ---- faults --------------------------------------------------------------------------------------


def test_faults_post_get_delete(arm: Arm) -> None:
    one = arm.call("POST", "/_sandbox/faults", json={"operation": "ResourceGroups_Get", "status": 503})
    assert one.status == 200
    assert [rule["status"] for rule in one.json()] == [503]
    two = arm.call("POST", "/_sandbox/faults", json=[{"method": "PUT", "status": 409, "code": "Conflict"},
                                                      {"path": "/resourcegroups/", "drop": True, "times": 2}])
    assert [rule["drop"] for rule in two.json()] == [False, True]
    listed = arm.call("GET", "/_sandbox/faults").json()
    assert len(listed) == 3 and listed[2]["times"] == 2
    assert arm.call("DELETE", "/_sandbox/faults").json() == {"cleared": 3}
    assert arm.call("GET", "/_sandbox/faults").json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "X"},  # nothing to inject
        {"status": 500, "colour": "red"},  # unknown field
        {"status": 500, "path": "("},  # bad regex
        "not a rule",
        [],
    ],
)
def test_invalid_fault_rules_are_rejected_and_nothing_is_added(arm: Arm, body: Any) -> None:
    answer = arm.call("POST", "/_sandbox/faults", json=[{"status": 500}, body] if isinstance(body, dict) else body)
    assert answer.status == 400
    assert _error(answer)["code"] in ("InvalidFaultRule", "InvalidRequestContent")
    assert arm.call("GET", "/_sandbox/faults").json() == []


def test_drop_after_spellings(arm: Arm) -> None:
    rules = arm.call("POST", "/_sandbox/faults", json=[{"method": "POST", "drop_after": True},
                                                        {"method": "POST", "drop": "after"},
                                                        {"method": "POST", "drop": "before"}]).json()
    assert [(r["drop"], r["drop_after"]) for r in rules] == [(False, True), (False, True), (True, False)]
    for bad in ({"drop_after": True, "status": 500}, {"drop_after": True, "drop": True}, {"drop": "later"}):
        answer = arm.call("POST", "/_sandbox/faults", json=bad)
        assert answer.status == 400 and _error(answer)["code"] == "InvalidFaultRule", bad


def test_invalid_json_body_is_400(arm: Arm) -> None:
    answer = arm.call("POST", "/_sandbox/config", content=b"{nope", headers={"Content-Type": "application/json"})
    assert answer.status == 400 and _error(answer)["code"] == "InvalidRequestContent"


def test_injected_error_reaches_the_sdk_with_its_code(arm: Arm) -> None:
    arm.load("healthy")
    arm.add_faults({"operation": "ResourceGroups_List", "status": 409, "code": "SomethingBusy",
                    "message": "busy"})
    with pytest.raises(HttpResponseError) as caught:
        _groups(arm)
    assert caught.value.status_code == 409 and caught.value.error.code == "SomethingBusy"
    assert _groups(arm)  # times=1: the next call goes through
    log = arm.requests()
    assert [(r["status"], r["fault"], r["error_code"]) for r in log] == [
        (409, True, "SomethingBusy"), (200, False, None)
    ]


def test_dropped_connection_is_retried_by_the_sdk(arm: Arm) -> None:
    arm.load("healthy")
    arm.add_faults({"operation": "ResourceGroups_List", "drop": True})
    assert _groups(arm)
    assert [r["fault"] for r in arm.requests()] == [True, False]


def test_lost_answer_applies_the_change_and_then_drops_the_connection(arm: Arm) -> None:
    """drop_after: the PUT is processed (the group exists) but the client sees a dropped connection;
    the SDK's retry of the idempotent PUT then finds the group there."""
    arm.load("healthy")
    arm.add_faults({"operation": "ResourceGroups_CreateOrUpdate", "drop_after": True})
    client = arm.client(ResourceManagementClient)
    with pytest.raises(ServiceResponseError):
        client.resource_groups.create_or_update("rg-lost", {"location": "eastus"}, retry_total=0)
    assert arm.sandbox.resources.find_group(arm.sandbox.subscription_ids[0], "rg-lost") is not None
    (record,) = [r for r in arm.requests() if r["operation"] == "ResourceGroups_CreateOrUpdate"]
    assert (record["status"], record["fault"]) == (201, True)  # logged as processed, answer lost
    assert client.resource_groups.create_or_update("rg-lost", {"location": "eastus"}).name == "rg-lost"


def test_429_with_retry_after_is_waited_out_on_the_virtual_clock(arm: Arm) -> None:
    arm.load("healthy")
    before = parse_time(arm.call("GET", "/_sandbox/clock").json()["now"])
    arm.add_faults({"operation": "ResourceGroups_List", "status": 429, "retry_after": 600})
    assert _groups(arm)
    after = parse_time(arm.call("GET", "/_sandbox/clock").json()["now"])
    assert 600 <= (after - before).total_seconds() < 660  # waited out virtually, not for 10 real minutes


# ---- clock ---------------------------------------------------------------------------------------


def test_clock_get_and_advance(arm: Arm) -> None:
    start = arm.call("GET", "/_sandbox/clock").json()
    assert start == {"now": "2026-11-02T08:00:00.0000000+00:00", "rate": 0.0}
    moved = arm.call("POST", "/_sandbox/clock", params={"advance": "3600"})
    assert moved.status == 200 and moved.json()["now"] == "2026-11-02T09:00:00.0000000+00:00"
    assert arm.advance(1.5) == "2026-11-02T09:00:01.5000000+00:00"


@pytest.mark.parametrize("params", [{"advance": "-1"}, {"advance": "soon"}, {"advance": "nan"}, {}, {"rate": "-2"}])
def test_clock_rejects_bad_input(arm: Arm, params: dict[str, str]) -> None:
    answer = arm.call("POST", "/_sandbox/clock", params=params)
    assert answer.status == 400 and _error(answer)["code"] == "InvalidParameter"
    assert arm.call("GET", "/_sandbox/clock").json()["now"] == "2026-11-02T08:00:00.0000000+00:00"


# ---- config and RBAC -----------------------------------------------------------------------------


def test_config_updates_and_applies_switches(arm: Arm) -> None:
    answer = arm.call("POST", "/_sandbox/config", json={"page_size": 7, "rbac": True, "throttling": True,
                                                        "latency_ms": [0, 0]})
    assert answer.status == 200
    assert answer.json()["page_size"] == 7 and answer.json()["latency_ms"] == [0, 0]
    assert arm.sandbox.rbac.enforce and arm.sandbox.throttle.enforce
    assert arm.call("GET", "/_sandbox/config").json()["page_size"] == 7


@pytest.mark.parametrize("settings", [{"no_such_setting": 1}, {"latency_ms": [5, 1]}, [1, 2]])
def test_config_rejects_bad_settings_atomically(arm: Arm, settings: Any) -> None:
    body = [settings] if isinstance(settings, list) else {"page_size": 3, **settings}
    answer = arm.call("POST", "/_sandbox/config", json=body)
    assert answer.status == 400
    assert arm.call("GET", "/_sandbox/config").json()["page_size"] == 100


def test_rbac_enforced_only_for_unassigned_principals(arm: Arm) -> None:
    arm.load("healthy")
    arm.configure(rbac=True)
    with pytest.raises(HttpResponseError) as caught:
        _groups(arm)
    assert caught.value.status_code == 403 and caught.value.error.code == "AuthorizationFailed"
    assigned = arm.call("POST", "/_sandbox/rbac", json={"object_id": "reader-1", "role": "Reader",
                                                        "token": arm.credential.token})
    assert assigned.status == 200 and assigned.json()["actions"] == ["*/read"]
    seq = arm.requests()[-1]["seq"]
    assert _groups(arm)
    with arm.client(ResourceManagementClient) as client, pytest.raises(HttpResponseError) as denied:
        client.resource_groups.create_or_update("new-rg", {"location": "eastus"})
    assert denied.value.status_code == 403
    assert [(r["principal"], r["status"]) for r in arm.requests(since=seq)] == [("reader-1", 200), ("reader-1", 403)]
    listed = arm.call("GET", "/_sandbox/rbac").json()
    assert listed["enforce"] is True and listed["principals"][0]["object_id"] == "reader-1"


@pytest.mark.parametrize(
    "body",
    [{}, {"role": "Owner"}, {"object_id": "x"}, {"object_id": "x", "role": "Janitor"},
     {"object_id": "x", "role": "Owner", "actions": ["*"]}, {"object_id": "x", "actions": "*", "extra": 1}],
)
def test_rbac_rejects_bad_assignments(arm: Arm, body: dict[str, Any]) -> None:
    answer = arm.call("POST", "/_sandbox/rbac", json=body)
    assert answer.status == 400
    assert arm.sandbox.rbac.principals == {}


# ---- routing -------------------------------------------------------------------------------------


def test_unknown_control_route_and_method(arm: Arm) -> None:
    unknown = arm.call("GET", "/_sandbox/teleport")
    assert unknown.status == 404 and "/_sandbox/teleport" in _error(unknown)["message"]
    wrong = arm.call("DELETE", "/_sandbox/state")
    assert wrong.status == 405 and _error(wrong)["code"] == "MethodNotAllowed"


def test_unknown_arm_route_names_the_route(arm: Arm) -> None:
    arm.load("healthy")
    path = f"/subscriptions/{arm.subscription_id}/providers/Microsoft.Teleport/beams/b1"
    answer = arm.call("GET", path, params={"api-version": "2024-01-01"})
    assert answer.status == 404
    error = _error(answer)
    assert error["code"] == "InvalidResourceType"
    assert f"GET {path}" in error["message"] and "2024-01-01" in error["message"]


def test_missing_resource_group_is_arm_404_through_the_sdk(arm: Arm) -> None:
    arm.load("healthy")
    with arm.client(ResourceManagementClient) as client, pytest.raises(ResourceNotFoundError) as caught:
        client.resource_groups.get("no-such-group")
    assert caught.value.error.code == "ResourceGroupNotFound"


# ---- managed identity endpoint -------------------------------------------------------------------


def _identity(arm: Arm, *, header: str | None, **params: str) -> Any:
    query = {"api-version": IDENTITY_API_VERSION, "resource": ARM_RESOURCE, **params}
    headers = {"X-IDENTITY-HEADER": header} if header is not None else {}
    return arm.call("GET", "/_sandbox/identity", params=query, headers=headers)


@pytest.mark.parametrize("resource", [ARM_RESOURCE, ARM_RESOURCE + "/"])
def test_identity_endpoint_issues_tokens_for_the_managed_identity(arm: Arm, resource: str) -> None:
    import time

    arm.load("healthy")
    answer = _identity(arm, header=identity_secret(arm.sandbox), resource=resource)
    assert answer.status == 200
    payload = answer.json()
    assert payload["resource"] == resource and payload["token_type"] == "Bearer"
    assert isinstance(payload["expires_on"], str) and payload["expires_on"].isdigit()
    assert int(payload["expires_on"]) > time.time() + 3600  # real epoch seconds: MSAL compares with time.time()
    token = payload["access_token"]
    assert _identity(arm, header=identity_secret(arm.sandbox)).json()["access_token"] != token
    listed = arm.call("GET", f"/subscriptions/{arm.subscription_id}/resourcegroups",
                      params={"api-version": "2021-04-01"}, token=token)
    assert listed.status == 200
    assert arm.requests()[-1]["principal"] == MANAGED_IDENTITY_OBJECT_ID


def test_identity_endpoint_user_assigned_identity(arm: Arm) -> None:
    arm.load("healthy")
    answer = _identity(arm, header=identity_secret(arm.sandbox), object_id="uami-object-id")
    token = answer.json()["access_token"]
    arm.call("GET", f"/subscriptions/{arm.subscription_id}", params={"api-version": "2022-12-01"}, token=token)
    assert arm.requests()[-1]["principal"] == "uami-object-id"


@pytest.mark.parametrize("header", [None, "", "wrong-secret"])
def test_identity_endpoint_requires_the_secret(arm: Arm, header: str | None) -> None:
    answer = _identity(arm, header=header)
    assert answer.status == 401
    assert _error(answer)["code"] == "InvalidIdentityHeader"
    assert arm.sandbox.rbac.tokens == {}


def test_identity_endpoint_validates_its_query(arm: Arm) -> None:
    secret = identity_secret(arm.sandbox)
    old = _identity(arm, header=secret, **{"api-version": "2017-09-01"})
    assert old.status == 400 and _error(old)["code"] == "UnsupportedApiVersion"
    no_resource = _identity(arm, header=secret, resource="")
    assert no_resource.status == 400 and _error(no_resource)["code"] == "MissingResource"


# ---- long-running operations -------------------------------------------------------------------


def test_lro_polling_runs_on_the_virtual_clock(arm: Arm) -> None:
    from azure.mgmt.compute import ComputeManagementClient

    arm.load("healthy")
    assert arm.call("GET", "/_sandbox/clock").json()["rate"] == 0  # frozen: only the transport's sleep moves it
    vm_id = arm.snapshot()["resources"]["backup"]["protectedItems"][0]["vmId"]
    group, name = vm_id.split("/")[4], vm_id.split("/")[-1]
    before = parse_time(arm.call("GET", "/_sandbox/clock").json()["now"])
    with arm.client(ComputeManagementClient) as client:
        client.virtual_machines.begin_restart(group, name).result()
    after = parse_time(arm.call("GET", "/_sandbox/clock").json()["now"])
    assert (after - before).total_seconds() >= arm.sandbox.config.vm_action_seconds
    # The clock stood still but for the poller's sleeps, so the LRO's wait was spent on it, not in real time.
    operations = [r["operation"] for r in arm.requests()]
    assert operations[0] == "VirtualMachines_Restart" and "ComputeOperations_Get" in operations
