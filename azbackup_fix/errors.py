"""The exception tree of azbackup-fix.

Every error the library raises on purpose derives from :class:`AzBackupFixError`
and carries the CLI exit code it maps to (DESIGN.md section 7)::

    AzBackupFixError (Exception)              exit 1
    ├── InvalidInputError                     exit 2  bad input, nothing was sent
    │   ├── InvalidResourceIdError                    malformed or wrong-type resource id
    │   └── PlaybookFileError                         file, line, problem
    ├── NotFoundError                         exit 2  the target does not exist
    │   ├── VmNotFoundError
    │   ├── VaultNotFoundError
    │   ├── ProtectedItemNotFoundError
    │   └── VmNotProtectedError
    ├── PermissionDeniedError                 exit 3  carries the missing RBAC action when known
    ├── AuthenticationError                   exit 6  no token or untrusted TLS; says what to check
    ├── GuardRailError                        exit 3  a change outside the allowed scope was refused
    ├── AzureOperationError                   exit 1  an ARM call failed (status, code, request id)
    ├── WaitTimeoutError                      exit 1  a domain wait ran out of time
    └── WaitInterruptedError                  exit 130 a domain wait stopped by an interrupt (Ctrl-C)

Messages are one line and never contain secrets: newlines are folded and SAS
signatures / bearer tokens are masked, because ARM error text can echo request
URLs (the VMSnapshot extension's settings carry SAS URIs).
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "AzBackupFixError",
    "AzureOperationError",
    "GuardRailError",
    "InvalidInputError",
    "InvalidResourceIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlaybookFileError",
    "ProtectedItemNotFoundError",
    "VaultNotFoundError",
    "VmNotFoundError",
    "VmNotProtectedError",
    "WaitInterruptedError",
    "WaitTimeoutError",
    "one_line",
]

# SAS query parameters that grant access, and bearer tokens: mask their values.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(sig|skoid|sktid|skt|ske|sks|skv)=[^&\s\"']+"), r"\1=***"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    (re.compile(r"(?i)\b(access_token|client_secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"), r"\1\2***"),
)
_MAX_MESSAGE = 500


def one_line(text: object) -> str:
    """Fold ``text`` to a single, bounded line with secrets masked."""
    folded = " ".join(str(text).split())
    for pattern, replacement in _SECRET_PATTERNS:
        folded = pattern.sub(replacement, folded)
    if len(folded) > _MAX_MESSAGE:
        folded = folded[: _MAX_MESSAGE - 1] + "…"
    return folded


class AzBackupFixError(Exception):
    """Base of every deliberate azbackup-fix error; ``exit_code`` is the CLI exit status."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        self.message = one_line(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InvalidInputError(AzBackupFixError):
    """The caller's input is malformed; raised before any request is sent."""

    exit_code: ClassVar[int] = 2


class InvalidResourceIdError(InvalidInputError):
    """A resource id could not be parsed or is not of the expected type."""

    def __init__(self, message: str, *, text: str | None = None) -> None:
        super().__init__(message)
        self.text = text


class PlaybookFileError(InvalidInputError):
    """A playbook file is unreadable or invalid; names the file, line and problem."""

    def __init__(self, file: str, problem: str, *, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.problem = one_line(problem)
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {self.problem}")


class NotFoundError(AzBackupFixError):
    """The target (VM, vault, protected item) does not exist or is not protected."""

    exit_code: ClassVar[int] = 2


class VmNotFoundError(NotFoundError):
    """The virtual machine does not exist."""


class VaultNotFoundError(NotFoundError):
    """The Recovery Services vault does not exist."""


class ProtectedItemNotFoundError(NotFoundError):
    """The vault has no protected item for the VM."""


class VmNotProtectedError(NotFoundError):
    """No vault protects the VM, so there is no backup to repair."""


class PermissionDeniedError(AzBackupFixError):
    """The caller lacks an RBAC permission; ``action`` names it when ARM said which."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, *, action: str | None = None, scope: str | None = None,
                 arm_code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.scope = scope
        self.arm_code = arm_code  # e.g. AuthorizationFailed, ExpiredAuthenticationToken
        self.request_id = request_id


class AuthenticationError(AzBackupFixError):
    """No token, or no trusted TLS connection (to ARM or the token endpoint): nothing could be read."""

    exit_code: ClassVar[int] = 6


class GuardRailError(AzBackupFixError):
    """A change was refused because it falls outside the scope the safety model allows."""

    exit_code: ClassVar[int] = 3


class AzureOperationError(AzBackupFixError):
    """An ARM request failed; built by the gateway and chained with ``raise ... from exc``.

    Classify by ``arm_code`` (e.g. ``ScopeLocked`` arrives as HTTP 409), never by
    exception class alone.
    """

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        arm_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.arm_code = arm_code
        self.request_id = request_id
        parts = [p for p in (str(status_code) if status_code is not None else None, arm_code) if p]
        prefix = f"{' '.join(parts)}: " if parts else ""
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{prefix}{message}{suffix}")


class WaitTimeoutError(AzBackupFixError):
    """A bounded domain wait (job finished, extension gone) ran out of time."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, waited_seconds: float | None = None) -> None:
        super().__init__(message)
        self.waited_seconds = waited_seconds


class WaitInterruptedError(AzBackupFixError):
    """A domain wait stopped at its next poll because the run was interrupted (first Ctrl-C)."""

    exit_code: ClassVar[int] = 130
