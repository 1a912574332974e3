"""Estate files: the documented schema and its loader, one-line validation errors naming the field,
export/load round trips, the shipped estates (each consistent with the job engine), and the entry
points (Sandbox(estate=), POST /_sandbox/load with a document, GET /_sandbox/estate, serve --estate)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup import models as m
from azure.mgmt.resource.locks import ManagementLockClient
from sandbox_arm import Arm

from azbackup_sandbox import Sandbox
from azbackup_sandbox.scenarios import SHIPPED_ESTATES, list_scenarios
from azbackup_sandbox.scenarios.files import ESTATES_DIR, EstateFileError, dump_yaml
from azbackup_sandbox.scenarios.schema import KEYS, subscription_guid
from tests.sandbox_cli import read_line

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "estate-files.md"


def _doc_example() -> dict[str, Any]:
    match = re.search(r"## A complete example\n\n```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/estate-files.md lost its complete example"
    # As a JSON body would carry it: YAML's unquoted timestamps become strings.
    return json.loads(json.dumps(yaml.safe_load(match.group(1)), default=str))


def _minimal() -> dict[str, Any]:
    return {
        "subscriptions": [{
            "label": "lab",
            "vms": [{"name": "vm-a", "resourceGroup": "rg-a"}, {"name": "vm-b", "resourceGroup": "rg-a"}],
            "vaults": [{"name": "rsv", "resourceGroup": "rg-backup", "policies": [{"name": "Daily"}],
                        "protectedItems": [{"vm": "vm-a", "policy": "Daily"}]}],
        }],
    }


# ---- the loader ----------------------------------------------------------------------------------
def test_the_doc_example_loads_and_reads_back_through_the_sdk(arm: Arm) -> None:
    example = _doc_example()
    arm.call("POST", "/_sandbox/load", json=example)
    sub = subscription_guid("contoso-prod")
    assert arm.subscription_ids == [sub]
    compute = arm.client(ComputeManagementClient)
    vm = compute.virtual_machines.get("rg-app-prod", "vm-app-01", expand="instanceView")
    assert vm.zones == ["1"] and vm.tags == {"env": "prod"}
    assert vm.os_profile.windows_configuration.provision_vm_agent is True
    assert vm.instance_view.vm_agent.statuses[0].display_status == "Not Ready"
    assert [d.disk_size_gb for d in vm.storage_profile.data_disks] == [512]
    linux = compute.virtual_machines.get("rg-app-prod", "vm-app-02", expand="instanceView")
    assert linux.instance_view.statuses[0].code == "ProvisioningState/failed/VMExtensionProvisioningError"
    assert {v.name for v in compute.virtual_machines.list("rg-app-prod")} == {"vm-app-01", "vm-app-02"}
    locks = arm.client(ManagementLockClient).management_locks.list_at_resource_group_level("AzureBackupRG_eastus_1")
    assert [(lk.name, lk.level) for lk in locks] == [("rg-no-delete", "CanNotDelete")]
    rpc = compute.restore_point_collections.list("AzureBackupRG_eastus_1")
    (only,) = list(rpc)
    full = compute.restore_point_collections.get("AzureBackupRG_eastus_1", only.name, expand="restorePoints")
    assert len(full.restore_points) == 18

    backup = arm.client(RecoveryServicesBackupClient)
    items = {i.name.split(";")[-1]: i for i in backup.backup_protected_items.list("rsv-prod-eastus",
                                                                                  "rg-backup-prod")}
    assert set(items) == {"vm-app-01", "vm-app-02", "vm-old-01"}
    jobs = {j.properties.entity_friendly_name: j.properties
            for j in backup.backup_jobs.list("rsv-prod-eastus", "rg-backup-prod")}  # newest first
    # vm-app-01's backup ran through the job engine: its agent is Not Ready.
    assert [e.error_title for e in jobs["vm-app-01"].error_details] == ["UserErrorGuestAgentStatusUnavailable"]


def test_a_label_is_a_stable_guid_and_defaults_fill_in() -> None:
    sb = Sandbox(estate=_minimal())
    sub = subscription_guid("lab")
    assert sb.subscription_ids == [sub]
    vm = sb.compute.get_vm(sub, "rg-a", "vm-a")
    assert (vm.os_type, vm.power_state, vm.agent.status, vm.location, vm.os_disk_size_gb) == (
        "Windows", "running", "Ready", "eastus", 127)
    assert sb.resources.find_group(sub, "rg-backup") is not None  # implied by the vault
    assert Sandbox(estate=_minimal()).snapshot() == sb.snapshot()  # deterministic ids


def test_zones_and_provision_vm_agent_reach_the_wire() -> None:
    doc = _set("subscriptions.0.vms.1", {"name": "vm-b", "resourceGroup": "rg-a", "osType": "Linux",
                                         "provisionVMAgent": False, "zones": [2]})
    arm = Arm("inprocess", Sandbox(estate=doc))
    vm = arm.client(ComputeManagementClient).virtual_machines.get("rg-a", "vm-b")
    assert vm.os_profile.linux_configuration.provision_vm_agent is False and vm.zones == ["2"]


def test_run_backups_goes_through_the_job_engine() -> None:
    doc = _minimal()
    doc["subscriptions"][0]["vaults"][0]["protectedItems"][0]["runBackups"] = 2
    sb = Sandbox(estate=doc)
    jobs = sb.snapshot()["resources"]["backup"]["jobs"]
    assert [j["status"] for j in jobs] == ["Completed", "Completed"]
    (rpc,) = sb.compute.list_collections(subscription_guid("lab"))
    assert rpc.resource_group == "AzureBackupRG_eastus_1" and len(rpc.points) == 2


def test_a_yaml_or_json_file_loads(tmp_path: Path) -> None:
    as_yaml, as_json = tmp_path / "lab.yaml", tmp_path / "lab.json"
    as_yaml.write_text(dump_yaml(_minimal()), encoding="utf-8")
    as_json.write_text(json.dumps(_minimal()), encoding="utf-8")
    one, two = Sandbox(estate=as_yaml), Sandbox(estate=str(as_json))
    assert one.scenario_name == "lab" == two.scenario_name
    assert one.snapshot() == two.snapshot()


# ---- validation ----------------------------------------------------------------------------------
def _set(path: str, value: Any) -> dict[str, Any]:
    """The minimal document with one value set (`a.b[0].c`); `DELETE` removes the key."""
    doc = copy.deepcopy(_minimal())
    *parents, last = re.findall(r"[^.\[\]]+", path)
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value == "DELETE":
        del node[last]
    elif isinstance(node, list) and int(last) == len(node):
        node.append(value)
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc


VM = "subscriptions[0].vms[0]"
ITEM = "subscriptions[0].vaults[0].protectedItems[0]"

BAD = [
    # (field set, value, the one line)
    ("subscriptions.0.vms.0.powerState", "runing",
     f"{VM}.powerState: expected one of running, stopped, deallocated, got 'runing'"),
    ("subscriptions.0.vms.0.sise", 1, f"{VM}.sise: unknown key (expected one of name, resourceGroup, "),
    ("subscriptions.0.vms.0.name", "DELETE", f"{VM}.name: required"),
    ("subscriptions.0.vms.0.name", 7, f"{VM}.name: expected a non-empty string, got 7"),
    ("subscriptions.0.vms.0.name", "bad name!", f"{VM}.name: expected a resource name"),
    ("subscriptions.0.vms.0.osDisk", {"diskSizeGB": "big"}, f"{VM}.osDisk.diskSizeGB: expected an integer, "
                                                            "got 'big'"),
    ("subscriptions.0.vms.0.dataDisks", [{"lun": 64, "diskSizeGB": 1}],
     f"{VM}.dataDisks[0].lun: expected an integer <= 63, got 64"),
    ("subscriptions.0.vms.0.provisionVMAgent", "yes", f"{VM}.provisionVMAgent: expected true or false, got 'yes'"),
    ("subscriptions.0.vms.0.tags", ["a"], f"{VM}.tags: expected a mapping of strings, got a list"),
    ("subscriptions.0.vms.0.zones", ["4"], f"{VM}.zones[0]: expected one of 1, 2, 3, got '4'"),
    ("subscriptions.0.vms.0.vmId", "nope", f"{VM}.vmId: expected a GUID"),
    ("subscriptions.0.vms.0.timeCreated", "yesterday", f"{VM}.timeCreated: expected an ISO 8601 time"),
    ("subscriptions.0.vms.0.extensions", {"name": "x"}, f"{VM}.extensions: expected a list, got a mapping"),
    ("subscriptions.0.vms.0.vmAgent", {"status": "Sleepy"},
     f"{VM}.vmAgent.status: expected one of Ready, 'Not Ready', '', got 'Sleepy'"),
    ("subscriptions.0.vms.0.provisioningState", "Failed", f"{VM}.provisioningState: expected provisioningError"),
    ("subscriptions.0.vms.1.name", "vm-a", "subscriptions[0].vms[1]: duplicate VM 'vm-a' in 'rg-a'"),
    ("subscriptions.0.id", "00000000-0000-0000-0000-000000000001", "subscriptions[0]: expected exactly one of id, "
                                                                   "label"),
    ("subscriptions", [], "subscriptions: expected at least one subscription, got an empty list"),
    ("subscriptions.0.vaults.0.protectedItems.0.vm", "vm-zz",
     f"{ITEM}.vm: expected a VM of this subscription's vms, got 'vm-zz'"),
    ("subscriptions.0.vaults.0.protectedItems.0.policy", "Weekly",
     f"{ITEM}.policy: expected one of the vault's policies (Daily), got 'Weekly'"),
    ("subscriptions.0.vaults.0.protectedItems.0.runBackups", -1, f"{ITEM}.runBackups: expected an integer >= 0"),
    ("subscriptions.0.vaults.0.protectedItems.0.jobs", [{"status": "Failed", "startTime": "2026-11-01T02:00:00Z"}],
     f"{ITEM}.jobs[0].errorDetails: expected at least one error for a Failed job, got none"),
    ("subscriptions.0.vaults.0.protectedItems.0.jobs",
     [{"status": "Completed", "startTime": "2026-11-01T02:00:00Z", "endTime": "2026-11-01T01:00:00Z"}],
     f"{ITEM}.jobs[0].endTime: expected a time at or after startTime"),
    ("subscriptions.0.locks", [{"name": "l", "scope": "resourceGroups/rg-nowhere"}],
     "subscriptions[0].locks[0].scope: expected a resource group of this subscription, got 'rg-nowhere'"),
    ("subscriptions.0.locks", [{"name": "l", "level": "Frozen"}],
     "subscriptions[0].locks[0].level: expected one of CanNotDelete, ReadOnly, got 'Frozen'"),
    ("subscriptions.0.restorePointCollections", [{"resourceGroup": "rg-rp", "source": "vm-a", "restorePoints": "x"}],
     "subscriptions[0].restorePointCollections[0].restorePoints: expected a list, got 'x'"),
]


@pytest.mark.parametrize(("field", "value", "line"), BAD, ids=[b[2].split(":")[0] + "|" + b[0] for b in BAD])
def test_a_bad_document_gets_one_line_naming_the_field(field: str, value: Any, line: str) -> None:
    with pytest.raises(EstateFileError) as caught:
        Sandbox(estate=_set(field, value))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"estate: {line}"), message


def test_a_file_error_names_the_file_and_yaml_syntax_its_position(tmp_path: Path) -> None:
    path = tmp_path / "estate.yaml"
    path.write_text(dump_yaml(_set("subscriptions.0.vms.2", {"name": "vm-c", "resourceGroup": "rg-a",
                                                             "powerState": "runing"})), encoding="utf-8")
    with pytest.raises(EstateFileError) as caught:
        Sandbox(estate=path)
    assert str(caught.value) == ("estate.yaml: subscriptions[0].vms[2].powerState: expected one of running, "
                                 "stopped, deallocated, got 'runing'")
    path.write_text("subscriptions:\n  - label: [unclosed\n", encoding="utf-8")
    with pytest.raises(EstateFileError, match=r"^estate.yaml: line \d+, column \d+: not valid YAML/JSON"):
        Sandbox(estate=path)
    with pytest.raises(EstateFileError, match="^missing.yaml: cannot read the file"):
        Sandbox(estate=tmp_path / "missing.yaml")
    with pytest.raises(EstateFileError, match="^estate: expected a mapping, got a list"):
        Sandbox(estate=[])  # type: ignore[arg-type]


def test_a_failed_load_leaves_the_previous_estate_intact() -> None:
    sb = Sandbox(scenario="healthy")
    sb.advance(60)
    before = sb.snapshot()
    with pytest.raises(EstateFileError):
        sb.load_estate(_set("subscriptions.0.vms.0.powerState", "runing"))
    assert sb.snapshot() == before and sb.scenario_name == "healthy"


def test_the_doc_names_every_key_the_schema_accepts() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted({f"{what}.{key}" for what, keys in KEYS.items() for key in keys
                      if not re.search(rf"\b{re.escape(key)}\b", text)})
    assert not missing, f"docs/estate-files.md does not mention {missing}"


# ---- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", [*SHIPPED_ESTATES, "fleet"])
def test_load_export_load_gives_the_same_snapshot(scenario: str) -> None:
    params = {"vms": 40, "subscriptions": 2} if scenario == "fleet" else {}
    first = Sandbox()
    first.load(scenario, **params)
    exported = first.export_estate()
    second = Sandbox(estate=yaml.safe_load(dump_yaml(exported)))  # through YAML text, as a file would be
    assert second.snapshot() == first.snapshot()
    assert second.export_estate() == exported


def test_get_estate_over_the_control_api_round_trips(arm: Arm) -> None:
    arm.load("rp-limit-custom-rg")
    before = arm.snapshot()
    exported = arm.call("GET", "/_sandbox/estate").json()
    arm.reset()
    loaded = arm.call("POST", "/_sandbox/load", json=exported)
    assert loaded.status == 200 and loaded.json()["scenario"] == "rp-limit-custom-rg"
    assert arm.snapshot() == before


def test_ids_made_after_loading_an_export_never_repeat_its_ids() -> None:
    """An export holds ids the sandbox drew; a reload must not draw them again (a new job would
    overwrite an old one)."""
    arm = Arm("inprocess", Sandbox(scenario="healthy"))
    document = arm.sandbox.export_estate()
    (sub,) = document["subscriptions"]
    (vault,) = sub["vaults"]
    _trigger(arm, sub["id"], vault, vault["protectedItems"][0]["vm"])
    exported = arm.sandbox.export_estate()
    arm = Arm("inprocess", Sandbox(estate=exported))
    before = {j["id"] for j in arm.snapshot()["resources"]["backup"]["jobs"]}
    _trigger(arm, sub["id"], vault, vault["protectedItems"][1]["vm"])
    after = {j["id"] for j in arm.snapshot()["resources"]["backup"]["jobs"]}
    assert before < after and len(after) == len(before) + 1


# ---- the shipped estates ---------------------------------------------------------------------------
def test_every_shipped_estate_is_listed_and_packaged() -> None:
    names = [s.name for s in list_scenarios()]
    assert set(SHIPPED_ESTATES) <= set(names) and "demo" in SHIPPED_ESTATES and len(SHIPPED_ESTATES) == 24
    assert {p.stem for p in ESTATES_DIR.glob("*.yaml")} == set(SHIPPED_ESTATES)
    assert '"estates/*.yaml"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for scenario in list_scenarios():
        assert scenario.description, scenario.name


def _trigger(arm: Arm, subscription: str, vault: dict[str, Any], vm: dict[str, str]) -> Any:
    """An on-demand backup through the SDK; the job's properties once the engine is done with it."""
    sb = arm.sandbox
    backup = arm.client(RecoveryServicesBackupClient, subscription)
    group, name = vm["resourceGroup"].lower(), vm["name"].lower()
    container, item = f"IaasVMContainer;iaasvmcontainerv2;{group};{name}", f"VM;iaasvmcontainerv2;{group};{name}"
    headers = backup.backups.trigger(
        vault["name"], vault["resourceGroup"], "Azure", container, item,
        m.BackupRequestResource(properties=m.IaasVMBackupRequest()),
        cls=lambda pipeline, _d, _h: dict(pipeline.http_response.headers))
    op_id = headers["Azure-AsyncOperation"].split("/operationsStatus/")[1].split("?")[0]
    status = backup.protected_item_operation_statuses.get(vault["name"], vault["resourceGroup"], "Azure",
                                                          container, item, op_id)
    arm.advance(sb.config.backup_snapshot_seconds + sb.config.backup_transfer_seconds
                + sb.config.backup_fail_seconds + 60)
    return backup.job_details.get(vault["name"], vault["resourceGroup"], status.properties["jobId"]).properties


