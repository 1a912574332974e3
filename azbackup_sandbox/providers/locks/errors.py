"""Every ARM error Microsoft.Authorization/locks raises in the sandbox, one factory per code. ScopeLocked,
which ARM's gateway gives for a write under a lock whatever the provider, stays in `core.errors`."""

from __future__ import annotations

from ...core.errors import ArmError, bad_request

__all__ = ["invalid_lock_filter", "invalid_lock_level", "lock_level_required", "lock_not_found",
           "lock_notes_too_long"]


def invalid_lock_filter(text: str) -> ArmError:
    return bad_request(f"The $filter '{text}' is not supported; use atScope().", "InvalidFilter")


def lock_level_required() -> ArmError:
    return bad_request("The lock level is required.", "LockLevelRequired")


def invalid_lock_level(level: object) -> ArmError:
    return ArmError(400, "InvalidLockLevel",
                    f"The lock level '{level}' is invalid. Allowed values: CanNotDelete, ReadOnly.")


def lock_notes_too_long(limit: int) -> ArmError:
    return bad_request(f"The lock notes must be at most {limit} characters.", "LockNotesTooLong")


def lock_not_found(name: str) -> ArmError:
    return ArmError(404, "LockNotFound", f"The lock '{name}' could not be found.")
