"""Transport-neutral request and response types: the in-process transport and the HTTPS server
both translate to and from these, so every route behaves the same whichever way it is reached."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["SandboxRequest", "SandboxResponse", "json_response", "empty_response"]


class _CIDict(dict):  # type: ignore[type-arg]
    """Header/query map with case-insensitive keys (stored lower-cased)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class SandboxRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    # When the request arrived (time.monotonic()): in server mode before its configured latency, so that
    # the log shows which requests were in flight together (a client's round trips, not their count).
    received_at: float = field(default_factory=time.monotonic)
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        parts = urlsplit(self.url)
        # Keep the raw path: backup names carry ';' that may arrive as %3B; routes decode per segment.
        # ARM tolerates empty segments (the SDK emits `//` for an empty parentResourcePath).
        self.path = re.sub("/{2,}", "/", parts.path).rstrip("/") or "/"
        self.base_url = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "https://management.azure.com"
        self.query = _CIDict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = _CIDict(self.headers)

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass
class SandboxResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Set by fault injection: the transport/server drops the connection instead of answering.
    drop_connection: bool = False
    # Set by a latency fault in server mode: the server waits this long (real seconds) before answering,
    # outside the sandbox lock. In-process the virtual clock advances instead.
    delay_seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return SandboxResponse(status, out, json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return SandboxResponse(status, dict(headers or {}), b"")