@pytest.mark.parametrize("name", SHIPPED_ESTATES)
def test_a_shipped_estate_is_what_the_job_engine_makes_of_it(name: str) -> None:
    """Trigger one more backup of every item through the SDK: it ends as the estate's latest job did,
    whether the file spells its history out (`jobs`) or has the engine make it (`runBackups`)."""
    sb = Sandbox(scenario=name)
    arm = Arm("inprocess", sb)
    latest_jobs = {}
    for item in sb.backup.items.values():
        jobs = [j for j in sb.backup.jobs_for_vm(item.vm_id) if j.operation == "Backup" and j.start is not None]
        latest = max(jobs, key=lambda j: j.start) if jobs else None
        if latest is not None and not latest.running:
            latest_jobs[item.vm_id] = (item, latest.status, [e.error_title for e in latest.errors])
    for item, status, titles in latest_jobs.values():
        group, vm = item.vm_id.split("/")[4], item.vm_id.split("/")[-1]
        vault = {"name": item.vault.name, "resourceGroup": item.vault.resource_group}
        job = _trigger(arm, item.vault.subscription_id, vault, {"resourceGroup": group, "name": vm})
        assert (job.status, [e.error_title for e in job.error_details or []]) == (status, titles), (name, vm)
    assert len(latest_jobs) >= 2


