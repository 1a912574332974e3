"""Management locks and their enforcement, which ARM applies before any provider sees a request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.errors import scope_locked
from . import errors

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["Lock", "LockBackend", "LEVELS"]

LEVELS = ("CanNotDelete", "ReadOnly")
NOTES_LIMIT = 512  # characters, as ARM enforces
_RG_SEGMENT = re.compile(r"/resourcegroups/", re.IGNORECASE)


def _norm(scope: str) -> str:
    return scope.rstrip("/").lower()


@dataclass
class Lock:
    scope: str
    name: str
    level: str
    notes: str | None = None
    owners: list[dict[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/locks/{self.name}"

    @property
    def message_scope(self) -> str:
        # ScopeLocked messages print the scope with a lower-case `resourcegroups` segment.
        return _RG_SEGMENT.sub("/resourcegroups/", self.scope)

    def to_arm(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"level": self.level}
        if self.notes is not None:
            properties["notes"] = self.notes
        if self.owners:
            properties["owners"] = self.owners
        return {"properties": properties, "id": self.id, "type": "Microsoft.Authorization/locks", "name": self.name}


def _within(path: str, scope: str) -> bool:
    """Is `path` the scope itself or below it (segment-wise, case-insensitive)?"""
    path, scope = _norm(path), _norm(scope)
    return path == scope or path.startswith(scope + "/")


class LockBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.locks: dict[tuple[str, str], Lock] = {}

    def put(self, scope: str, name: str, level: str | None, notes: str | None = None,
            owners: list[dict[str, str]] | None = None) -> tuple[Lock, bool]:
        if level is None:
            raise errors.lock_level_required()
        if notes is not None and len(notes) > NOTES_LIMIT:
            raise errors.lock_notes_too_long(NOTES_LIMIT)
        if level not in LEVELS:
            matched = [lv for lv in LEVELS if lv.lower() == str(level).lower()]
            if not matched:
                raise errors.invalid_lock_level(level)
            level = matched[0]
        key = (_norm(scope), name.lower())
        existing = self.locks.get(key)
        lock = Lock(existing.scope if existing else scope.rstrip("/"), existing.name if existing else name,
                    level, notes, list(owners or []))
        self.locks[key] = lock
        return lock, existing is None

    def get(self, scope: str, name: str) -> Lock:
        lock = self.locks.get((_norm(scope), name.lower()))
        if lock is None:
            raise errors.lock_not_found(name)
        return lock

    def delete(self, scope: str, name: str) -> bool:
        return self.locks.pop((_norm(scope), name.lower()), None) is not None

    def at_or_below(self, scope: str) -> list[Lock]:
        return [lock for lock in self.locks.values() if _within(lock.scope, scope)]

    def at_or_above(self, scope: str) -> list[Lock]:
        return [lock for lock in self.locks.values() if _within(scope, lock.scope)]

    def blocking(self, target: str, operation: str) -> list[Lock]:
        """Locks that stop `operation` ('write' or 'delete') on `target` and everything below it."""
        return [
            lock for lock in self.at_or_above(target)
            if operation == "delete" or lock.level == "ReadOnly"
        ]

    def enforce(self, target: str, operation: str) -> None:
        found = self.blocking(target, operation)
        if found:
            raise scope_locked(target, operation, sorted({lock.message_scope for lock in found}))

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"id": lock.id, "level": lock.level, "notes": lock.notes, "owners": lock.owners}
            for lock in sorted(self.locks.values(), key=lambda lock: lock.id.lower())
        ]
