"""Discovery and repair at fleet scale: Resource Graph (or vault listings) -> confirm -> diagnose ->
fix under a request budget, with per-RG lock coordination, journaled progress and a fleet report.

Layering: discovery, progress and report sit on the gateway; :mod:`.locks` drives steps as a playbook
does. The scan that drives the runner for many VMs sits above, in :mod:`azbackup_fix.scanner`.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .progress import ProgressEvent
from .report import FLEET_SCHEMA, FleetReport, Outcome, VmResult, render_fleet

# The budget and discovery sit on azure-core and the SDKs: imported on first use (see azbackup_fix.lazy).
__getattr__ = lazy_attributes(__name__, {
    **dict.fromkeys(("ARM_RATES", "BucketRate", "Budget", "BudgetPolicy", "ThrottledError"), "..gateway.budget"),
    **dict.fromkeys(("Candidate", "Discovery", "discover"), ".discovery"),
})

if TYPE_CHECKING:
    from ..gateway.budget import ARM_RATES, BucketRate, Budget, BudgetPolicy, ThrottledError
    from .discovery import Candidate, Discovery, discover

__all__ = [
    "ARM_RATES",
    "FLEET_SCHEMA",
    "Budget",
    "BudgetPolicy",
    "BucketRate",
    "Candidate",
    "Discovery",
    "FleetReport",
    "Outcome",
    "ProgressEvent",
    "ThrottledError",
    "VmResult",
    "discover",
    "render_fleet",
]
