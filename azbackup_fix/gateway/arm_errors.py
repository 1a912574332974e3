"""Turn azure-core exceptions into the library's errors, by ARM's ``error.code``.

The exception class alone is not enough: ScopeLocked arrives as HTTP 409, which most SDK
operations raise as ResourceExistsError; a 404 may be a missing VM, a missing group or a
missing subscription. Call sites chain the result: ``raise classify(exc) from exc``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from ..errors import (
    AzBackupFixError,
    AzureOperationError,
    NotFoundError,
    PermissionDeniedError,
    one_line,
)

__all__ = ["ArmErrorInfo", "arm_call", "arm_error_info", "classify"]

NOT_FOUND_CODES = frozenset(
    code.casefold()
    for code in (
        "ResourceNotFound", "NotFound", "ResourceGroupNotFound", "ParentResourceNotFound",
        "BMSUserErrorObjectNotFound", "BMSUserErrorContainerObjectNotFound", "JobNotFound",
        "UserErrorVaultNotFound", "VaultNotFound",
    )
)
AUTH_CODES = frozenset(
    code.casefold()
    for code in ("InvalidAuthenticationToken", "ExpiredAuthenticationToken", "AuthenticationFailed",
                 "InvalidAuthenticationTokenTenant")
)
_ACTION = re.compile(r"perform action '([^']+)'")
_SCOPE = re.compile(r"over scope '([^']+)'")


class ArmErrorInfo:
    """What ARM said: status, ``error.code``, message and ``x-ms-request-id``."""

    __slots__ = ("code", "message", "request_id", "status")

    def __init__(self, status: int | None, code: str | None, message: str, request_id: str | None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


def arm_error_info(exc: HttpResponseError) -> ArmErrorInfo:
    response = exc.response
    status = exc.status_code if exc.status_code is not None else getattr(response, "status_code", None)
    code = getattr(exc.error, "code", None) if exc.error is not None else None
    message = getattr(exc.error, "message", None) if exc.error is not None else None
    if (code is None or message is None) and response is not None:
        # Some operations do not parse the envelope; read it ourselves.
        try:
            body = json.loads(response.text() or "{}")
            envelope = body.get("error") if isinstance(body, dict) else None
            if isinstance(envelope, dict):
                code = code or envelope.get("code")
                message = message or envelope.get("message")
        except (ValueError, AttributeError, TypeError):
            pass
    request_id = response.headers.get("x-ms-request-id") if response is not None else None
    return ArmErrorInfo(status, code, one_line(message or exc.reason or str(exc)), request_id)


def classify(
    exc: BaseException,
    *,
    what: str = "",
    not_found: type[NotFoundError] = NotFoundError,
) -> AzBackupFixError:
    """The library error for an SDK exception; ``what`` names the resource for the message."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, AzBackupFixError):
        return exc
    if isinstance(exc, HttpResponseError) and exc.response is not None:
        info = arm_error_info(exc)
        code = (info.code or "").casefold()
        if code == "authorizationfailed" or info.status == 403:
            action = _ACTION.search(info.message)
            scope = _SCOPE.search(info.message)
            needed = action.group(1) if action else None
            text = f"permission denied: missing '{needed}'" if needed else "permission denied"
            return PermissionDeniedError(
                f"{prefix}{text} ({info.code or info.status}; request id {info.request_id})",
                action=needed,
                scope=scope.group(1) if scope else None,
                arm_code=info.code,
                request_id=info.request_id,
            )
        if code in AUTH_CODES or info.status == 401:
            # The request id lets the operator find the refused call in ARM's activity log.
            return PermissionDeniedError(
                f"{prefix}authentication failed: {info.code}: {info.message} (request id {info.request_id})",
                arm_code=info.code, request_id=info.request_id)
        if code == "subscriptionnotfound":
            return NotFoundError(f"{prefix}{info.message}")
        if code in NOT_FOUND_CODES or info.status == 404:
            return not_found(f"{prefix}not found ({info.code or 404}): {info.message}")
        return AzureOperationError(
            f"{prefix}{info.message}", status_code=info.status, arm_code=info.code, request_id=info.request_id
        )
    if isinstance(exc, ClientAuthenticationError):
        # Raised by the credential before any request: no token, so no access.
        return PermissionDeniedError(f"{prefix}could not get an access token: {one_line(exc.message)}")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureOperationError(f"{prefix}could not reach Azure Resource Manager: {one_line(exc.message)}")
    if isinstance(exc, AzureError):
        return AzureOperationError(f"{prefix}{one_line(exc.message)}")
    return AzureOperationError(f"{prefix}{one_line(exc)}")


@contextmanager
def arm_call(what: str, *, not_found: type[NotFoundError] = NotFoundError) -> Iterator[None]:
    """Run SDK calls; re-raise their exceptions as library errors, chained."""
    try:
        yield
    except AzureError as exc:
        raise classify(exc, what=what, not_found=not_found) from exc
