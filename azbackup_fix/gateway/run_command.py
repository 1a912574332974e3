"""Run Command through the SDK: managed (``virtualMachines/{vm}/runCommands/{name}``: create, poll the
instance view, read ``executionState``/``exitCode``, delete afterwards) and the action
(``POST .../runCommand``, whose result carries no exit code). A mixin of :class:`Gateway`.

Each run has its own timeout on ARM's clock (Azure lets one run for up to 90 minutes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AzureOperationError
from ..ids import VmRef
from ..sdk_imports import SDK_IMPORT_LOCK
from ..waits import wait_until
from .arm_errors import arm_call

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from azure.mgmt.compute import ComputeManagementClient

__all__ = ["GatewayRunCommand", "ScriptRun", "TERMINAL_STATES"]

TERMINAL_STATES = frozenset({"succeeded", "failed", "timedout", "canceled", "unknown"})


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """What one Run Command returned: the tails of StdOut and StdErr, and (managed only) the exit code."""

    channel: str  # managed | action
    stdout: str
    stderr: str
    exit_code: int | None = None
    execution_state: str | None = None


class GatewayRunCommand:
    compute: ComputeManagementClient

    if TYPE_CHECKING:  # provided by Gateway
        def _check_subscription(self, subscription: str) -> None: ...
        @property
        def sleep(self) -> Callable[[float], None]: ...

    def run_command_action(self, vm: VmRef, *, linux: bool, script: str, timeout: float,
                           parameters: Mapping[str, str] | None = None) -> ScriptRun:
        """``POST .../runCommand`` (RunShellScript / RunPowerShellScript) and wait for its result.
        ``parameters`` reach a shell script as environment variables, a PowerShell script as its parameters."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.compute.models import RunCommandInput, RunCommandInputParameter

        self._check_subscription(vm.subscription_id)
        body = RunCommandInput(command_id="RunShellScript" if linux else "RunPowerShellScript",
                               script=script.splitlines(),
                               parameters=[RunCommandInputParameter(name=k, value=v)
                                           for k, v in (parameters or {}).items()] or None)
        with arm_call(f"run command on VM {vm.name}"):
            poller = self.compute.virtual_machines.begin_run_command(vm.resource_group, vm.name, body)
            result = poller.result(timeout=timeout)
        if not poller.done():
            raise AzureOperationError(f"run command on VM {vm.name}: no result within {timeout:.0f} s")
        values = [v.as_dict() if hasattr(v, "as_dict") else dict(v) for v in (result.value or [])] if result else []
        return _action_run(linux, values)

    def run_command_managed(self, vm: VmRef, *, location: str, name: str, script: str,
                            timeout: float, parameters: Mapping[str, str] | None = None) -> ScriptRun:
        """Create a managed Run Command (asynchronous), poll its instance view until it ends, then delete it."""
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            from azure.mgmt.compute.models import (
                RunCommandInputParameter,
                VirtualMachineRunCommand,
                VirtualMachineRunCommandScriptSource,
            )

        self._check_subscription(vm.subscription_id)
        ops = self.compute.virtual_machine_run_commands
        body = VirtualMachineRunCommand(location=location, async_execution=True, timeout_in_seconds=int(timeout),
                                        source=VirtualMachineRunCommandScriptSource(script=script),
                                        parameters=[RunCommandInputParameter(name=k, value=v)
                                                    for k, v in (parameters or {}).items()] or None)
        with arm_call(f"managed run command {name} on VM {vm.name}"):
            # Asynchronous execution: the instance view, polled below, is the result; the PUT's own LRO only
            # says the resource exists, so it is not waited for.
            ops.begin_create_or_update(vm.resource_group, vm.name, name, body, polling=False)
        try:
            def read() -> Any:
                with arm_call(f"managed run command {name} on VM {vm.name}"):
                    return ops.get_by_virtual_machine(vm.resource_group, vm.name, name, expand="instanceView")

            def ended(run: Any) -> bool:
                view = getattr(run, "instance_view", None)
                return (getattr(view, "execution_state", "") or "").casefold() in TERMINAL_STATES

            run = wait_until(read, ended, timeout=timeout, sleep=self.sleep, interval=2.0, max_interval=30.0,
                             what=f"run command {name} on VM {vm.name} to finish")
        finally:
            # Cleaned up even when the wait failed; ARM finishes the delete on its own.
            with arm_call(f"delete managed run command {name} on VM {vm.name}"):
                ops.begin_delete(vm.resource_group, vm.name, name, polling=False)
        view = run.instance_view
        return ScriptRun("managed", view.output or "", view.error or "", view.exit_code, view.execution_state)


def _action_run(linux: bool, values: list[dict[str, Any]]) -> ScriptRun:
    """Split the RunCommandResult: Linux one combined message, Windows StdOut and StdErr entries."""
    if linux:
        message = str((values[0] if values else {}).get("message") or "")
        stdout, _, stderr = message.partition("\n[stderr]\n")
        stdout = stdout.split("[stdout]\n", 1)[1] if "[stdout]\n" in stdout else ""
        return ScriptRun("action", stdout.rstrip("\n") + "\n" if stdout else "", stderr)
    out = next((str(v.get("message") or "") for v in values if "/stdout/" in str(v.get("code", "")).lower()), "")
    err = next((str(v.get("message") or "") for v in values if "/stderr/" in str(v.get("code", "")).lower()), "")
    return ScriptRun("action", out, err)
