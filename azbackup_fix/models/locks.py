"""Management locks, with a JSON form the journal can keep and restore from."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError
from ..ids import LockRef, ResourceId, ScopeKind

__all__ = ["Lock", "LockLevel"]


class LockLevel(enum.Enum):
    CAN_NOT_DELETE = "CanNotDelete"
    READ_ONLY = "ReadOnly"

    @classmethod
    def parse(cls, value: str | LockLevel) -> LockLevel:
        if isinstance(value, LockLevel):
            return value
        for level in cls:
            if level.value.casefold() == str(value).casefold():
                return level
        raise InvalidInputError(f"lock level '{value}' is not CanNotDelete or ReadOnly")


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock as ARM reports it: everything needed to put it back exactly."""

    ref: LockRef
    level: LockLevel
    notes: str | None = None
    owners: tuple[str, ...] = ()  # owner application ids

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", LockLevel.parse(self.level))
        object.__setattr__(self, "owners", tuple(self.owners))

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def scope(self) -> ResourceId:
        return self.ref.scope

    @property
    def scope_kind(self) -> ScopeKind:
        return self.ref.scope_kind

    @property
    def resource_group(self) -> str | None:
        """The group the lock applies in (its own scope or the resource's group)."""
        return self.ref.resource_group

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.ref.id,
            "name": self.name,
            "scope": self.scope.id,
            "level": self.level.value,
            "notes": self.notes,
            "owners": list(self.owners),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lock:
        return cls(
            ref=LockRef.parse(data["id"]),
            level=LockLevel.parse(data["level"]),
            notes=data.get("notes"),
            owners=tuple(data.get("owners") or ()),
        )
