"""ARM error envelope: every failure a route raises becomes `{"error": {"code", "message", ...}}`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .http import SandboxResponse, json_response

__all__ = [
    "ArmError",
    "resource_not_found",
    "resource_group_not_found",
    "scope_locked",
    "conflict",
    "bad_request",
    "authorization_failed",
    "no_route",
]


class ArmError(Exception):
    """Raised by routes and models; rendered as the ARM error envelope with its status code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        target: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.target = target
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = [dict(d) for d in self.details]
        return {"error": error}

    def to_response(self) -> SandboxResponse:
        return json_response(self.status, self.envelope(), self.headers)


def resource_not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        headers={"x-ms-failure-cause": "gateway"},
    )


def resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceGroupNotFound",
        f"Resource group '{resource_group}' could not be found.",
        headers={"x-ms-failure-cause": "gateway"},
    )


def scope_locked(target: str, operation: str, locked_scopes: Iterable[str]) -> ArmError:
    scopes = ",".join(locked_scopes)
    return ArmError(
        409,
        "ScopeLocked",
        f"The scope '{target}' cannot perform {operation} operation because following scope(s) are locked: "
        f"'{scopes}'. Please remove the lock and try again.",
    )


def conflict(message: str, code: str = "Conflict") -> ArmError:
    return ArmError(409, code, message)


def bad_request(message: str, code: str = "BadRequest") -> ArmError:
    return ArmError(400, code, message)


def authorization_failed(object_id: str, action: str, scope: str) -> ArmError:
    return ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{object_id}' with object id '{object_id}' does not have authorization to perform action "
        f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
        "refresh your credentials.",
    )


def no_route(method: str, path: str, api_version: str | None) -> ArmError:
    # ARM answers an unknown type with InvalidResourceType; we name the route so a user sees what is missing.
    return ArmError(
        404,
        "InvalidResourceType",
        f"The sandbox does not emulate '{method} {path}' (api-version '{api_version or ''}'). "
        "See azbackup_sandbox/COVERAGE.md for the emulated operations.",
    )
