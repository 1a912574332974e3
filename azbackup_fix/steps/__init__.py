"""Small reusable verbs the playbooks plan and the runner runs; they write through the gateway.

Each step is a frozen dataclass with an exact target, a ``describe()`` for plans and a
``run(ctx)`` that returns a :class:`~azbackup_fix.models.StepOutcome`. Steps never import azure.
"""

from .backup import (
    DEFAULT_RETENTION_DAYS,
    SERVICE_DAILY_ON_DEMAND_MAX,
    CancelJob,
    TriggerBackup,
    WaitForJobs,
    on_demand_jobs_today,
)
from .base import Step, StepContext
from .collections import DELETE_ATTEMPTS, DELETE_STARTED, DeleteRestorePointCollection
from .extensions import DeleteExtension
from .locks import READ_ONLY_BACK_WARNING, DeleteLock, LeaveLockRemoved, RestoreLock
from .network import NSG_RULE_ADDED, NSG_RULE_REMOVED, AddStorageAllowRule, RemoveStorageAllowRule
from .protection import UpdateProtection
from .vm_actions import ReapplyVm, RestartVm

__all__ = [
    "NSG_RULE_ADDED",
    "NSG_RULE_REMOVED",
    "AddStorageAllowRule",
    "RemoveStorageAllowRule",
    "DEFAULT_RETENTION_DAYS",
    "DELETE_ATTEMPTS",
    "DELETE_STARTED",
    "READ_ONLY_BACK_WARNING",
    "SERVICE_DAILY_ON_DEMAND_MAX",
    "CancelJob",
    "DeleteExtension",
    "DeleteLock",
    "DeleteRestorePointCollection",
    "LeaveLockRemoved",
    "ReapplyVm",
    "RestartVm",
    "RestoreLock",
    "Step",
    "StepContext",
    "TriggerBackup",
    "UpdateProtection",
    "WaitForJobs",
    "on_demand_jobs_today",
]
