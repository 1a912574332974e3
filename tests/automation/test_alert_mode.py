"""Runbook mode `alert`, end to end: an Azure Monitor action group calls the Automation webhook with Azure
Backup's job-failure alert (common alert schema); the job (the shipped runbook, a real process with the
managed identity) finds the VM and the job, diagnoses and fixes under the playbook file's guard rails; the
same alert again changes nothing; an unreadable payload is one line in the Error stream and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from azure.mgmt.automation.models import WebhookCreateOrUpdateParameters

from azbackup_fix.alert import parse_webhook_data
from azbackup_fix.errors import InvalidInputError
from azbackup_sandbox import Sandbox
from tests.automation.automation_sandbox import ACCOUNT, GROUP, AutomationSandbox, automation_sandbox

WRITES = ("PUT", "POST", "DELETE", "PATCH")


def backup_alert(vm_id: str, vault_id: str, job_id: str, *, alert_id: str = "a1", condition: str = "Fired") -> dict:
    """Azure Backup's built-in job-failure alert as an action group delivers it (docs/alerts.md)."""
    sub = vm_id.split("/")[2]
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": {
            "alertId": f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{alert_id}",
            "alertRule": "Backup Failure", "severity": "Sev1", "signalType": "Log", "monitorCondition": condition,
            "monitoringService": "Azure Backup", "alertTargetIDs": [vault_id.lower()],
            "configurationItems": [vault_id.rsplit("/", 1)[-1]], "targetResourceType": "microsoft.recoveryservices/vaults",
            "originAlertId": f"{alert_id}_usererrorrpcollectionlimitreached", "firedDateTime": "2026-11-02T08:00:00Z",
            "essentialsVersion": "1.0", "alertContextVersion": "1.0"},
        "alertContext": {
            "category": "Jobs", "sourceType": "VM", "linkedResourceId": vm_id,
            "sourceId": f"{vm_id}/providers/Microsoft.RecoveryServices/backupProtectedItem/VM;iaasvmcontainerv2;x;y",
            "extendedInfo": {"jobId": job_id, "occurrenceCount": 1, "possibleCauses": None},
            "linkedResourceName": vm_id.rsplit("/", 1)[-1], "alertVersionNumber": "V2020_10"},
        "customProperties": None}}


def _writes(aa: AutomationSandbox, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in aa.sandbox.requests() if r.seq > since and r.method in WRITES
            and "Microsoft.Automation" not in r.path and r.path != "/webhooks"]


def _fire(aa: AutomationSandbox, uri: str, body: object) -> tuple[str, object]:
    data = json.dumps(body) if not isinstance(body, str) else body
    answer = requests.post(uri, data=data, headers={"Content-Type": "application/json"}, verify=aa.server.ca_file)
    assert answer.status_code == 202
    (job_id,) = answer.json()["JobIds"]
    return job_id, aa.wait_job(job_id)


@pytest.fixture
def aa():  # noqa: ANN201
    sb = Sandbox(scenario="rp-limit-locked")
    sb.config.automation_fair_share_seconds = 86400.0
    with automation_sandbox(sb, clock_rate=300.0) as served:
        served.publish()
        yield served


