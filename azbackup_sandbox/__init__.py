"""The Azure VM Backup sandbox: a stateful Azure Resource Manager emulator for tests, demos and rehearsals.

Reach it in-process (`Sandbox().transport()` handed to any azure-mgmt client) or over HTTPS
(`SandboxServer` / `azbackup-sandbox serve`); both see the same state and behave the same."""

from __future__ import annotations

from typing import Any

from .core.clock import VirtualClock
from .core.config import SandboxConfig
from .core.faults import FaultRule
from .core.sandbox import RequestRecord, Sandbox
from .scenarios import get_scenario, list_scenarios

__all__ = [
    "FaultRule",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "VirtualClock",
    "get_scenario",
    "list_scenarios",
]


def __getattr__(name: str) -> Any:
    # The server needs the optional `sandbox` extra (trustme); import it only when asked for.
    if name == "SandboxServer":
        from .server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
