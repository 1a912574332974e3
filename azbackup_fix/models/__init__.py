"""Frozen, typed snapshots of Azure state and the findings/report built from them.

Modules: ``compute`` (VM, agent, extensions, disks, restore points), ``locks``,
``backup`` (backup status, protected item, policy, jobs), ``observation`` (the
per-VM aggregate the checks read), ``findings`` (Severity, Evidence, Finding,
Diagnosis and its JSON schema), ``timestamps``.
"""

from .backup import BackupJob, BackupPolicy, BackupStatus, JobError, ProtectedItem, ProtectionState
from .compute import (
    BACKUP_EXTENSION_TYPES,
    Disk,
    Extension,
    RestorePoint,
    RestorePointCollection,
    VirtualMachine,
    VmAgentStatus,
    normalize_power_state,
)
from .findings import (
    DIAGNOSIS_JSON_SCHEMA,
    DIAGNOSIS_SCHEMA,
    Diagnosis,
    Evidence,
    EvidenceValue,
    Finding,
    Severity,
)
from .locks import Lock, LockLevel
from .observation import VmObservation
from .rails import GUARD_RAILS, GuardRail
from .report import RUN_SCHEMA, PlaybookResult, RunReport, StepOutcome, StepStatus
from .timestamps import format_timestamp, parse_timestamp

__all__ = [
    "BACKUP_EXTENSION_TYPES",
    "DIAGNOSIS_JSON_SCHEMA",
    "DIAGNOSIS_SCHEMA",
    "GUARD_RAILS",
    "RUN_SCHEMA",
    "BackupJob",
    "BackupPolicy",
    "BackupStatus",
    "Diagnosis",
    "Disk",
    "Evidence",
    "EvidenceValue",
    "Extension",
    "Finding",
    "GuardRail",
    "JobError",
    "Lock",
    "LockLevel",
    "PlaybookResult",
    "ProtectedItem",
    "ProtectionState",
    "RestorePoint",
    "RestorePointCollection",
    "RunReport",
    "Severity",
    "StepOutcome",
    "StepStatus",
    "VirtualMachine",
    "VmAgentStatus",
    "VmObservation",
    "format_timestamp",
    "normalize_power_state",
    "parse_timestamp",
]
