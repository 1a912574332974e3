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
    if not agent.is_ready:
        state = agent.status or "not reported"
        return (
            finding_from_entry(
                "UserErrorGuestAgentStatusUnavailable",
                severity=Severity.ERROR,
                title=f"VM agent is {state}; Azure Backup cannot reach it"
                + (f": {agent.message}" if agent.message else ""),
                evidence=evidence,
                guest_steps=agent_steps(vm.os_family),
            ),
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
