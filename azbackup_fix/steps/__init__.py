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
from .keyvault import ACCESS_POLICY_ADDED, ROLE_ASSIGNED, AddKeyVaultAccessPolicy, AssignKeyVaultRole
from .locks import READ_ONLY_BACK_WARNING, DeleteLock, LeaveLockRemoved, RestoreLock
from .network import NSG_RULE_ADDED, NSG_RULE_REMOVED, AddStorageAllowRule, RemoveStorageAllowRule
from .other_extensions import REMOVE_EXTENSION, RERUN_EXTENSION, RemoveExtension, RerunExtension
from .protection import UpdateProtection
from .vm_actions import ReapplyVm, RedeployVm, RestartVm
from .vm_state import WaitForAgentReady, WaitForVmState

__all__ = [
    "ACCESS_POLICY_ADDED",
    "NSG_RULE_ADDED",
    "NSG_RULE_REMOVED",
    "AddStorageAllowRule",
    "RemoveStorageAllowRule",
    "DEFAULT_RETENTION_DAYS",
    "DELETE_ATTEMPTS",
    "DELETE_STARTED",
    "READ_ONLY_BACK_WARNING",
    "REMOVE_EXTENSION",
    "RERUN_EXTENSION",
    "ROLE_ASSIGNED",
    "SERVICE_DAILY_ON_DEMAND_MAX",
    "AddKeyVaultAccessPolicy",
    "AssignKeyVaultRole",
    "CancelJob",
    "DeleteExtension",
    "DeleteLock",
    "DeleteRestorePointCollection",
    "LeaveLockRemoved",
    "ReapplyVm",
    "RedeployVm",
    "RemoveExtension",
    "RerunExtension",
    "RestartVm",
    "RestoreLock",
    "Step",
    "StepContext",
    "TriggerBackup",
    "UpdateProtection",
    "WaitForAgentReady",
    "WaitForJobs",
    "WaitForVmState",
    "on_demand_jobs_today",
]
