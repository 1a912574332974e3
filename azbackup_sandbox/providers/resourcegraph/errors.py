"""Every error Resource Graph's query API gives in the sandbox, one factory per code. Resource Graph opens
its messages with a support line (timestamp, correlation id), as these do."""

from __future__ import annotations

import uuid
from datetime import datetime

from ...core.errors import ArmError, bad_request
from .kql.errors import KqlError

__all__ = ["invalid_api_version", "invalid_query", "invalid_skip_token", "quota_exhausted",
           "unsupported_result_format"]


def _support_line(now: datetime) -> str:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return f"Please provide below info when asking for support: timestamp = {stamp}, correlationId = {uuid.uuid4()}."


def invalid_query(now: datetime, exc: KqlError) -> ArmError:
    """The 400 for a query Resource Graph rejects: the support line, then what is wrong and where."""
    detail: dict[str, object] = {"code": exc.code, "message": str(exc)}
    if exc.line >= 0:
        detail.update(line=exc.line, characterPositionInLine=exc.column)
    if exc.token:
        detail["token"] = exc.token
    return ArmError(400, "BadRequest", _support_line(now),
                    details=[{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the "
                              "documentation for the Azure Resource Graph service and fix the error before "
                              "retrying."}, detail])


def quota_exhausted(headers: dict[str, str]) -> ArmError:
    return ArmError(429, "RateLimiting", "Please provide below info when asking for support: the per-user "
                    "quota of Resource Graph requests is exhausted.", headers=headers)


def invalid_api_version(version: str | None, supported: tuple[str, ...]) -> ArmError:
    return bad_request(f"The api-version '{version}' is not supported by the sandbox's Resource Graph "
                       f"(supported: {', '.join(supported)}).", "InvalidApiVersionParameter")


def invalid_skip_token() -> ArmError:
    return bad_request("The $skipToken is not valid.", "InvalidSkipToken")


def unsupported_result_format() -> ArmError:
    return bad_request("The sandbox answers resultFormat 'objectArray' only.", "UnsupportedResultFormat")
