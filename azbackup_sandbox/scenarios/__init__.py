"""Seeded estates: one per row of the failure catalogue, the demo estate, and generated fleets."""

from __future__ import annotations

from functools import partial

from .base import Scenario
from .catalogue import KIND_DESCRIPTIONS
from .fleet import build_fleet
from .single import DEMO_KINDS, SINGLE_SCENARIOS, build_demo, build_single

__all__ = ["Scenario", "get_scenario", "list_scenarios", "SCENARIOS"]


def _registry() -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    for name, (kind, os_type) in SINGLE_SCENARIOS.items():
        out[name] = Scenario(name, f"{os_type} VM: {KIND_DESCRIPTIONS[kind]}; plus a healthy neighbour",
                             partial(build_single, scenario=name))
    out["demo"] = Scenario("demo", f"one subscription, five VMs: {', '.join(DEMO_KINDS)}", build_demo)
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


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario '{name}'; known: {', '.join(SCENARIOS)}") from None


def list_scenarios() -> list[Scenario]:
    return list(SCENARIOS.values())
