"""Test helpers: a generated fleet in the in-process sandbox, its truth (the ``kind`` tag), and a
FleetScanner on the real SDK clients whose budget runs on the sandbox's virtual clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azbackup_fix import SandboxCredential
from azbackup_fix.fleet import Budget, FleetReport, Outcome
from azbackup_fix.journal import Journal
from azbackup_fix.scanner import FleetScanner, ScanOptions
from azbackup_sandbox import Sandbox

# Every failure kind of the catalogue, often enough to appear in ~200 VMs.
ALL_KINDS = ("healthy=10,rp-limit-locked=1,rp-limit-custom-rg=1,failed-vmsnapshot=1,agent-not-ready=1,"
             "vm-deallocated=1,backup-in-progress=1,protection-stopped=1,disk-too-large=1,vm-deleted=1")
# Kinds whose backups succeed: a deallocated VM is backed up offline, crash-consistent (support matrix),
# so a scan has nothing to flag for it.
BACKS_UP = frozenset({"healthy", "vm-deallocated"})
# Kinds the default playbooks fix without extra permissions.
FIXABLE = "healthy=5,rp-limit-locked=2,rp-limit-custom-rg=1,failed-vmsnapshot=1"


def fleet(vms: int, mix: str, *, subscriptions: int = 2, vaults: int = 2, throttling: bool = True) -> Sandbox:
    sb = Sandbox()
    sb.load("fleet", vms=vms, subscriptions=subscriptions, vaults=vaults, mix=mix)
    sb.config.throttling = throttling
    sb.throttle.enforce = throttling
    return sb


def truth(sb: Sandbox) -> dict[str, str]:
    """Folded VM id -> seeded kind (a deleted VM is known by its protected item only)."""
    kinds = {vm.id.casefold(): vm.tags["kind"] for vm in sb.compute.vms.values()}
    for item in sb.backup.items.values():
        kinds.setdefault(item.vm_id.casefold(), "vm-deleted")
    return kinds


def flagged(report: FleetReport) -> set[str]:
    return {v.vm.casefold() for v in report.vms if v.outcome != Outcome.HEALTHY}


@dataclass
class Fleet:
    sandbox: Sandbox
    journal_path: Path

    def __post_init__(self) -> None:
        self.transport = self.sandbox.transport()
        self.budget = Budget(clock=lambda: self.sandbox.clock.now().timestamp(), sleep=self.transport.sleep)
        self.journal = Journal(self.journal_path)

    def scanner(self, **kwargs: Any) -> FleetScanner:
        kwargs.setdefault("budget", self.budget)
        return FleetScanner(SandboxCredential(), journal=self.journal, transport=self.transport,
                            polling_interval=0, **kwargs)

    def options(self, **kwargs: Any) -> ScanOptions:
        kwargs.setdefault("subscriptions", tuple(self.sandbox.subscription_ids))
        kwargs.setdefault("workers", 4)
        return ScanOptions(**kwargs)

    def scan(self, **kwargs: Any) -> FleetReport:
        return self.scanner().scan(self.options(**kwargs))
