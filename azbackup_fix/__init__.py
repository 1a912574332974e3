"""azbackup-fix: repair Azure VM Backup failures from the Azure side.

>>> from azure.identity import DefaultAzureCredential            # doctest: +SKIP
>>> from azbackup_fix import Remediator                          # doctest: +SKIP
>>> fix = Remediator(DefaultAzureCredential(), subscription_id)  # doctest: +SKIP
>>> report = fix.diagnose(vm_id)                                 # doctest: +SKIP
>>> print(report.to_dict())                                      # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from .errors import (
    AzBackupFixError,
    AzureOperationError,
    GuardRailError,
    InvalidInputError,
    InvalidResourceIdError,
    NotFoundError,
    PermissionDeniedError,
    ProtectedItemNotFoundError,
    VaultNotFoundError,
    VmNotFoundError,
    VmNotProtectedError,
    WaitTimeoutError,
)
from .ids import VaultRef, VmRef
from .lazy import lazy_attributes
from .models import (
    DIAGNOSIS_SCHEMA,
    RUN_SCHEMA,
    Diagnosis,
    Evidence,
    Finding,
    PlaybookResult,
    RunReport,
    Severity,
    StepOutcome,
    StepStatus,
    VmObservation,
)
from .settings import Settings

# Remediator and SandboxCredential bring azure-core and the management SDKs (about 0.4 s to import).
__getattr__ = lazy_attributes(__name__, {"Remediator": ".remediator", "SandboxCredential": ".sandbox_credential"})


if TYPE_CHECKING:  # for type checkers and IDEs: the lazy names are ordinary imports
    from .remediator import Remediator
    from .sandbox_credential import SandboxCredential

__version__ = "0.1.0"

__all__ = [
    "DIAGNOSIS_SCHEMA",
    "RUN_SCHEMA",
    "AzBackupFixError",
    "AzureOperationError",
    "Diagnosis",
    "Evidence",
    "Finding",
    "GuardRailError",
    "InvalidInputError",
    "InvalidResourceIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlaybookResult",
    "ProtectedItemNotFoundError",
    "Remediator",
    "RunReport",
    "SandboxCredential",
    "Settings",
    "Severity",
    "StepOutcome",
    "StepStatus",
    "VaultNotFoundError",
    "VaultRef",
    "VmNotFoundError",
    "VmNotProtectedError",
    "VmObservation",
    "VmRef",
    "WaitTimeoutError",
    "__version__",
]
