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
    AuthenticationError,
    AzBackupFixError,
    AzureOperationError,
    NotFoundError,
    PermissionDeniedError,
    one_line,
)

__all__ = ["ArmErrorInfo", "arm_call", "arm_error_info", "classify", "credential_error"]

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
            return AuthenticationError(
                f"authentication failed: ARM refused the token ({info.code or 401}: {_short(info.message)}; "
                f"request id {info.request_id}); check: the tenant and subscription of the identity "
                "(`az login --tenant`, AZURE_TENANT_ID)")
        if code == "subscriptionnotfound":
            return NotFoundError(f"{prefix}{info.message}")
        if code in NOT_FOUND_CODES or info.status == 404:
            return not_found(f"{prefix}not found ({info.code or 404}): {info.message}")
        return AzureOperationError(
            f"{prefix}{info.message}", status_code=info.status, arm_code=info.code, request_id=info.request_id
        )
    if isinstance(exc, ClientAuthenticationError):
        # Raised by the credential before any request: no token, so nothing was read.
        return credential_error(exc)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)) and _is_tls(exc):
        return AuthenticationError(f"TLS failure: the certificate of the ARM endpoint is not trusted "
                                   f"({_short(_tls_reason(exc))}); check: REQUESTS_CA_BUNDLE names the CA "
                                   "file of the endpoint (--arm-endpoint, AZBACKUP_ARM_ENDPOINT)")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureOperationError(f"{prefix}could not reach Azure Resource Manager: {one_line(exc.message)}")
    if isinstance(exc, AzureError):
        return AzureOperationError(f"{prefix}{one_line(exc.message)}")
    return AzureOperationError(f"{prefix}{one_line(exc)}")


_CAUSE_LEN = 160
# Lines of DefaultAzureCredential's message for credentials that were not configured (not the cause).
_NOT_TRIED = ("unavailable", "not found on path", "not installed", "could not be found", "requires the",
              "configuration not found")


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _CAUSE_LEN else text[: _CAUSE_LEN - 1] + "…"


def _is_tls(exc: BaseException) -> bool:
    import ssl

    seen: BaseException | None = exc
    for _ in range(8):  # the SSL error sits a few causes down (requests -> urllib3 -> ssl)
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tls_reason(exc: BaseException) -> str:
    match = re.search(r"certificate verify failed: [^()\]'\"]+", str(exc))
    return match.group(0).strip() if match else "certificate verify failed"


def credential_error(exc: ClientAuthenticationError) -> AuthenticationError:
    """One line from a credential's failure: the cause (the attempt that really failed) and what to check."""
    text = str(exc.message or exc)
    attempts = re.findall(r"^\s*(\w+Credential): (.+)$", text, re.M)
    tried = [(name, why) for name, why in attempts if not any(marker in why.casefold() for marker in _NOT_TRIED)]
    if "CERTIFICATE_VERIFY_FAILED" in text or _is_tls(exc):
        who = next((name for name, why in attempts if "CERTIFICATE_VERIFY_FAILED" in why), "the token endpoint")
        return AuthenticationError(
            f"TLS failure: {who} could not verify the certificate of its endpoint ({_short(_tls_reason(exc))}); "
            "check: REQUESTS_CA_BUNDLE names the CA file that signed it (the sandbox prints ca_file)")
    managed = next((why for name, why in attempts if name == "ManagedIdentityCredential"
                    and "token request error" in why.casefold()), None)
    if managed is not None or ("IDENTITY_HEADER" in text and not attempts):
        cause = managed.split("Token request error:", 1)[-1] if managed else text
        return AuthenticationError(
            f"authentication failed: the managed identity endpoint refused the token request ({_short(cause)}); "
            "check: IDENTITY_ENDPOINT and IDENTITY_HEADER (Azure Automation and App Service set both)")
    if tried:
        name, why = tried[0]
        return AuthenticationError(f"authentication failed: {name}: {_short(why)}; check: `az login`, or "
                                   "AZURE_CLIENT_ID / AZURE_TENANT_ID with a secret or federated token")
    if not attempts:
        return AuthenticationError(f"authentication failed: {_short(text)}; check: `az login`, or AZURE_CLIENT_ID "
                                   "/ AZURE_TENANT_ID, or IDENTITY_ENDPOINT for a managed identity")
    return AuthenticationError(
        "authentication failed: no credential is configured here; check: run `az login`, or set AZURE_CLIENT_ID "
        "/ AZURE_TENANT_ID (with a secret or federated token), or IDENTITY_ENDPOINT for a managed identity")


@contextmanager
def arm_call(what: str, *, not_found: type[NotFoundError] = NotFoundError) -> Iterator[None]:
    """Run SDK calls; re-raise their exceptions as library errors, chained."""
    try:
        yield
    except AzureError as exc:
        raise classify(exc, what=what, not_found=not_found) from exc
