"""What the guest channel brought back: one probe's facts (or why there are none), and fixes to make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["GuestChange", "GuestFix", "GuestProbe"]


@dataclass(frozen=True, slots=True)
class GuestChange:
    """One setting a fix script changed (or found already right): what, and the value before."""

    action: str
    target: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class GuestFix:
    """One change to make inside the guest, as the guide prescribes it (value: the setting to set)."""

    action: str  # restart-service | start-service | set-service | set-registry | add-defender-exclusion |
    #              set-acl | remove-item | waagent-conf | agent-update; undo: delete-registry |
    #              remove-defender-exclusion | restore-waagent-conf
    target: str
    value: str = ""
    before: Any = None  # as the probe saw it
    disruptive: bool = False  # interrupts the workload (a service that hosts it restarts)

    def describe(self) -> str:
        words = {"restart-service": "restart service", "start-service": "start service",
                 "set-service": "set service", "set-registry": "set registry value",
                 "add-defender-exclusion": "add Defender exclusion", "set-acl": "reset the permissions of",
                 "remove-item": "delete", "waagent-conf": "set waagent.conf options",
                 "agent-update": "update the agent from the distribution's repository",
                 # the undo's (recover --undo-guest-changes)
                 "delete-registry": "delete registry value", "remove-defender-exclusion": "remove Defender exclusion",
                 "restore-waagent-conf": "put back waagent.conf options"}
        what = words.get(self.action, self.action)
        value = f" to {self.value}" if self.value else ""
        return f"{what} {self.target}{value}".strip()


@dataclass(frozen=True, slots=True)
class GuestProbe:
    """A read-only probe: ``facts`` (schema ``azbackup-guest/v1``) when it worked, else ``problem``.

    ``problem`` says why the guest could not be read (the channel's preconditions, a failed or truncated
    script, no JSON line): never read as healthy."""

    os_family: str
    channel: str | None = None  # managed | action
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    problem: str | None = None
    problem_code: str | None = None  # GuestChannelUnavailable | GuestProbeFailed
    exit_code: int | None = None
    request_failed: bool = False  # Run Command's own request failed (ARM's error), not the guest or the script
    endpoints: tuple[str, ...] = ()  # host:port the probe tested TCP reachability of (facts "endpoints")
    endpoint_source: str = ""  # where they came from: "boot diagnostics" | "given" | "" (none: not tested)

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))

    @property
    def ok(self) -> bool:
        return self.problem is None
