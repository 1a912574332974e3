"""UpdateProtection: resume protection with a policy, or stop it retaining the data (never deletes data)."""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import ProtectedItemRef, VmRef
from ..models.rails import PROTECTION
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["UpdateProtection"]


@dataclass(frozen=True)
class UpdateProtection(Step):
    item: ProtectedItemRef
    vm: VmRef
    policy_id: str | None = None  # resume with this policy
    stop_retain_data: bool = False

    kind = "update-protection"
    actions = (
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/operationsStatus/read",
        "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
    )
    disruptive = True  # changes what the vault does with the VM's backups
    rail = PROTECTION

    @property
    def target(self) -> str:
        return self.item.id

    def describe(self) -> str:
        if self.stop_retain_data:
            return f"stop protection of {self.vm.name} in vault {self.item.vault.name}, retaining backup data"
        policy = (self.policy_id or "").rstrip("/").rsplit("/", 1)[-1]
        return f"resume protection of {self.vm.name} in vault {self.item.vault.name} with policy {policy}"

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("policy_id", self.policy_id), ("retain_data", True))

    def run(self, ctx: StepContext) -> StepOutcome:
        item = ctx.gateway.update_protection(self.item, self.vm, policy_id=self.policy_id,
                                             stop_retain_data=self.stop_retain_data)
        return self.outcome(StepStatus.CHANGED, detail=(("protection_state", item.protection_state),))
