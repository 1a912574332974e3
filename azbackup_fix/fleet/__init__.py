"""Discovery and repair at fleet scale: Resource Graph (or vault listings) -> confirm -> diagnose ->
fix under a request budget, with per-RG lock coordination, journaled progress and a fleet report.

Layering: discovery, queries, progress and report sit on the gateway; :mod:`.scan` and :mod:`.locks`
drive the runner and steps, as a single run would, for many VMs.
"""

from ..gateway.budget import ARM_RATES, BucketRate, Budget, BudgetPolicy, ThrottledError
from .discovery import Candidate, Discovery, discover
from .report import FLEET_SCHEMA, FleetReport, Outcome, VmResult, render_fleet
from .scan import FleetScanner, ProgressEvent, ScanOptions, in_shard, parse_shard

__all__ = [
    "ARM_RATES",
    "FLEET_SCHEMA",
    "Budget",
    "BudgetPolicy",
    "BucketRate",
    "Candidate",
    "Discovery",
    "FleetReport",
    "FleetScanner",
    "Outcome",
    "ProgressEvent",
    "ScanOptions",
    "ThrottledError",
    "VmResult",
    "discover",
    "in_shard",
    "parse_shard",
    "render_fleet",
]
