"""DeleteRestorePointCollection: delete one of this VM's collections, retrying a timed-out delete."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AzureOperationError
from ..ids import RestorePointCollectionRef, VmRef
from ..models.rails import PROTECTION, GuardRail
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["DELETE_ATTEMPTS", "DELETE_STARTED", "DeleteRestorePointCollection"]

DELETE_STARTED = "rpc-delete-started"  # journal action: this collection's points begin to go
# A large collection's delete times out part-way; guide 000 says it "usually succeeds after two or three
# retries": the first try and up to three retries.
DELETE_ATTEMPTS = 4
_RETRYABLE = frozenset({"operationtimedout", "internaloperationerror"})


@dataclass(frozen=True)
class DeleteRestorePointCollection(Step):
    collection: RestorePointCollectionRef
    source_vm: VmRef
    restore_points: int = 0
    attempts: int = DELETE_ATTEMPTS
    orphaned: bool = False  # the source VM is gone: its last instant restore points go (a protection change)

    kind = "delete-restore-point-collection"
    actions = ("Microsoft.Compute/restorePointCollections/delete", "Microsoft.Compute/locations/operations/read")
    destructive = True

    @property  # type: ignore[override]  # by instance: only an orphan's delete needs a rail
    def rail(self) -> GuardRail | None:
        return PROTECTION if self.orphaned else None

    @property
    def target(self) -> str:
        return self.collection.id

    def describe(self) -> str:
        return (f"delete restore point collection '{self.collection.name}' in {self.collection.resource_group}: "
                f"{self.restore_points} instant restore point(s) (snapshot tier) of VM {self.source_vm.name}; "
                "its vault-tier recovery points are kept")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("source_vm", self.source_vm.id), ("restore_points", self.restore_points),
                ("instant_restore_points_deleted", self.restore_points), ("vault_tier_recovery_points", "kept"))

    def run(self, ctx: StepContext) -> StepOutcome:
        if ctx.journal is not None and ctx.run_id is not None:
            # Journaled first: a later run that sees fewer points than a failed job's limit claim knows
            # the points went by our hand (a timed-out delete removes some), not out of sight.
            ctx.journal.record_change(ctx.run_id, action=DELETE_STARTED, target=self.collection.id,
                                      detail=f"source {self.source_vm.id}")
        for attempt in range(1, max(1, self.attempts) + 1):
            try:
                ctx.gateway.delete_restore_point_collection(self.collection)
            except AzureOperationError as exc:
                # Each timed-out attempt removes a batch of points; the next one goes on.
                if (exc.arm_code or "").casefold() in _RETRYABLE and attempt < self.attempts:
                    continue
                raise
            return self.outcome(StepStatus.CHANGED, detail=(("attempts", attempt),))
        raise AssertionError("unreachable")  # pragma: no cover
