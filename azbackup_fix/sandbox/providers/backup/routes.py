"""Wire format (placeholder until the provider's routes land)."""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(router: Any) -> None:
    return None
