"""Wire format of `GET /metadata/endpoints?api-version=...`: anonymous, as on management.azure.com."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.http import SandboxRequest, SandboxResponse, json_response
from .models import document_for

if TYPE_CHECKING:
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register"]


def _endpoints(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    return json_response(200, document_for(req.base_url, req.query.get("api-version") or ""))


def register(router: Router) -> None:
    router.add("GET", "/metadata/endpoints", _endpoints, operation="Metadata_GetEndpoints",
               action="Microsoft.Resources/metadata/read", anonymous=True)
