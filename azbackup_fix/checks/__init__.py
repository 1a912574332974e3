"""Read-only checks: a :class:`~azbackup_fix.models.VmObservation` in, findings out.

Each check is a pure function ``(observation, options) -> tuple[Finding, ...]`` for
one kind of row of the failure catalogue; :func:`diagnose` runs them all and
orders the findings as the troubleshooting guides do. Nothing here performs I/O
or imports Azure.
"""

from .agent import check_agent, parse_version
from .catalogue import (
    CATALOGUE,
    CatalogueEntry,
    Playbook,
    canonical_code,
    entry_for,
    finding_from_entry,
    match_error_text,
    rank_of,
)
from .diagnose import STATE_CHECKS, Check, backup_blockers, diagnose, diagnosis_for
from .disks import check_disk_sizes
from .extensions import check_backup_extension, check_extensions
from .guest_steps import agent_steps, extension_steps, network_steps
from .jobs import check_failed_job, check_jobs_in_progress, classify_job_error, nested_crp_message
from .keyvault import check_key_vault_access
from .options import DEFAULT_OPTIONS, CheckOptions
from .protection import check_protection_state
from .restore_points import check_locks, check_orphaned_collections, check_restore_point_limit
from .vm_health import check_deleted_vm, check_vm_health

__all__ = [
    "CATALOGUE",
    "DEFAULT_OPTIONS",
    "STATE_CHECKS",
    "CatalogueEntry",
    "Check",
    "CheckOptions",
    "Playbook",
    "agent_steps",
    "backup_blockers",
    "canonical_code",
    "check_agent",
    "check_backup_extension",
    "check_deleted_vm",
    "check_disk_sizes",
    "check_extensions",
    "check_failed_job",
    "check_jobs_in_progress",
    "check_key_vault_access",
    "check_locks",
    "check_orphaned_collections",
    "check_protection_state",
    "check_restore_point_limit",
    "check_vm_health",
    "classify_job_error",
    "diagnose",
    "diagnosis_for",
    "entry_for",
    "extension_steps",
    "finding_from_entry",
    "match_error_text",
    "nested_crp_message",
    "network_steps",
    "parse_version",
    "rank_of",
]
