"""What a scenario is: a name, one line of description, and a function that seeds a sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

__all__ = ["Scenario"]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    builder: Callable[..., None]

    def build(self, sandbox: Sandbox, **params: Any) -> None:
        self.builder(sandbox, **params)
