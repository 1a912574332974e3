"""Fan-out children that share a journal in Blob Storage (Azurite): fair share evicts one child, the
parent submits it again, and the new job, a new process on a new worker, resumes the evicted one's scan
from the container; the merged report still covers every VM once."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from azbackup_fix.journal.blob import STORAGE_API_VERSION
from azbackup_sandbox import Sandbox
from tests.automation.automation_sandbox import automation_sandbox
from tests.azurite.server import MISSING, AzuriteServer, IdentityEndpointCredential
from tests.fleet.fleet_sandbox import ALL_KINDS
from tests.sandbox_cli import run_cli, server_environment

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


def test_an_evicted_child_resumes_from_the_blob_journal(tmp_path: Path) -> None:
    sb = Sandbox()
    sb.load("fleet", vms=40, subscriptions=1, vaults=1, mix=ALL_KINDS)
    sb.config.latency_ms = (5.0, 15.0)
    with automation_sandbox(sb) as aa, AzuriteServer(tmp_path / "azurite", extra_ca=aa.server.ca_file) as azurite:
        # Jobs and the parent trust both the sandbox and Azurite (one bundle holds both CAs).
        assert sb.job_environment is not None
        sb.job_environment["REQUESTS_CA_BUNDLE"] = azurite.ca_file
        credential = IdentityEndpointCredential(aa.server.identity_endpoint, aa.server.identity_header,
                                                azurite.ca_file)
        name = f"fanout-{secrets.token_hex(4)}"
        with ContainerClient(azurite.account_url, name, credential=credential, api_version=STORAGE_API_VERSION,
                             connection_verify=azurite.ca_file) as container:
            container.create_container()
            journal = azurite.container_url(name, "automation/prod")
            aa.publish()
            sb.automation.evictions.append(3)  # the first child is evicted after 3 lines of output
            env = server_environment(aa.server, tmp_path / "unused.sqlite")
            env["REQUESTS_CA_BUNDLE"] = azurite.ca_file
            fanned = run_cli(env, "scan", "--subscription", sb.subscription_ids[0], "--fan-out", "2",
                             "--automation-account", aa.account_id, "--journal", journal, "--poll-seconds", "0.3",
                             "--output", "json")
            blobs = [b.name for b in container.list_blobs()]
        jobs = list(sb.automation.jobs.values())

    assert fanned.returncode in (3, 4), fanned.stderr
    report = json.loads(fanned.stdout)
    children = report["children"]
    evicted = [c for c in children if c["resubmits"]]
    assert len(evicted) == 1 and len(evicted[0]["jobs"]) == 2, children
    assert all(c["error"] is None for c in children)
    assert report["fleet"]["resumed"]  # the resubmitted child resumed from the container
    assert report["fleet"]["discovery"]["vms_seen"] == 40
    assert len({vm["vm"].casefold() for vm in report["fleet"]["vms"]}) == len(report["fleet"]["vms"])
    by_name = {j.name: j for j in jobs}
    first, again = (by_name[n] for n in evicted[0]["jobs"])
    assert first.status == "Stopped" and again.parameters == first.parameters
    assert any("resumed scan" in s.text for s in again.streams)
    # The progress the children shared is in the container, under the journal's prefix; no local file.
    assert blobs and all(b.startswith("automation/prod/") for b in blobs)
    assert not (tmp_path / "unused.sqlite").exists()
