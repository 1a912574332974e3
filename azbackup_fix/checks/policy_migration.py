"""BackUpOperationFailedV2 after a Standard-to-Enhanced policy migration: context for the internal error.

Microsoft's migration article ("Migrate Azure VM backups from standard to enhanced policy"): the
migration runs a backup job of its own and may take hours; no backup of the VM should run meanwhile;
it cannot be undone. The guide's internal-error causes (agent, snapshot, extension, lock) still apply
and are reported by their own checks; this finding says the migration happened and when.
"""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from .catalogue import finding_from_entry
from .evidence import ev
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["MIGRATION_ARTICLE", "check_policy_migration"]

MIGRATION_ARTICLE = "https://learn.microsoft.com/en-us/azure/backup/backup-azure-vm-migrate-enhanced-policy"


def check_policy_migration(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    job = obs.current_failed_job
    error = job.primary_error if job is not None else None
    if job is None or error is None or (error.error_title or "").casefold() != "backupoperationfailedv2":
        return ()
    if obs.policy is None or not obs.policy.is_enhanced or job.start_time is None:
        return ()
    vault = obs.vault
    mine = [j for j in obs.jobs if vault is None or j.vault == vault]
    # A ConfigureBackup after earlier backups is a reconfiguration: onto this Enhanced policy.
    earlier = [j for j in mine if j.is_backup and j.start_time is not None and j.start_time < job.start_time]
    configure = [j for j in mine if (j.operation or "").casefold() == "configurebackup" and j.start_time is not None
                 and earlier and min(e.start_time for e in earlier) < j.start_time <= job.start_time]
    if not configure:
        return ()
    migration = max(configure, key=lambda j: j.start_time)
    return (finding_from_entry(
        "EnhancedPolicyMigration", severity=Severity.WARNING,
        title=f"Protection moved to Enhanced policy {obs.policy.name} on {migration.start_time:%Y-%m-%d %H:%M} UTC, "
              "before this BackUpOperationFailedV2: the migration runs its own backup job and cannot be undone; "
              "let it finish with no other backup of the VM running, then retry",
        evidence=[ev("policy", obs.policy.name), ev("policy type", "Enhanced (V2)"),
                  ev("configure job", migration.ref.id), ev("configured", migration.start_time),
                  ev("failed job", job.ref.id), ev("see", MIGRATION_ARTICLE)],
    ),)
