"""Test helpers: the HTTPS sandbox with an Automation account whose runbook is the shipped example
(examples/automation/azbackup_fix_runbook.py), published through the real azure-mgmt-automation client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from azure.mgmt.automation import AutomationClient
from azure.mgmt.automation.models import (
    AutomationAccountCreateOrUpdateParameters,
    RunbookCreateOrUpdateParameters,
)

from azbackup_fix import SandboxCredential
from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import REPO

RUNBOOK_SCRIPT = REPO / "examples" / "automation" / "azbackup_fix_runbook.py"
GROUP = "rg-automation"
ACCOUNT = "aa-azbackup"
RUNBOOK = "azbackup-fix"


@dataclass
class AutomationSandbox:
    server: SandboxServer
    client: AutomationClient
    subscription: str

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    @property
    def account_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{GROUP}/providers/Microsoft.Automation/"
                f"automationAccounts/{ACCOUNT}")

    def publish(self, name: str = RUNBOOK, script: str | None = None) -> None:
        self.client.runbook.create_or_update(GROUP, ACCOUNT, name, RunbookCreateOrUpdateParameters(
            location="westeurope", properties={"runbookType": "Python3"}))
        content = script if script is not None else RUNBOOK_SCRIPT.read_text(encoding="utf-8")
        self.client.runbook_draft.begin_replace_content(GROUP, ACCOUNT, name, content.encode(),
                                                        polling_interval=0).result()
        self.client.runbook.begin_publish(GROUP, ACCOUNT, name, polling_interval=0).result()

    def wait_job(self, name: str, *, timeout: float = 90) -> Any:
        """Wait until Automation reports a final state: the sandbox's blocking `POST /_sandbox/automation/wait`
        (the job is a real process; nothing here sleeps or polls), then the job as the SDK reads it."""
        waited = requests.post(f"{self.server.endpoint}/_sandbox/automation/wait", json={"job": name, "timeout": timeout},
                               verify=self.server.ca_file, timeout=timeout + 30).json()
        job = self.client.job.get(GROUP, ACCOUNT, name)
        if not waited["ended"]:
            raise AssertionError(f"job {name} still {job.properties.status} after {timeout}s")
        return job


@contextmanager
def automation_sandbox(sandbox: Sandbox, *, clock_rate: float = 1.0) -> Iterator[AutomationSandbox]:
    """``sandbox`` served over HTTPS with an Automation account (in its first subscription's new group)."""
    subscription = sandbox.subscription_ids[0]
    sandbox.resources.add_group(subscription, GROUP, "westeurope")
    with SandboxServer(sandbox, clock_rate=clock_rate) as server:
        client = AutomationClient(SandboxCredential(), subscription, base_url=server.endpoint,
                                  connection_verify=server.ca_file)
        try:
            client.automation_account.create_or_update(GROUP, ACCOUNT, AutomationAccountCreateOrUpdateParameters(
                location="westeurope", properties={"sku": {"name": "Basic"}}))
            yield AutomationSandbox(server, client, subscription)
        finally:
            client.close()
