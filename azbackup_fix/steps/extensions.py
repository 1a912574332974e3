"""DeleteExtension: uninstall the failed backup extension and wait until it is gone."""

from __future__ import annotations

from dataclasses import dataclass

from ..ids import VmRef
from ..models.report import DetailValue, StepOutcome, StepStatus
from ..waits import wait_until
from .base import Step, StepContext

__all__ = ["DeleteExtension"]


@dataclass(frozen=True)
class DeleteExtension(Step):
    vm: VmRef
    name: str  # the extension's resource name (found by publisher + type, never assumed)
    qualified_type: str = ""
    state: str | None = None
    timeout: float = 1800.0  # seconds to wait until it is gone

    kind = "delete-extension"
    actions = ("Microsoft.Compute/virtualMachines/extensions/delete", "Microsoft.Compute/virtualMachines/read",
               "Microsoft.Compute/locations/operations/read")
    destructive = True

    @property
    def target(self) -> str:
        return f"{self.vm.id}/extensions/{self.name}"

    def describe(self) -> str:
        what = f" ({self.qualified_type}, {self.state})" if self.qualified_type else ""
        return f"uninstall extension '{self.name}'{what} from VM {self.vm.name} and wait until it is gone"

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return (("type", self.qualified_type or None), ("state", self.state))

    def run(self, ctx: StepContext) -> StepOutcome:
        ctx.gateway.delete_extension(self.vm, self.name)
        folded = self.name.casefold()

        def gone(vm: object) -> bool:
            return not any(e.name.casefold() == folded for e in getattr(vm, "extensions", ()))

        wait_until(lambda: ctx.gateway.get_vm(self.vm), gone, timeout=self.timeout, sleep=ctx.sleep,
                   what=f"extension {self.name} of VM {self.vm.name} to be gone", interval=15.0,
                   **ctx.wait_kwargs(self.target))
        return self.outcome(StepStatus.CHANGED)
