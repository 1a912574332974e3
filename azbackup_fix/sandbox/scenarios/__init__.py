"""Seeded estates (placeholder until scenarios land)."""

from __future__ import annotations

from typing import Any

__all__ = ["get_scenario", "list_scenarios"]


def get_scenario(name: str) -> Any:
    raise KeyError(name)


def list_scenarios() -> list[Any]:
    return []
