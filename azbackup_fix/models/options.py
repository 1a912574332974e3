"""Playbook option schemas (as Cloud Custodian's ``type_schema``): type, default and constraints.

One :class:`Option` per option name; the same check runs when a playbook file loads and when
options come from Python, so bad input (``retention_days: 0``) is refused before anything runs.
An ``Option`` unpacks as ``(type, default)``, the older tuple form, which is still accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Option", "as_option"]


@dataclass(frozen=True, slots=True)
class Option:
    """One option: its type and default, an inclusive ``minimum``/``maximum`` for numbers, ``enum`` for choices."""

    type: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[Any, ...] = ()
    help: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "enum", tuple(self.enum))

    def __iter__(self) -> Iterator[Any]:  # the (type, default) tuple form
        return iter((self.type, self.default))

    def problem(self, value: Any) -> str | None:
        """Why ``value`` (already of the right type) breaks a constraint, or ``None``."""
        if value is None:
            return None
        if self.enum and value not in self.enum:
            return "must be one of " + ", ".join(repr(v) for v in self.enum) + f", got {value!r}"
        if self.minimum is not None and isinstance(value, (int, float)) and value < self.minimum:
            return f"must be at least {_num(self.minimum)}, got {value!r}"
        if self.maximum is not None and isinstance(value, (int, float)) and value > self.maximum:
            return f"must be at most {_num(self.maximum)}, got {value!r}"
        return None

    def constraints(self) -> str:
        """The constraints in words, for generated docs ('' when none)."""
        parts = []
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_num(self.minimum)} to {_num(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f">= {_num(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"<= {_num(self.maximum)}")
        if self.enum:
            parts.append("one of " + ", ".join(f"`{v}`" for v in self.enum))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.__name__, "default": self.default}
        for key in ("minimum", "maximum"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.enum:
            out["enum"] = list(self.enum)
        return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def as_option(spec: Option | tuple[type, Any]) -> Option:
    """An :class:`Option` from either form."""
    if isinstance(spec, Option):
        return spec
    kind, default = spec
    return Option(kind, default)
