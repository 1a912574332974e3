"""In-process azure-core transport: SDK clients send to the sandbox without a socket.

`sleep()` advances the virtual clock, so LRO polling delays and Retry-After cost no real time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

from .http import SandboxRequest

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["SandboxTransport"]

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _body_bytes(request: Any) -> bytes:
    for attr in ("content", "body", "data"):
        value = getattr(request, attr, None)
        if value is None:
            continue
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
    return b""


class _NoConnection:
    """Stands in for a socket-level response: there is nothing to close in-process."""

    def close(self) -> None:
        pass


class _Response(HttpResponseImpl):
    def __init__(self, request: Any, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(
            request=request,
            internal_response=_NoConnection(),
            status_code=status,
            reason=_REASONS.get(status, "Unknown"),
            content_type=headers.get("Content-Type"),
            headers=CaseInsensitiveDict(headers),
            stream_download_generator=None,
        )
        self._content = body


class SandboxTransport(HttpTransport):  # type: ignore[type-arg]
    def __init__(self, sandbox: Sandbox, *, advance_clock_on_sleep: bool = True) -> None:
        self.sandbox = sandbox
        self.advance_clock_on_sleep = advance_clock_on_sleep
        self.slept = 0.0  # virtual seconds the SDK asked to wait, for tests and benchmarks

    def send(self, request: Any, **kwargs: Any) -> _Response:
        latency = self.sandbox.config.latency_ms
        if latency[1] > 0:
            self.sandbox.advance(self.sandbox.rng.uniform(*latency) / 1000.0)
        sandbox_request = SandboxRequest(
            method=request.method, url=request.url, headers=dict(request.headers), body=_body_bytes(request)
        )
        answer = self.sandbox.handle(sandbox_request)
        if answer.drop_connection:
            raise ServiceResponseError("Connection aborted: the sandbox dropped the connection (injected fault).")
        return _Response(request, answer.status, answer.headers, answer.body)

    def sleep(self, duration: float) -> None:
        self.slept += duration
        if self.advance_clock_on_sleep and duration > 0:
            self.sandbox.advance(duration)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> SandboxTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass
