"""DeleteRestorePointCollection: delete one of this VM's collections, retrying a timed-out delete."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AzureOperationError
from ..ids import RestorePointCollectionRef, VmRef
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["DELETE_ATTEMPTS", "DeleteRestorePointCollection"]

DELETE_ATTEMPTS = 3  # the guide: "retry up to 3 times" when a large collection's delete times out
_RETRYABLE = frozenset({"operationtimedout", "internaloperationerror"})


@dataclass(frozen=True)
class DeleteRestorePointCollection(Step):
    collection: RestorePointCollectionRef
    source_vm: VmRef
    restore_points: int = 0
    attempts: int = DELETE_ATTEMPTS
    orphaned: bool = False  # the source VM is gone: the runner asks for allow_protection_changes

    kind = "delete-restore-point-collection"
    actions = ("Microsoft.Compute/restorePointCollections/delete", "Microsoft.Compute/locations/operations/read")
    destructive = True

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
