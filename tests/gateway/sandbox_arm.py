"""Test helpers: run the library's real SDK clients against a sandbox, in-process or over HTTPS,
and read back what the sandbox saw. Shared by tests/gateway, tests/cli and tests/scenarios."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from azbackup_fix import Remediator, SandboxCredential
from azbackup_fix.ids import VmRef
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.control import subscription_ids

VM_RG = "rg-app-prod"
BROKEN = "vm-app-01"
NEIGHBOUR = "vm-app-02"


@dataclass
class Target:
    """A loaded sandbox and how to reach it (``server`` set in HTTPS mode)."""

    sandbox: Sandbox
    server: Any = None

    @property
    def subscription(self) -> str:
        return subscription_ids(self.sandbox)[0]

    def vm(self, name: str = BROKEN, subscription: str | None = None) -> VmRef:
        return VmRef(subscription or self.subscription, VM_RG, name)

    def remediator(self, subscription: str | None = None, **kwargs: Any) -> Remediator:
        credential = kwargs.pop("credential", None) or SandboxCredential()
        if self.server is not None:
            kwargs.setdefault("base_url", self.server.endpoint)
            kwargs.setdefault("connection_verify", self.server.ca_file)
        else:
            kwargs.setdefault("transport", self.sandbox.transport())
        kwargs.setdefault("polling_interval", 0)
        return Remediator(credential, subscription or self.subscription, **kwargs)


def duplicate_gets(records: list[Any]) -> list[tuple[str, str]]:
    seen = Counter((r.path.lower(), r.query) for r in records if r.method == "GET")
    return [key for key, n in seen.items() if n > 1]


def writes(records: list[Any]) -> list[Any]:
    """Requests that could change state (backupStatus, policyStates queryResults and the network path's
    effective rules, routes and Network Watcher verdicts are POSTs that only read)."""
    from azbackup_fix.gateway.policies import READ_ONLY_POSTS

    return [r for r in records if r.method != "GET" and not r.path.lower().endswith(READ_ONLY_POSTS)]