def test_an_alert_fixes_its_vm_once(aa: AutomationSandbox, tmp_path: Path) -> None:
    sb = aa.sandbox
    failed = [j for j in sb.backup.jobs.values() if j.status == "Failed" and j.item.vm_name == "vm-app-01"][-1]
    vm_id, vault = failed.item.vm_id, failed.vault
    vault_id = f"/subscriptions/{vault.subscription_id}/resourceGroups/{vault.resource_group}/providers/" \
               f"Microsoft.RecoveryServices/vaults/{vault.name}"
    locks_before = sb.locks.to_dict()
    params = ["--mode", "alert", "--apply", "--arm-endpoint", aa.server.endpoint, "--journal",
              str(tmp_path / "journal.sqlite")]
    uri = aa.client.webhook.generate_uri(GROUP, ACCOUNT)
    aa.client.webhook.create_or_update(GROUP, ACCOUNT, "backup-failed", WebhookCreateOrUpdateParameters(
        name="backup-failed", properties={"isEnabled": True, "uri": uri, "runbook": {"name": "azbackup-fix"},
                                          "parameters": {f"[PARAMETER {i}]": p for i, p in enumerate(params, 1)}}))
    alert = backup_alert(vm_id, vault_id, failed.job_id)

    job_id, job = _fire(aa, uri, alert)
    output = aa.client.job.get_output(GROUP, ACCOUNT, job_id)
    report = json.loads(output.splitlines()[-1])
    assert job.properties.status == "Completed", output
    assert report["mode"] == "alert" and report["alert"]["vm"] == vm_id and report["alert"]["job_id"] == failed.job_id
    steps = {s["step"]: s["status"] for p in report["runs"][0]["playbooks"] for s in p["steps"]}
    assert steps.get("trigger-backup") == "changed" and report["exit_code"] == 0, steps
    assert sb.locks.to_dict() == locks_before  # the lock removed for the cleanup is back
    latest = max((j for j in sb.backup.jobs.values() if j.item.vm_name == "vm-app-01"), key=lambda j: j.start)
    assert latest.status == "Completed" and latest.on_demand

    seq = max(r.seq for r in sb.requests())
    again_id, again = _fire(aa, uri, alert)  # the same alert, delivered twice
    repeat = json.loads(aa.client.job.get_output(GROUP, ACCOUNT, again_id).splitlines()[-1])
    assert again.properties.status == "Completed" and repeat["skipped"] == "already-handled"
    assert _writes(aa, seq) == []


def test_an_unreadable_alert_is_one_error_line_and_changes_nothing(aa: AutomationSandbox, tmp_path: Path) -> None:
    uri = aa.client.webhook.generate_uri(GROUP, ACCOUNT)
    params = ["--mode", "alert", "--apply", "--arm-endpoint", aa.server.endpoint, "--journal", str(tmp_path / "j")]
    aa.client.webhook.create_or_update(GROUP, ACCOUNT, "hook", WebhookCreateOrUpdateParameters(
        name="hook", properties={"isEnabled": True, "uri": uri, "runbook": {"name": "azbackup-fix"},
                                 "parameters": {f"[PARAMETER {i}]": p for i, p in enumerate(params, 1)}}))
    seq = max((r.seq for r in aa.sandbox.requests()), default=0)
    job_id, job = _fire(aa, uri, "this is not an alert")
    errors = list(aa.client.job_stream.list_by_job(GROUP, ACCOUNT, job_id, filter="properties/streamType eq 'Error'"))
    assert job.properties.status == "Failed"
    assert [e.properties.summary for e in errors] == [
        "ERROR: unreadable alert payload: the request body is not JSON (Expecting value at character 0); "
        "nothing was changed"]
    assert _writes(aa, seq) == []


def test_parse_webhook_data_forms() -> None:
    sub = "00000000-0000-0000-0000-0000000000aa"
    vm = f"/subscriptions/{sub}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v"
    vault = f"/subscriptions/{sub}/resourceGroups/b/providers/Microsoft.RecoveryServices/vaults/rsv"
    body = json.dumps(backup_alert(vm, vault, "j-1"))
    as_text = f"{{WebhookName:w,RequestBody:{body},RequestHeader:{{Content-Type:application/json}}}}"
    for text in (body, as_text):
        found = parse_webhook_data(text)
        assert found.vm.id == vm and found.job_id == "j-1" and found.vault is not None and found.fired_now
    resolved = parse_webhook_data(json.dumps(backup_alert(vm, vault, "j", condition="Resolved")))
    assert not resolved.fired_now
    for bad, why in (("", "empty"), ('{"schemaId": "other"}', "common alert schema"),
                     (json.dumps({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {
                         "alertTargetIDs": [vault]}}}), "no virtual machine"),
                     (json.dumps(backup_alert(vm.replace(sub, "s"), vault, "j")), "not a GUID")):
        with pytest.raises(InvalidInputError, match=why):
            parse_webhook_data(bad)
