"""Route table: ARM path templates -> handlers, matched case-insensitively on literal segments.

A template segment `{name}` matches one path segment (percent-decoded before the handler sees it, so
backup names arrive with their `;`); `{name*}` matches one or more segments (lock scopes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from .errors import ArmError, no_route
from .http import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["Route", "Router", "Handler", "LockCheck"]

Handler = Callable[["Sandbox", SandboxRequest, dict[str, str]], SandboxResponse]
LockCheck = Literal["write", "delete"] | None

_PARAM = re.compile(r"\{(\w+)(\*?)\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    operation: str  # the swagger operation id, for logs, faults and COVERAGE.md
    action: str  # the RBAC action ARM checks, e.g. Microsoft.Compute/virtualMachines/read
    lock_check: LockCheck  # which lock semantics ARM applies before the RP sees the request
    regex: re.Pattern[str]
    group_must_exist: bool = True  # ARM answers ResourceGroupNotFound first (not for the group's own PUT/HEAD)
    anonymous: bool = False  # served without a bearer token (the cloud metadata document)
    versionless: bool = False  # needs no api-version (an Automation webhook's URI)

    @property
    def kind(self) -> str:
        """ARM's throttling bucket for this request: reads, writes or deletes."""
        return {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(self.method, "writes")


def _compile(template: str) -> re.Pattern[str]:
    pattern, pos = "", 0
    for match in _PARAM.finditer(template):
        pattern += re.escape(template[pos : match.start()])
        name, greedy = match.group(1), match.group(2)
        pattern += f"(?P<{name}>.+?)" if greedy else f"(?P<{name}>[^/]+)"
        pos = match.end()
    pattern += re.escape(template[pos:])
    return re.compile(f"^{pattern}$", re.IGNORECASE)


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        operation: str,
        action: str,
        lock_check: LockCheck = None,
        group_must_exist: bool = True,
        anonymous: bool = False,
        versionless: bool = False,
    ) -> None:
        self._routes.append(
            Route(method.upper(), template, handler, operation, action, lock_check, _compile(template),
                  group_must_exist, anonymous, versionless)
        )

    def match_anonymous(self, request: SandboxRequest) -> tuple[Route, dict[str, str]] | None:
        """The route that needs no bearer token for this request, if any (checked before authentication)."""
        for route in self._routes:
            if route.anonymous and route.method == request.method:
                found = route.regex.match(request.path)
                if found:
                    return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def match(self, request: SandboxRequest) -> tuple[Route, dict[str, str]]:
        path_matched = False
        for route in self._routes:
            found = route.regex.match(request.path)
            if not found:
                continue
            path_matched = True
            if route.method == request.method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        if path_matched:
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"The requested method '{request.method}' is not allowed on '{request.path}'.",
            )
        raise no_route(request.method, request.path, request.query.get("api-version"))
