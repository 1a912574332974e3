"""Who may do what: bearer tokens map to principals, principals to allowed actions (wildcards as in
Azure role definitions). Off by default; when on, a missing action is 403 AuthorizationFailed."""

from __future__ import annotations

import base64
import fnmatch
import json
from dataclasses import dataclass, field

__all__ = ["Rbac", "Principal", "BUILTIN_ROLES", "principal_from_token"]

BUILTIN_ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Owner": (("*",), ()),
    "Contributor": (
        ("*",),
        ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"),
    ),
    "Reader": (("*/read",), ()),
}

DEFAULT_PRINCIPAL = "00000000-0000-0000-0000-00000000c0de"


@dataclass
class Principal:
    object_id: str
    actions: tuple[str, ...] = ("*",)
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)

        return hit(self.actions) and not hit(self.not_actions)


@dataclass
class Rbac:
    enforce: bool = False
    principals: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> principal object id

    def assign(self, object_id: str, role: str | None = None, *, actions: tuple[str, ...] = (),
               not_actions: tuple[str, ...] = ()) -> Principal:
        if role is not None:
            if role not in BUILTIN_ROLES:
                raise ValueError(f"unknown role '{role}'; known: {', '.join(BUILTIN_ROLES)}")
            actions, not_actions = BUILTIN_ROLES[role]
        principal = Principal(object_id, tuple(actions), tuple(not_actions))
        self.principals[object_id] = principal
        return principal

    def resolve(self, token: str) -> str:
        return self.tokens.get(token) or principal_from_token(token)

    def allows(self, object_id: str, action: str) -> bool:
        if not self.enforce:
            return True
        principal = self.principals.get(object_id)
        return principal is not None and principal.allows(action)


def principal_from_token(token: str) -> str:
    """A JWT's `oid` claim (unverified: the sandbox trusts its callers), else a stable default."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
            return str(claims.get("oid") or claims.get("sub") or DEFAULT_PRINCIPAL)
        except (ValueError, json.JSONDecodeError):
            pass
    return DEFAULT_PRINCIPAL
