"""The sandbox's Microsoft.Automation through the real azure-mgmt-automation client over HTTPS: jobs run as
processes with the managed identity, report Automation's states and streams, stop, fair share, the
account's limits, webhooks; in-process (no server) a job fails saying why."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.automation import AutomationClient
from azure.mgmt.automation.models import JobCreateParameters, WebhookCreateOrUpdateParameters

from azbackup_fix import SandboxCredential
from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.automation.models import EVICTED
from azbackup_sandbox.providers.automation.worker import runbook_arguments
from tests.automation.automation_sandbox import ACCOUNT, GROUP, AutomationSandbox, automation_sandbox

ECHO = """import os, sys
print("args", " ".join(sys.argv[1:]))
print("identity", bool(os.environ.get("IDENTITY_ENDPOINT")) and bool(os.environ.get("IDENTITY_HEADER")))
if "--fail" in sys.argv:
    print("first problem", file=sys.stderr)
    print("the last problem", file=sys.stderr)
    sys.exit(3)
"""
# Waits for a file that never comes (no wall-clock sleep in the test: the job is what waits).
WAITS = """import os, sys, time
print("waiting", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
"""


def _start(aa: AutomationSandbox, runbook: str, *args: str, run_on: str | None = None) -> str:
    name = str(uuid.uuid4())
    aa.client.job.create(GROUP, ACCOUNT, name, JobCreateParameters(properties={
        "runbook": {"name": runbook}, "runOn": run_on,
        "parameters": {f"[PARAMETER {i}]": a for i, a in enumerate(args, 1)}}))
    return name


@pytest.fixture
def aa():  # noqa: ANN201
    with automation_sandbox(Sandbox(scenario="healthy")) as served:
        served.publish("echo", ECHO)
        served.publish("waits", WAITS)
        yield served


def test_a_job_runs_the_published_script_with_its_parameters_and_the_identity(aa: AutomationSandbox) -> None:
    name = _start(aa, "echo", "--mode", "scan")
    assert aa.client.job.get(GROUP, ACCOUNT, name).properties.status in ("New", "Activating", "Running",
                                                                         "Completed")
    job = aa.wait_job(name)
    assert job.properties.status == "Completed" and job.properties.exception is None
    assert job.properties.runbook.name == "echo" and job.properties.start_time <= job.properties.end_time
    assert aa.client.job.get_output(GROUP, ACCOUNT, name) == "args --mode scan\nidentity True\n"
    listed = [j.name for j in aa.client.job.list_by_automation_account(
        GROUP, ACCOUNT, filter="properties/runbook/name eq 'echo'")]
    assert listed == [name]


def test_a_failed_job_has_its_last_error_line_as_exception_and_in_its_error_stream(aa: AutomationSandbox) -> None:
    name = _start(aa, "echo", "--fail")
    job = aa.wait_job(name)
    assert job.properties.status == "Failed" and job.properties.exception == "the last problem"
    errors = list(aa.client.job_stream.list_by_job(GROUP, ACCOUNT, name, filter="properties/streamType eq 'Error'"))
    assert [e.properties.summary for e in errors] == ["first problem", "the last problem"]
    full = aa.client.job_stream.get(GROUP, ACCOUNT, name, errors[-1].properties.job_stream_id)
    assert full.properties.stream_text == "the last problem" and full.properties.stream_type == "Error"


def test_stop_and_fair_share(aa: AutomationSandbox, tmp_path) -> None:  # noqa: ANN001
    never = str(tmp_path / "never")
    stopped = _start(aa, "waits", never)
    aa.client.job.stop(GROUP, ACCOUNT, stopped)
    assert aa.wait_job(stopped).properties.status == "Stopped"
    # Fair share by output lines (the control route's lever), then by time on Azure's workers only.
    assert requests.post(f"{aa.server.endpoint}/_sandbox/automation/fair-share", json={"after_output_lines": 1},
                         verify=aa.server.ca_file).json()["pending"] == [1]
    evicted = aa.wait_job(_start(aa, "waits", never))
    assert evicted.properties.status == "Stopped" and evicted.properties.exception == EVICTED
    aa.sandbox.config.automation_fair_share_seconds = 0.5  # virtual seconds; the clock runs at real time
    by_time = aa.wait_job(_start(aa, "waits", never))
    assert by_time.properties.status == "Stopped" and by_time.properties.exception == EVICTED
    hybrid = _start(aa, "waits", str(tmp_path / "go"), run_on="hybrid-group")
    while not aa.client.job.get_output(GROUP, ACCOUNT, hybrid):
        pass  # the job is up; past the fair-share time it still runs on a Hybrid Worker
    aa.sandbox.advance(5)
    assert aa.client.job.get(GROUP, ACCOUNT, hybrid).properties.status == "Running"
    (tmp_path / "go").write_text("")
    assert aa.wait_job(hybrid).properties.status == "Completed"


def test_the_blocking_wait_answers_a_running_job_at_its_timeout_and_an_ended_one_at_once(
        aa: AutomationSandbox, tmp_path) -> None:  # noqa: ANN001
    wait = f"{aa.server.endpoint}/_sandbox/automation/wait"
    name = _start(aa, "waits", str(tmp_path / "go"))
    running = requests.post(wait, json={"job": name, "timeout": 0}, verify=aa.server.ca_file).json()
    assert running["ended"] is False and running["status"] in ("New", "Activating", "Running")
    (tmp_path / "go").write_text("")
    job_id = aa.client.job.get(GROUP, ACCOUNT, name).id  # by resource id as well as by name
    assert requests.post(wait, json={"job": job_id, "timeout": 60}, verify=aa.server.ca_file).json() == {
        "job": name, "status": "Completed", "ended": True}
    bad = requests.post(wait, json={"job": name, "timeout": "soon"}, verify=aa.server.ca_file)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidParameter"
    missing = requests.post(wait, json={"job": "nope"}, verify=aa.server.ca_file)
    assert missing.status_code == 404


def test_the_accounts_limits(aa: AutomationSandbox, tmp_path) -> None:  # noqa: ANN001
    aa.sandbox.config.automation_max_concurrent_jobs = 1
    first = _start(aa, "waits", str(tmp_path / "go"))
    with pytest.raises(HttpResponseError) as full:
        _start(aa, "echo")
    assert full.value.status_code == 409 and "concurrently running jobs" in str(full.value)
    (tmp_path / "go").write_text("")
    aa.wait_job(first)
    aa.sandbox.config.automation_submissions_per_window = 1
    no_retry = AutomationClient(SandboxCredential(), aa.subscription, base_url=aa.server.endpoint,
                                connection_verify=aa.server.ca_file, retry_total=0)
    with pytest.raises(HttpResponseError) as throttled:
        no_retry.job.create(GROUP, ACCOUNT, str(uuid.uuid4()), JobCreateParameters(properties={
            "runbook": {"name": "echo"}}))
    assert throttled.value.status_code == 429 and throttled.value.response.headers["Retry-After"]
    no_retry.close()


def test_a_webhook_call_starts_a_job_with_webhookdata(aa: AutomationSandbox) -> None:
    uri = aa.client.webhook.generate_uri(GROUP, ACCOUNT)
    created = aa.client.webhook.create_or_update(GROUP, ACCOUNT, "on-alert", WebhookCreateOrUpdateParameters(
        name="on-alert", properties={"isEnabled": True, "uri": uri, "runbook": {"name": "echo"},
                                     "parameters": {"[PARAMETER 1]": "--mode", "[PARAMETER 2]": "alert"}}))
    assert created.properties.uri == uri and aa.client.webhook.get(GROUP, ACCOUNT, "on-alert").properties.uri is None
    body = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertRule": "Backup Failure"}}}
    answer = requests.post(uri, json=body, verify=aa.server.ca_file)  # no bearer token: the URI is the secret
    assert answer.status_code == 202
    (job_id,) = answer.json()["JobIds"]
    job = aa.wait_job(job_id)
    assert job.properties.parameters["WEBHOOKDATA"].startswith("{WebhookName:on-alert,RequestBody:{")
    output = aa.client.job.get_output(GROUP, ACCOUNT, job_id)
    assert output.startswith("args --mode alert {WebhookName:on-alert,RequestBody:")
    assert json.dumps(body)[:20].replace(" ", "") in output.replace(" ", "")
    assert requests.post(uri.replace("token=", "token=x"), json=body, verify=aa.server.ca_file).status_code == 404


def test_in_process_a_job_fails_saying_it_needs_the_server() -> None:
    sb = Sandbox(scenario="healthy")
    sub = sb.subscription_ids[0]
    sb.resources.add_group(sub, GROUP, "westeurope")
    client = AutomationClient(SandboxCredential(), sub, transport=sb.transport(), polling_interval=0)
    client.automation_account.create_or_update(GROUP, ACCOUNT, {"location": "westeurope"})
    client.runbook.create_or_update(GROUP, ACCOUNT, "echo", {"location": "westeurope",
                                                             "properties": {"runbookType": "Python3"}})
    with pytest.raises(HttpResponseError, match="not published"):
        client.job.create(GROUP, ACCOUNT, "j0", {"properties": {"runbook": {"name": "echo"}}})
    client.runbook_draft.begin_replace_content(GROUP, ACCOUNT, "echo", ECHO.encode()).result()
    client.runbook.begin_publish(GROUP, ACCOUNT, "echo").result()
    client.job.create(GROUP, ACCOUNT, "j1", {"properties": {"runbook": {"name": "echo"}}})
    account = sb.automation.accounts_in(sub)[0]
    sb.automation.job(account, "j1").process.join(timeout=30)
    job = client.job.get(GROUP, ACCOUNT, "j1")
    assert job.properties.status == "Failed" and "serves HTTPS" in job.properties.exception


def test_python_parameters_are_split_at_whitespace_as_automation_does() -> None:
    assert runbook_arguments({"[PARAMETER 1]": "--mode", "WEBHOOKDATA": "{WebhookName:a,RequestBody:{\"x\": 1}}"}) \
        == ["--mode", "{WebhookName:a,RequestBody:{\"x\":", "1}}"]
