"""Protection state: stopped/paused protection, or no protection at all."""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from .catalogue import finding_from_entry
from .evidence import ev
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_protection_state"]


def check_protection_state(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    if obs.vm is None:
        return ()  # a deleted VM is check_deleted_vm's business
    item = obs.protected_item
    if item is not None and item.is_inactive:
        return (
            finding_from_entry(
                "UserErrorBcmDatasourceNotPresent",
                severity=Severity.ERROR,
                title=f"VM is not actively protected: protection state is {item.protection_state}",
                evidence=[
                    ev("protection state", item.protection_state),
                    ev("vault", item.vault.id),
                    ev("policy", item.policy_name),
                    ev("last backup", item.last_backup_time),
                ],
            ),
        )
    if obs.is_protected is False:
        return (
            finding_from_entry(
                "VmNotProtected",
                severity=Severity.WARNING,
                title="No Recovery Services vault protects this VM",
                evidence=[ev("backup status", "NotProtected")],
            ),
        )
    return ()
