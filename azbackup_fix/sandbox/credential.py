"""A fixed bearer token for talking to the sandbox (which trusts any token) without azure-identity."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

__all__ = ["StaticTokenCredential"]


class StaticTokenCredential:
    """Implements azure-core's TokenCredential and SupportsTokenInfo protocols with one token.

    With sandbox RBAC enabled, map the token to a principal (`sandbox.rbac.tokens[token] = object_id`)."""

    def __init__(self, token: str = "sandbox-token", *, lifetime: int = 3600) -> None:
        self.token = token
        self.lifetime = lifetime

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + self.lifetime)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, int(time.time()) + self.lifetime)

    def close(self) -> None:
        pass
