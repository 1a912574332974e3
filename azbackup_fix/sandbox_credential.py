"""A fixed bearer token for the sandbox, which accepts any token (no azure-identity needed).

Lives in the library, not in the sandbox, so that the CLI's ``--sandbox`` path and users'
rehearsal scripts need nothing from the emulator to authenticate.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

__all__ = ["SandboxCredential"]


class SandboxCredential:
    """azure-core ``TokenCredential`` (and ``SupportsTokenInfo``) handing out one token."""

    def __init__(self, token: str = "azbackup-fix-sandbox", *, lifetime: int = 3600) -> None:
        self.token = token
        self.lifetime = lifetime

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + self.lifetime)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + self.lifetime)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "SandboxCredential(token=***)"
