"""Azure Monitor alerts for failed backup jobs, as an Automation webhook hands them to a Python runbook.

The webhook's ``WEBHOOKDATA`` reaches a Python runbook as text, ``{WebhookName:NAME,RequestBody:BODY,
RequestHeader:{...}}``, and split at whitespace over ``sys.argv`` (Automation's own Python webhook sample
joins the arguments again and cuts out ``RequestBody``). ``BODY`` is the common alert schema
(``schemaId: azureMonitorCommonAlertSchema``; learn.microsoft.com/azure/azure-monitor/alerts/
alerts-common-schema). Azure Backup's built-in job-failure alerts put in ``data.essentials``:
``monitoringService: "Azure Backup"``, ``alertRule`` (e.g. "Backup Failure"), ``monitorCondition``
(Fired / Resolved), ``alertTargetIDs`` (the vault), ``originAlertId`` (ends in the error code, lower
case); and in ``data.alertContext``: ``category: "Jobs"``, ``linkedResourceId`` (the VM), ``sourceId``
(the VM's backup item), ``protectedItemId``, ``extendedInfo.jobId``. See docs/alerts.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError
from .ids import VaultRef, VmRef

__all__ = ["BackupAlert", "parse_alert_body", "parse_webhook_data"]

COMMON_SCHEMA = "azureMonitorCommonAlertSchema"
_VM = re.compile(r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachines/[^/]+)",
                 re.IGNORECASE)
_VAULT = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.RecoveryServices/vaults/[^/]+$",
                    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BackupAlert:
    alert_id: str
    rule: str
    condition: str  # Fired | Resolved
    vm: VmRef
    vault: VaultRef | None
    job_id: str | None
    fired: str | None

    @property
    def fired_now(self) -> bool:
        return self.condition.casefold() == "fired"

    def to_dict(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "rule": self.rule, "condition": self.condition, "vm": self.vm.id,
                "vault": self.vault.id if self.vault else None, "job_id": self.job_id, "fired": self.fired}


def _unreadable(why: str) -> InvalidInputError:
    return InvalidInputError(f"unreadable alert payload: {why}; nothing was changed")


def _request_body(text: str) -> str:
    """``RequestBody`` out of WEBHOOKDATA's text form; a bare JSON body is taken as it is."""
    text = text.strip()
    if text.startswith("{") and not re.match(r"^\{\s*WebhookName\s*:", text):
        return text
    start = text.find("RequestBody:")
    if start < 0:
        raise _unreadable("no RequestBody in WEBHOOKDATA")
    start += len("RequestBody:")
    end = text.rfind(",RequestHeader:")
    return text[start:end if end > start else len(text)].strip()


def parse_webhook_data(text: str | None) -> BackupAlert:
    """The alert a webhook call carried (WEBHOOKDATA's text, or the request body itself)."""
    if not text or not text.strip():
        raise _unreadable("WEBHOOKDATA is empty (start this mode from the webhook of an action group)")
    body = _request_body(text)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise _unreadable(f"the request body is not JSON ({exc.msg} at character {exc.pos})") from None
    return parse_alert_body(document)


def parse_alert_body(document: Any) -> BackupAlert:
    if not isinstance(document, Mapping):
        raise _unreadable("the request body is not a JSON object")
    if document.get("schemaId") != COMMON_SCHEMA:
        raise _unreadable(f"schemaId is '{document.get('schemaId')}', not '{COMMON_SCHEMA}' (turn on the common "
                          "alert schema in the action group)")
    data = document.get("data")
    essentials = data.get("essentials") if isinstance(data, Mapping) else None
    if not isinstance(essentials, Mapping):
        raise _unreadable("no data.essentials")
    context = data.get("alertContext") if isinstance(data.get("alertContext"), Mapping) else {}
    candidates = [context.get("linkedResourceId"), context.get("sourceId"), context.get("affectedItems"),
                  *(essentials.get("alertTargetIDs") or [])]
    vm_id = next((m.group(1) for c in candidates if isinstance(c, str) for m in [_VM.match(c.strip())] if m), None)
    if vm_id is None:
        raise _unreadable("no virtual machine in alertContext.linkedResourceId, sourceId or alertTargetIDs "
                          "(is this an Azure Backup job-failure alert for a VM?)")
    vault_id = next((t for t in essentials.get("alertTargetIDs") or [] if isinstance(t, str) and _VAULT.match(t)), None)
    extended = context.get("extendedInfo") if isinstance(context.get("extendedInfo"), Mapping) else {}
    job = extended.get("jobId")
    try:
        vm, vault = VmRef.parse(vm_id), VaultRef.parse(vault_id) if vault_id else None
    except InvalidInputError as exc:
        raise _unreadable(str(exc)) from None
    return BackupAlert(
        alert_id=str(essentials.get("alertId") or essentials.get("originAlertId") or ""),
        rule=str(essentials.get("alertRule") or ""), condition=str(essentials.get("monitorCondition") or "Fired"),
        vm=vm, vault=vault,
        job_id=str(job) if job else None, fired=str(essentials.get("firedDateTime") or "") or None)