# ---- entry points ----------------------------------------------------------------------------------
def test_post_load_with_a_document_json_or_yaml(arm: Arm) -> None:
    answer = arm.call("POST", "/_sandbox/load", json=_minimal())
    assert answer.status == 200, answer.body
    assert answer.json()["subscription_ids"] == [subscription_guid("lab")]
    state = arm.snapshot()
    as_yaml = arm.call("POST", "/_sandbox/load", content=dump_yaml(_minimal()).encode(),
                       headers={"Content-Type": "application/yaml"})
    assert as_yaml.status == 200 and arm.snapshot() == state
    assert arm.call("POST", "/_sandbox/load", params={"scenario": "healthy"}).status == 200  # still works


def test_post_load_with_a_bad_document_is_400_and_changes_nothing(arm: Arm) -> None:
    arm.load("healthy")
    before = arm.snapshot()
    bad = arm.call("POST", "/_sandbox/load", json=_set("subscriptions.0.vms.0.powerState", "runing"))
    assert bad.status == 400
    error = bad.json()["error"]
    assert error["code"] == "InvalidEstate"
    assert error["message"] == (f"estate: {VM}.powerState: expected one of running, stopped, deallocated, "
                                "got 'runing'")
    assert arm.snapshot() == before


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_cli_serve_estate_over_https(tmp_path: Path) -> None:
    estate = tmp_path / "lab.yaml"
    estate.write_text(dump_yaml(_minimal()), encoding="utf-8")
    expected = Sandbox(estate=estate).snapshot()
    proc = subprocess.Popen(
        [sys.executable, "-m", "azbackup_sandbox.cli", "serve", "--estate", str(estate), "--clock-rate", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env(),
    )
    try:
        ready = json.loads(read_line(proc, 60))
        assert ready["subscription_ids"] == [subscription_guid("lab")]
        state = requests.get(ready["endpoint"] + "/_sandbox/state", verify=ready["ca_file"], timeout=10).json()
        assert state == expected
        exported = requests.get(ready["endpoint"] + "/_sandbox/estate", verify=ready["ca_file"], timeout=10).json()
        assert Sandbox(estate=exported).snapshot() == expected
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_cli_rejects_a_bad_estate_file_with_one_line(tmp_path: Path) -> None:
    estate = tmp_path / "estate.yaml"
    estate.write_text(dump_yaml(_set("subscriptions.0.vms.0.powerState", "runing")), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "azbackup_sandbox.cli", "state", "--estate", str(estate)],
                          capture_output=True, text=True, env=_cli_env(), timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"azbackup-sandbox: error: {estate}: {VM}.powerState: expected one of running, "
                                   "stopped, deallocated, got 'runing'")


def test_cli_scenarios_lists_the_shipped_estates_and_export_writes_one() -> None:
    listed = subprocess.run([sys.executable, "-m", "azbackup_sandbox.cli", "scenarios"], capture_output=True,
                            text=True, env=_cli_env(), timeout=60, check=True).stdout
    assert {line.split()[0] for line in listed.splitlines()} >= set(SHIPPED_ESTATES) | {"fleet", "fleet-small"}
    exported = subprocess.run([sys.executable, "-m", "azbackup_sandbox.cli", "export", "--scenario", "demo"],
                              capture_output=True, text=True, env=_cli_env(), timeout=60, check=True).stdout
    assert Sandbox(estate=yaml.safe_load(exported)).snapshot() == Sandbox(scenario="demo").snapshot()
