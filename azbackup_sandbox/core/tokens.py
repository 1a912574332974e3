"""Access tokens the sandbox issues and reads: JWTs shaped like Entra ID v1 access tokens.

Clients decode access tokens without verifying them (the Azure CLI reads `tid` at `az login --identity`,
`oid`/`appid` for `az account show`; tools read `exp`), so the managed-identity endpoint hands out
real JWTs: header `{"typ": "JWT", "alg": "HS256"}`, signed with a fixed key published here
(`SIGNING_KEY`): nothing secret, it only makes the token a well-formed JWS that any parser accepts.

ARM checks the audience: a JWT issued for another resource (Storage, Graph) is refused with 401
`InvalidAuthenticationTokenAudience`, an expired one with `ExpiredAuthenticationToken`. Opaque (non-JWT)
tokens, which tests hand out through `POST /_sandbox/rbac`, are accepted as before."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SIGNING_KEY",
    "ARM_AUDIENCES",
    "issue_token",
    "decode_token",
    "is_arm_audience",
]

SIGNING_KEY = b"sandbox-token-signing-key-not-a-secret"
# What ARM accepts as its own audience (both spellings, with or without the trailing slash).
ARM_AUDIENCES = ("https://management.core.windows.net", "https://management.azure.com")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    *,
    audience: str,
    tenant_id: str,
    object_id: str,
    app_id: str,
    lifetime: int,
    resource_id: str | None = None,
    now: float | None = None,
) -> tuple[str, int]:
    """A v1 app-only access token (as a managed identity gets) and its expiry in epoch seconds.

    Times are real wall-clock epoch seconds: token caches (MSAL, azure-identity) compare them with
    `time.time()`, not with the sandbox's virtual clock."""
    issued = int(now if now is not None else time.time())
    expires = issued + lifetime
    issuer = f"https://sts.windows.net/{tenant_id}/"
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "aio": _b64(uuid.uuid4().bytes),
        "appid": app_id,
        "appidacr": "2",
        "idp": issuer,
        "idtyp": "app",
        "oid": object_id,
        "rh": "0.sandbox.",
        "sub": object_id,
        "tid": tenant_id,
        "uti": _b64(uuid.uuid4().bytes[:12]),
        "ver": "1.0",
    }
    if resource_id:
        claims["xms_mirid"] = resource_id
    header = {"typ": "JWT", "alg": "HS256"}
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64(json.dumps(claims, separators=(",", ":")).encode()))
    signature = hmac.new(SIGNING_KEY, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}", expires


def decode_token(token: str) -> Mapping[str, Any] | None:
    """The claims of a JWT (unverified, as clients read them), or None for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def is_arm_audience(audience: str, base_url: str | None = None) -> bool:
    """Whether ARM accepts a token with this `aud` (its public audiences, or the sandbox's own URL)."""
    wanted = audience.rstrip("/").lower()
    accepted = {a.lower() for a in ARM_AUDIENCES}
    if base_url:
        accepted.add(base_url.rstrip("/").lower())
    return wanted in accepted
