"""Resource Graph state: the per-user quota window, and the tables azbackup-fix queries, built from the
other providers' state (Resource Graph is a read model over ARM, so it holds nothing of its own).

The sandbox answers exactly the queries azbackup-fix sends, recognised by their first line, a KQL comment
``// azbackup-fix:<name>/v<n>``; any other query gets 400 ``UnsupportedQuery`` (the sandbox has no KQL
engine). The semantics each name implements are in :data:`QUERIES`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..backup.routes import item_to_arm, job_to_arm
from ..compute.routes import extension_to_arm

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["QUERIES", "QUOTA", "QUOTA_WINDOW_SECONDS", "ResourceGraphBackend", "query_name"]

QUOTA = 15  # requests per user per window, Resource Graph's documented default
QUOTA_WINDOW_SECONDS = 5.0
JOB_WINDOW = timedelta(days=14)  # RecoveryServicesResources keeps backup jobs this long
_MARKER = re.compile(r"^\s*//\s*azbackup-fix:([a-z0-9-]+/v\d+)\s*$", re.MULTILINE)

QUERIES: dict[str, str] = {
    "backup-jobs/v1": "RecoveryServicesResources: per protected VM (vault + container), the latest Azure VM "
                      "'Backup' job of the last 14 days, plus every such job still InProgress; rows as the "
                      "job API returns them (id, name, type, subscriptionId, resourceGroup, properties).",
    "protected-items/v1": "RecoveryServicesResources: Azure VM protected items whose protectionState is not "
                          "Protected/IRPending or whose healthStatus is not Passed.",
    "backup-extensions/v1": "Resources: VMSnapshot/VMSnapshotLinux extensions (publisher "
                            "Microsoft.Azure.RecoveryServices) whose provisioningState is not Succeeded.",
}


def query_name(text: str) -> str | None:
    found = _MARKER.search(text or "")
    return found.group(1) if found else None


class ResourceGraphBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._windows: dict[str, tuple[float, int]] = {}  # principal -> (window start, used)
        self._snapshots: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}

    # ---- quota ------------------------------------------------------------------------------
    def take_quota(self, principal: str) -> tuple[bool, int, float]:
        """Spend one request of the principal's window: (allowed, remaining, seconds until it resets)."""
        now = self._sb.clock.now().timestamp()
        start, used = self._windows.get(principal, (now, 0))
        if now - start >= QUOTA_WINDOW_SECONDS:
            start, used = now, 0
        resets = max(0.0, QUOTA_WINDOW_SECONDS - (now - start))
        if used >= QUOTA and self._sb.config.throttling:
            return False, 0, resets
        used += 1
        self._windows[principal] = (start, used)
        return True, max(QUOTA - used, 0), resets

    # ---- tables -----------------------------------------------------------------------------
    def rows(self, name: str, subscriptions: list[str], *, continuation: bool = False) -> list[dict[str, Any]]:
        """The query's rows; a continuation page reads the snapshot its first page took, as Resource Graph's
        $skipToken pages do."""
        key = (name, tuple(sorted(s.lower() for s in subscriptions)))
        if continuation and key in self._snapshots:
            return self._snapshots[key]
        rows = self._compute(name, subscriptions)
        self._snapshots[key] = rows
        return rows

    def _compute(self, name: str, subscriptions: list[str]) -> list[dict[str, Any]]:
        subs = {s.lower() for s in subscriptions}
        if name == "backup-jobs/v1":
            return self._jobs(subs)
        if name == "protected-items/v1":
            return self._items(subs)
        if name == "backup-extensions/v1":
            return self._extensions(subs)
        raise KeyError(name)

    def _jobs(self, subs: set[str]) -> list[dict[str, Any]]:
        sb = self._sb
        since = sb.clock.now() - JOB_WINDOW
        out: list[dict[str, Any]] = []
        for vault in sorted(sb.backup.vaults.values(), key=lambda v: v.id.lower()):
            if vault.subscription_id.lower() not in subs:
                continue
            latest: dict[str, Any] = {}
            running = []
            for job in sb.backup.jobs_of(vault):  # newest first
                if job.operation != "Backup" or job.item is None or job.start is None or job.start < since:
                    continue
                key = job.item.container.lower()
                if key not in latest:
                    latest[key] = job
                elif job.running:
                    running.append(job)
            for job in [*latest.values(), *running]:
                out.append(_row(job_to_arm(sb, job, extended=False), vault.subscription_id, vault.resource_group))
        return out

    def _items(self, subs: set[str]) -> list[dict[str, Any]]:
        sb = self._sb
        out = []
        for item in sorted(sb.backup.items.values(), key=lambda i: i.id.lower()):
            if item.vault.subscription_id.lower() not in subs:
                continue
            if item.protection_state in ("Protected", "IRPending") and item.health_status == "Passed":
                continue
            out.append(_row(item_to_arm(sb, item), item.vault.subscription_id, item.vault.resource_group))
        return out

    def _extensions(self, subs: set[str]) -> list[dict[str, Any]]:
        sb = self._sb
        out = []
        for vm in sorted(sb.compute.vms.values(), key=lambda v: v.id.lower()):
            if vm.subscription_id.lower() not in subs:
                continue
            for ext in vm.extensions.values():
                if ext.is_backup and ext.provisioning_state.lower() != "succeeded":
                    body = extension_to_arm(vm, ext)
                    out.append(_row(body, vm.subscription_id, vm.resource_group))
        return out


def _row(body: dict[str, Any], subscription_id: str, resource_group: str) -> dict[str, Any]:
    # Resource Graph lower-cases `type` and adds subscriptionId / resourceGroup columns.
    return {"id": body["id"], "name": body.get("name"), "type": str(body.get("type", "")).lower(),
            "subscriptionId": subscription_id, "resourceGroup": resource_group.lower(),
            "properties": body.get("properties", {})}
