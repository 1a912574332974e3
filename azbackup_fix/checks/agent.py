"""Step 2 of the guide: the guest agent's status and version."""

from __future__ import annotations

import re

from ..models import Finding, Severity, VmObservation
from .catalogue import finding_from_entry
from .evidence import ev
from .guest_steps import agent_steps
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_agent", "parse_version"]


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``'2.7.41491.1102'`` -> ``(2, 7, 41491, 1102)``; ``None`` when not a dotted number."""
    if not text or not re.fullmatch(r"\d+(\.\d+)*", text.strip()):
        return None
    return tuple(int(p) for p in text.strip().split("."))


def _agentless(obs: VmObservation) -> Finding:
    """The way to keep backups running while the agent cannot be fixed: a protection change, reported only."""
    policy = obs.policy.name if obs.policy is not None else None
    return finding_from_entry(
        "AgentlessCrashConsistentBackup",
        severity=Severity.INFO,
        title="While the agent cannot be fixed, an Enhanced backup policy with agentless crash-consistent "
              "snapshots keeps this VM backed up (a protection change: not switched automatically)",
        evidence=[ev("current policy", policy), ev("consistency without agent", "CrashConsistent")],
    )


def check_agent(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    vm = obs.vm
    if vm is None:
        return ()
    if vm.power_state is not None and not vm.is_running:
        return ()  # a stopped VM's agent is never Ready; VmNotRunning already says why
    agent = vm.agent
    evidence = [
        ev("agent status", agent.status),
        ev("agent version", agent.version),
        ev("agent message", agent.message),
        ev("os type", vm.os_type),
    ]
    if vm.agent_never_installed:
        # Restart and redeploy cannot help: there is no agent to bring back (guide 001: install it).
        return (
            finding_from_entry(
                "VmAgentNotInstalled",
                severity=Severity.ERROR,
                title="VM agent was never installed"
                + (" (provisionVMAgent is false)" if vm.provision_vm_agent is False else " (no agent reports)")
                + "; install it in the guest, restart and redeploy cannot bring one",
                evidence=[*evidence, ev("provisionVMAgent", vm.provision_vm_agent)],
                guest_steps=agent_steps(vm.os_family),
            ),
            _agentless(obs),
        )
    if not agent.is_ready:
        state = agent.status or "not reported"
        return (
            finding_from_entry(
                "UserErrorGuestAgentStatusUnavailable",
                severity=Severity.ERROR,
                title=f"VM agent is installed but {state}; Azure Backup cannot reach it"
                + (f": {agent.message}" if agent.message else ""),
                evidence=[*evidence, ev("provisionVMAgent", vm.provision_vm_agent)],
                guest_steps=agent_steps(vm.os_family),
            ),
            _agentless(obs),
        )
    minimum = options.min_agent_versions.get(vm.os_family or "")
    have, need = parse_version(agent.known_version), parse_version(minimum)
    if have is not None and need is not None and have < need:
        return (
            finding_from_entry(
                "VmAgentOutOfDate",
                severity=Severity.WARNING,
                title=f"VM agent {agent.version} is older than {minimum}; update it",
                evidence=[*evidence, ev("minimum version", minimum)],
                guest_steps=agent_steps(vm.os_family),
            ),
        )
    return ()
