"""The `arm` handle behind tests/sandbox/conftest.py: one object giving a contract test the sandbox, SDK
client kwargs, a credential and the control operations, in-process or over HTTPS.

Over HTTPS the sandbox clock is frozen as it is in-process, and the clients' transport `sleep()` moves
it through the control API instead of sleeping: LRO polling, Retry-After and retry back-off cost no real
time, and both modes see the same virtual timeline, so a test can assert intermediate states
(`Deleting`, `InProgress`) without racing a running clock. Tests that want the server's running clock
call `arm.set_clock_rate(rate)`; it is frozen again before the next test."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from azure.core.pipeline.transport import RequestsTransport

from azbackup_fix import SandboxCredential
from azbackup_sandbox.core.config import SandboxConfig
from azbackup_sandbox.core.http import SandboxRequest
from azbackup_sandbox.core.sandbox import Sandbox
from azbackup_sandbox.server import SandboxServer

__all__ = ["Arm", "ControlResponse", "ControlError", "make_pristine"]


@dataclass
class ControlResponse:
    """An answer from the sandbox, however it travelled."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None


class ControlError(AssertionError):
    pass


class _ClockTransport(RequestsTransport):
    """The SDK's requests transport, except that waiting advances the sandbox's virtual clock."""

    def __init__(self, arm: Arm, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._arm = arm
        self.slept = 0.0

    def sleep(self, duration: float) -> None:
        self.slept += duration
        if duration > 0:
            self._arm.advance(duration)


@dataclass
class Arm:
    """Everything a contract test needs, identical in both modes (`mode` is "inprocess" or "https")."""

    mode: str
    sandbox: Sandbox
    server: SandboxServer | None = None
    credential: SandboxCredential = field(default_factory=SandboxCredential)
    _session: requests.Session | None = None

    # ---- clients --------------------------------------------------------------------------
    @property
    def https(self) -> bool:
        return self.mode == "https"

    @property
    def endpoint(self) -> str:
        return self.server.endpoint if self.server else "https://management.azure.com"

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for any azure-mgmt client: `Client(arm.credential, sub, **arm.client_kwargs())`."""
        kwargs: dict[str, Any] = {"polling_interval": 0}
        if self.server is not None:
            kwargs.update(
                base_url=self.server.endpoint,
                connection_verify=self.server.ca_file,
                transport=_ClockTransport(self, connection_verify=self.server.ca_file),
            )
        else:
            kwargs["transport"] = self.sandbox.transport()
        kwargs.update(extra)
        return kwargs

    def client(self, client_class: type, subscription_id: str | None = None, **extra: Any) -> Any:
        sub = subscription_id or self.subscription_id
        return client_class(self.credential, sub, **self.client_kwargs(**extra))

    @property
    def subscription_ids(self) -> list[str]:
        from azbackup_sandbox.core.control import subscription_ids

        return subscription_ids(self.sandbox)

    @property
    def subscription_id(self) -> str:
        subs = self.subscription_ids
        if not subs:
            raise ControlError("the estate has no subscription: load a scenario first")
        return subs[0]

    # ---- raw calls (control API or ARM) ---------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        content: bytes | None = None,
    ) -> ControlResponse:
        """Send one request to the sandbox: over HTTPS in https mode, through `Sandbox.handle` in-process.
        ARM paths carry `arm.credential`'s bearer token unless `token` names another ("" for none)."""
        headers = dict(headers or {})
        token = self.credential.token if token is None else token
        if token and not path.startswith("/_sandbox"):
            headers.setdefault("Authorization", f"Bearer {token}")
        body = content if content is not None else b"" if json is None else jsonlib.dumps(json).encode()
        if body:
            headers.setdefault("Content-Type", "application/json")
        if self.server is not None:
            if self._session is None:
                self._session = requests.Session()
            # verify= per request: a Session-level verify loses to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.
            answer = self._session.request(
                method, self.server.endpoint + path, params=params, data=body or None, headers=headers,
                verify=self.server.ca_file, timeout=30,
            )
            return ControlResponse(answer.status_code, dict(answer.headers), answer.content)
        query = urlencode(params or {})
        url = f"https://management.azure.com{path}" + (f"?{query}" if query else "")
        response = self.sandbox.handle(SandboxRequest(method, url, headers, body))
        return ControlResponse(response.status, dict(response.headers), response.body)

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.call(method, f"/_sandbox/{path}", **kwargs)
        if answer.status >= 400:
            raise ControlError(f"{method} /_sandbox/{path} -> {answer.status}: {answer.body.decode()}")
        return answer.json()

    # ---- sandbox control: over the control API in https mode, direct in-process ---------------
    def load(self, scenario: str, **params: Any) -> dict[str, Any]:
        if self.https:
            return self._control("POST", "load", params={"scenario": scenario}, json=params or None)
        self.sandbox.load(scenario, **params)
        return {"scenario": self.sandbox.scenario_name, "params": params,
                "subscription_ids": self.subscription_ids}

    def reset(self) -> None:
        if self.https:
            self._control("POST", "reset")
        else:
            self.sandbox.reset()

    def snapshot(self) -> dict[str, Any]:
        if self.https:
            return self._control("GET", "state")
        # Round-trip through JSON so both modes return the same types (lists, not tuples).
        return jsonlib.loads(jsonlib.dumps(self.sandbox.snapshot()))

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        if self.https:
            return self._control("GET", "requests", params={"since": since} if since else None)
        return [r.to_dict() for r in self.sandbox.requests() if r.seq > since]

    def clear_requests(self) -> None:
        if self.https:
            self._control("DELETE", "requests")
        else:
            self.sandbox.clear_requests()

    def add_faults(self, *rules: dict[str, Any]) -> list[dict[str, Any]]:
        if self.https:
            return self._control("POST", "faults", json=list(rules))
        return [self.sandbox.faults.add(dict(rule)).to_dict() for rule in rules]

    def clear_faults(self) -> None:
        if self.https:
            self._control("DELETE", "faults")
        else:
            self.sandbox.faults.clear()

    def advance(self, seconds: float) -> str:
        """Move the virtual clock forward; returns the new time (ARM format)."""
        from azbackup_sandbox.core.timefmt import arm_time

        if self.https:
            return self._control("POST", "clock", params={"advance": seconds})["now"]
        return arm_time(self.sandbox.advance(seconds))

    def configure(self, **settings: Any) -> dict[str, Any]:
        if self.https:
            return self._control("POST", "config", json=settings)
        self.sandbox.config.update(settings)
        self.sandbox.throttle.enforce = self.sandbox.config.throttling
        self.sandbox.rbac.enforce = self.sandbox.config.rbac
        return self.sandbox.config.to_dict()

    def assign(self, object_id: str, role: str | None = None, *, actions: list[str] | None = None,
               not_actions: list[str] | None = None, token: str | None = None) -> dict[str, Any]:
        """Give a principal a role (or actions); `token` makes that bearer token resolve to it."""
        body: dict[str, Any] = {"object_id": object_id}
        for key, value in (("role", role), ("actions", actions), ("not_actions", not_actions), ("token", token)):
            if value is not None:
                body[key] = value
        if self.https:
            return self._control("POST", "rbac", json=body)
        principal = self.sandbox.rbac.assign(object_id, role, actions=tuple(actions or ()),
                                             not_actions=tuple(not_actions or ()))
        if token:
            self.sandbox.rbac.tokens[token] = object_id
        return {"object_id": object_id, "actions": list(principal.actions),
                "not_actions": list(principal.not_actions)}

    def set_clock_rate(self, rate: float) -> None:
        """Let the virtual clock run by itself (virtual seconds per real second); 0 freezes it."""
        if self.https:
            self._control("POST", "clock", params={"rate": rate})
        else:
            from azbackup_sandbox.core.control import set_clock_rate

            set_clock_rate(self.sandbox, rate)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def make_pristine(sandbox: Sandbox) -> None:
    """Back to a just-constructed state, for the session server shared by all https-mode tests."""
    from azbackup_sandbox.core.control import set_clock_rate

    with sandbox.lock:
        sandbox.config = SandboxConfig()
        sandbox.rbac.principals.clear()
        sandbox.rbac.tokens.clear()
        set_clock_rate(sandbox, 0.0)
        sandbox.reset()
