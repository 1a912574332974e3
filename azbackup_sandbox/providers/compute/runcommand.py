"""Run Command, action (`POST .../runCommand`) and managed (`.../runCommands/{name}`), with Azure's rules:

- the VM must be running; a ReadOnly lock blocks the POST (ARM's lock check, in routes);
- one action run at a time per VM: a second POST while one is in flight is 409 Conflict;
- a run takes at least `config.run_command_seconds` (about 20 s in Azure) on the virtual clock;
- the agent must be Ready, and a Failed extension blocks installing the Run Command handler;
- a Linux agent with `Extensions.Enable=n` never processes the handler: the run times out after 90 min;
- output keeps only the last 4,096 bytes of StdOut and of StdErr;
- action results carry no exit code; managed runs report `instanceView.executionState` and `exitCode`.

Scripts run against the VM's guest model (guest.py): bash for real on Linux, the documented protocol
for PowerShell."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError
from ...core.operations import Operation
from ...core.timefmt import arm_time
from .guest import GuestModel, default_guest, version_tuple
from .guest_linux import ScriptRun, run_bash
from .guest_windows import run_protocol

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox
    from .models import VirtualMachine

__all__ = ["OUTPUT_LIMIT", "HANDLER_TIMEOUT_SECONDS", "ManagedRunCommand", "RunCommands", "ensure_guest",
           "sync_agent", "tail"]

OUTPUT_LIMIT = 4096  # bytes of StdOut / StdErr Azure keeps (the last ones)
HANDLER_TIMEOUT_SECONDS = 90 * 60  # a run the agent never picks up fails after this
# Managed Run Command needs a recent agent (Microsoft Learn: Windows 2.7.41491.1102, Linux 2.4.0.2).
MANAGED_MIN_AGENT = {"windows": (2, 7, 41491, 1102), "linux": (2, 4, 0, 2)}
RUN_COMMAND_TYPE = "Microsoft.Compute/virtualMachines/runCommands"


def tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


def ensure_guest(vm: VirtualMachine) -> GuestModel:
    if vm.guest is None:
        vm.guest = default_guest(vm.os_type, vm.agent.version)
    return vm.guest


def sync_agent(vm: VirtualMachine) -> None:
    """The agent's status follows the guest: it cannot report Ready through a firewalled WireServer or
    while its service is stopped, and it reports the version the guest runs."""
    from .models import AgentState

    guest = vm.guest
    if guest is None or not vm.running:
        return
    problem = guest.agent_problem()
    if problem is not None:
        vm.agent = AgentState("Not Ready", vm.agent.version, problem, revived_by_restart=False)
        vm.agent_held_by_guest = True
    elif vm.agent_held_by_guest:
        vm.agent = AgentState(version=guest.agent_version)
        vm.agent_held_by_guest = False
    if vm.agent.ready:
        vm.agent.version = guest.agent_version


def _errors(code: str, message: str) -> ArmError:
    return ArmError(409 if code in ("Conflict", "OperationNotAllowed") else 400, code, message)


def _preflight_failure(vm: VirtualMachine) -> ArmError | None:
    """Why the agent cannot run the handler (the operation fails with it), or None."""
    if not vm.agent.ready:
        return ArmError(409, "VMAgentStatusCommunicationError",
                        "VM has reported a failure when processing the run command: the VM agent is not responding.")
    failed = next((e for e in vm.sorted_extensions() if e.failed), None)
    if failed is not None:
        return ArmError(400, "VMExtensionProvisioningError",
                        f"Run Command could not be installed: extension '{failed.name}' is in a failed state "
                        "and the VM's extension goal state cannot be processed. Remove or fix it and retry.")
    return None


def _execute(sb: Sandbox, vm: VirtualMachine, script: str, parameters: dict[str, str]) -> ScriptRun:
    guest = ensure_guest(vm)
    if guest.linux and not sb.config.run_guest_scripts:
        return ScriptRun("", "this sandbox runs no guest scripts (setting run_guest_scripts is off)\n", 126)
    block = sb.network.storage_path_block(vm)  # the network path to the region's storage on 443
    path = (block.reason, block.detail) if block is not None else None
    run = run_bash(guest, script, parameters, storage_path=path) if guest.linux \
        else run_protocol(guest, script, storage_path=path)
    sync_agent(vm)
    return run


@dataclass
class ManagedRunCommand:
    name: str
    location: str
    script: str
    parameters: dict[str, str] = field(default_factory=dict)
    async_execution: bool = False
    timeout_seconds: int = 0
    provisioning_state: str = "Creating"
    execution_state: str = "Pending"
    execution_message: str = ""
    exit_code: int | None = None
    output: str = ""
    error: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def to_arm(self, vm: VirtualMachine, *, instance_view: bool) -> dict[str, Any]:
        props: dict[str, Any] = {
            "source": {"script": self.script},
            "parameters": [{"name": k, "value": v} for k, v in self.parameters.items()],
            "asyncExecution": self.async_execution,
            "timeoutInSeconds": self.timeout_seconds,
            "treatFailureAsDeploymentFailure": False,
            "provisioningState": self.provisioning_state,
        }
        if instance_view:
            view: dict[str, Any] = {"executionState": self.execution_state,
                                    "executionMessage": self.execution_message}
            if self.exit_code is not None:
                view["exitCode"] = self.exit_code
            view["output"] = self.output
            view["error"] = self.error
            if self.start is not None:
                view["startTime"] = arm_time(self.start)
            if self.end is not None:
                view["endTime"] = arm_time(self.end)
            props["instanceView"] = view
        return {"name": self.name, "id": f"{vm.id}/runCommands/{self.name}", "type": RUN_COMMAND_TYPE,
                "location": self.location, "properties": props}


class RunCommands:
    """Run Command state of every VM; the Compute backend owns one."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.action_busy: dict[str, datetime] = {}  # folded VM id -> when the action run in flight ends
        self.managed: dict[str, dict[str, ManagedRunCommand]] = {}  # folded VM id -> folded name -> run

    def _seconds(self) -> float:
        return max(self._sb.config.run_command_seconds, 0.0)

    # ---- action ------------------------------------------------------------------------------
    def begin_action(self, vm: VirtualMachine, command_id: str, script: str,
                     parameters: dict[str, str]) -> Operation:
        now = self._sb.clock.now()
        key = vm.id.lower()
        busy = self.action_busy.get(key)
        if busy is not None and busy > now:
            raise _errors("Conflict", "Run command extension execution is in progress. Please wait for "
                                      "completion before invoking a run command.")
        linux_command = command_id.lower() == "runshellscript"
        if linux_command != (vm.os_type.lower() == "linux"):
            raise ArmError(400, "InvalidParameter", f"Command '{command_id}' is not supported on a "
                                                    f"{vm.os_type} VM.", target="commandId")
        guest = ensure_guest(vm)
        seconds = self._seconds()
        unprocessed = vm.agent.ready and not guest.extensions_enabled()
        if unprocessed:
            seconds = HANDLER_TIMEOUT_SECONDS
        self.action_busy[key] = now + timedelta(seconds=seconds)

        def done(op: Operation) -> dict[str, Any]:
            self.action_busy.pop(key, None)
            failure = _preflight_failure(vm)
            if failure is not None:
                raise failure
            if unprocessed:
                raise ArmError(400, "VMExtensionProvisioningTimeout",
                               "Provisioning of VM extension 'RunCommandLinux' has timed out. Extension "
                               "installation may be taking too long, or extension status could not be obtained.")
            run = _execute(self._sb, vm, script, parameters)
            return {"output": {"value": _action_value(linux_command, run)}}

        return self._sb.operations.begin(seconds, done)

    # ---- managed -----------------------------------------------------------------------------
    def runs(self, vm: VirtualMachine) -> dict[str, ManagedRunCommand]:
        return self.managed.setdefault(vm.id.lower(), {})

    def get(self, vm: VirtualMachine, name: str) -> ManagedRunCommand:
        found = self.runs(vm).get(name.lower())
        if found is None:
            raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
        return found

    def put(self, vm: VirtualMachine, run: ManagedRunCommand) -> tuple[ManagedRunCommand, bool, Operation]:
        family = "linux" if vm.os_type.lower() == "linux" else "windows"
        if vm.agent.ready and version_tuple(vm.agent.version) < MANAGED_MIN_AGENT[family]:
            raise ArmError(409, "OperationNotAllowed",
                           f"Managed Run Command requires VM agent {'.'.join(map(str, MANAGED_MIN_AGENT[family]))} "
                           f"or later; the VM reports {vm.agent.version}. Use the action Run Command.")
        runs = self.runs(vm)
        created = run.name.lower() not in runs
        runs[run.name.lower()] = run
        guest = ensure_guest(vm)
        unprocessed = vm.agent.ready and not guest.extensions_enabled()
        seconds = HANDLER_TIMEOUT_SECONDS if unprocessed else self._sb.config.run_command_seconds
        started = self._sb.clock.now()

        def finish() -> None:
            run.start = run.start or started
            run.end = self._sb.clock.now()
            failure = _preflight_failure(vm)
            if failure is None and unprocessed:
                failure = ArmError(400, "VMExtensionProvisioningTimeout",
                                   "Provisioning of VM extension 'RunCommandHandler' has timed out.")
            if failure is not None:
                run.provisioning_state, run.execution_state = "Failed", "Unknown"
                run.execution_message = failure.message
                raise failure
            outcome = _execute(self._sb, vm, run.script, run.parameters)
            run.output, run.error, run.exit_code = tail(outcome.stdout), tail(outcome.stderr), outcome.exit_code
            run.execution_state = "Succeeded" if outcome.exit_code == 0 else "Failed"
            run.execution_message = "" if outcome.exit_code == 0 else f"Script exited with code {outcome.exit_code}"
            run.provisioning_state = "Succeeded"

        if run.async_execution:
            # The resource is provisioned at once; the script runs on and the instance view follows it.
            run.provisioning_state = "Succeeded"
            if not unprocessed and vm.agent.ready:
                run.execution_state, run.start = "Running", started
            due = started + timedelta(seconds=seconds)

            def later() -> None:
                try:
                    finish()
                except ArmError:
                    pass

            self._sb.scheduler.at(due, later)
            return run, created, self._sb.operations.begin(0)

        def done(op: Operation) -> None:
            finish()
            return None

        return run, created, self._sb.operations.begin(seconds, done)

    def delete(self, vm: VirtualMachine, name: str) -> Operation | None:
        run = self.runs(vm).pop(name.lower(), None)
        if run is None:
            return None
        return self._sb.operations.begin(self._sb.config.extension_delete_seconds)


def _action_value(linux: bool, run: ScriptRun) -> list[dict[str, Any]]:
    """The RunCommandResult's value: Linux one combined status, Windows StdOut and StdErr entries."""
    out, err = tail(run.stdout), tail(run.stderr)
    if linux:
        return [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}"}]
    return [
        {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": out},
        {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": err},
    ]
