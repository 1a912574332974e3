"""The guest channel: run a guest script through Run Command (managed where the VM's agent supports it,
the action as fallback) and read its one JSON line. Preconditions (VM running, agent Ready, no failed
extension in the way) are checked first, so an impossible run is a clear problem, not a wait."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..errors import AzBackupFixError, WaitTimeoutError
from ..models import VirtualMachine
from ..models.guest import GuestFix, GuestProbe
from .endpoints import ENDPOINTS_PARAMETER, probe_endpoints
from .result import ScriptOutput, parse_output
from .scripts import fix_script, probe_script

if TYPE_CHECKING:
    from ..gateway import Gateway

__all__ = ["DEFAULT_TIMEOUT", "GuestChannel", "MANAGED_MIN_AGENT", "RUN_COMMAND_ACTIONS", "channel_problem"]

DEFAULT_TIMEOUT = 20 * 60.0  # seconds; Azure allows a run up to 90 minutes, a probe needs far less
# Managed Run Command needs these agents (Microsoft Learn); older ones get the action Run Command.
MANAGED_MIN_AGENT = {"windows": (2, 7, 41491, 1102), "linux": (2, 4, 0, 2)}
RUN_COMMAND_ACTIONS = (
    "Microsoft.Compute/virtualMachines/runCommand/action",
    "Microsoft.Compute/virtualMachines/runCommands/write",
    "Microsoft.Compute/virtualMachines/runCommands/read",
    "Microsoft.Compute/virtualMachines/runCommands/delete",
    "Microsoft.Compute/locations/operations/read",
)


_NEVER_RAN = ("the agent is Ready but did not run the script within {minutes:.0f} min: an agent that does not process "
              "extensions (on Linux, Extensions.Enable=n in /etc/waagent.conf) never runs Run Command, so nothing "
              "can be fixed from inside ({family}); set it through the serial console, or restart/redeploy the VM")


def channel_problem(vm: VirtualMachine) -> str | None:
    """Why Run Command cannot reach this guest now (Azure's rules), or None."""
    if not vm.is_running:
        return f"the VM is {vm.power_state or 'not running'}; Run Command needs a running VM"
    if not vm.agent.is_ready:
        return (f"the VM agent is {vm.agent.status or 'not reported'}; Run Command cannot reach a guest whose "
                "agent is not Ready (Azure-side levers only: restart or redeploy the VM, the serial console)")
    failed = [e.name for e in vm.extensions if e.is_failed]
    if failed:
        return (f"extension(s) {', '.join(failed)} failed; a failed extension blocks installing the Run Command "
                "handler (remove a failed VMSnapshot first, as reinstall-backup-extension does)")
    return None


def _version(text: str | None) -> tuple[int, ...] | None:
    parts = (text or "").strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) and parts != [""] else None


class GuestChannel:
    def __init__(self, gateway: Gateway, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.gateway = gateway
        self.timeout = timeout

    def _managed(self, vm: VirtualMachine) -> bool:
        have = _version(vm.agent.known_version)
        return have is not None and have >= MANAGED_MIN_AGENT[vm.os_family or "windows"]

    def run(self, vm: VirtualMachine, script: str,
            parameters: dict[str, str] | None = None) -> tuple[str, ScriptOutput]:
        """(channel, parsed output); raises the gateway's error when Run Command itself fails."""
        linux = vm.os_family == "linux"
        if self._managed(vm):
            name = f"azbackup-fix-{uuid.uuid4().hex[:12]}"
            run = self.gateway.run_command_managed(vm.ref, location=vm.location, name=name, script=script,
                                                   timeout=self.timeout, parameters=parameters)
        else:
            run = self.gateway.run_command_action(vm.ref, linux=linux, script=script, timeout=self.timeout,
                                                  parameters=parameters)
        return run.channel, parse_output(run.stdout, exit_code=run.exit_code, stderr=run.stderr)

    def probe(self, vm: VirtualMachine, *, raise_errors: bool = False) -> GuestProbe:
        """The guest's facts, or why they could not be read. ``raise_errors``: an ARM error of Run Command
        itself (403, 409, 5xx) propagates instead, for a step to report as it reports any failed request."""
        family = vm.os_family or "windows"
        problem = channel_problem(vm)
        if problem is not None:
            return GuestProbe(family, problem=problem, problem_code="GuestChannelUnavailable")
        endpoints, source = probe_endpoints(vm, getattr(self.gateway, "guest_storage_endpoint", None))
        parameters = {ENDPOINTS_PARAMETER: " ".join(endpoints)} if endpoints else None
        try:
            channel, out = self.run(vm, probe_script(family, endpoints), parameters)
        except WaitTimeoutError:
            return GuestProbe(family, problem=_NEVER_RAN.format(minutes=self.timeout / 60, family=family),
                              problem_code="GuestChannelUnavailable")
        except AzBackupFixError as exc:
            text = str(exc)
            never_ran = "VMExtensionProvisioningTimeout" in text
            if raise_errors and not never_ran:
                raise
            if never_ran:
                text = _NEVER_RAN.format(minutes=self.timeout / 60, family=family)
            return GuestProbe(family, problem=f"Run Command failed: {text}", problem_code="GuestChannelUnavailable",
                              request_failed=not never_ran)
        if out.problem is not None or out.facts is None:
            why = out.problem or "the probe reported no facts"
            return GuestProbe(family, channel, problem=f"the probe script failed: {why}",
                              problem_code="GuestProbeFailed")
        if out.errors:
            return GuestProbe(family, channel, problem="the probe script reported: " + "; ".join(out.errors),
                              problem_code="GuestProbeFailed")
        return GuestProbe(family, channel, facts=out.facts, endpoints=endpoints, endpoint_source=source)

    def fix(self, vm: VirtualMachine, fixes: tuple[GuestFix, ...]) -> tuple[str, ScriptOutput]:
        return self.run(vm, fix_script(vm.os_family or "windows", fixes))
