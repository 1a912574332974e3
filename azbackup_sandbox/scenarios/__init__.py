"""Seeded estates: the shipped estate files (`azbackup_sandbox/estates/*.yaml`, one per row of the
failure catalogue, and the demo) and generated fleets. Users' own estate files load the same way
(`Sandbox(estate=PATH)`, docs/estate-files.md)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .base import Scenario
from .files import shipped_estates
from .fleet import build_fleet

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["Scenario", "get_scenario", "list_scenarios", "SCENARIOS", "SHIPPED_ESTATES", "SINGLE_SCENARIOS"]


def _build_shipped(sandbox: Sandbox, *, name: str) -> None:
    from .builder import build_estate
    from .files import read_shipped

    build_estate(sandbox, read_shipped(name).spec)


def _description(path: Path) -> str:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    return str(document.get("description") or "") if isinstance(document, dict) else ""


def _registry() -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    for name, path in shipped_estates().items():
        out[name] = Scenario(name, _description(path), partial(_build_shipped, name=name))
    out["fleet-small"] = Scenario(
        "fleet-small", "300 VMs over 3 subscriptions and 6 vaults with a realistic failure mix",
        partial(build_fleet, vms=300, subscriptions=3, vaults=2),
    )
    out["fleet"] = Scenario(
        "fleet", "generated fleet; params vms, subscriptions, vaults, mix='kind=weight,...', history_days",
        build_fleet,
    )
    return out


SCENARIOS: dict[str, Scenario] = _registry()
SHIPPED_ESTATES: tuple[str, ...] = tuple(shipped_estates())
# One broken VM of a catalogue row beside a healthy neighbour (every shipped estate but the demo).
SINGLE_SCENARIOS: tuple[str, ...] = tuple(n for n in SHIPPED_ESTATES if n != "demo")


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario '{name}'; known: {', '.join(SCENARIOS)}") from None


def list_scenarios() -> list[Scenario]:
    return list(SCENARIOS.values())
