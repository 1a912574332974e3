"""The control API at `/_sandbox/*`: what tests and users drive the sandbox with in server mode
(reset, load a scenario or an estate document, export the estate, inspect state and the request log,
inject faults, move the clock, configure, assign RBAC), plus the managed-identity token endpoint that azure-identity calls as it does in Azure
Automation / App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01).

JSON in, JSON out; errors use the ARM envelope `{"error": {"code", "message"}}` (400 / 401 / 404 / 405)."""

from __future__ import annotations

import re
import secrets
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ArmError
from .http import SandboxRequest, SandboxResponse, json_response
from .timefmt import arm_time

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = [
    "handle_control",
    "identity_secret",
    "set_identity_secret",
    "set_clock_rate",
    "subscription_ids",
    "MANAGED_IDENTITY_OBJECT_ID",
    "MANAGED_IDENTITY_CLIENT_ID",
    "IDENTITY_API_VERSION",
    "IDENTITY_TOKEN_LIFETIME",
    "CONTROL_PREFIX",
]

CONTROL_PREFIX = "/_sandbox"
# The object id of the Automation account's system-assigned identity: tokens from /_sandbox/identity
# resolve to this principal, so `POST /_sandbox/rbac {"object_id": ...}` can grant or restrict it.
MANAGED_IDENTITY_OBJECT_ID = "6d3a6f1e-2b1c-4f8e-9a51-5a4db0c0ffee"
# Its application (client) id: the `appid` claim of its tokens, what `az account show` calls the user name.
MANAGED_IDENTITY_CLIENT_ID = "0c7e5a52-9f1d-4c3b-8e26-7a1d2b3c4d5e"
IDENTITY_API_VERSION = "2019-08-01"
# App Service hands out ~24 h tokens; >= 2 h also makes azure-identity/MSAL schedule a refresh at half-life.
IDENTITY_TOKEN_LIFETIME = 24 * 3600

_INT = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d*\.\d+$")

# One identity secret per sandbox, created on first use; kept outside the Sandbox object so the core
# class needs no knowledge of the server.
_SECRETS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def identity_secret(sandbox: Sandbox) -> str:
    """The value IDENTITY_HEADER must carry for this sandbox's managed-identity endpoint."""
    with sandbox.lock:
        secret = _SECRETS.get(sandbox)
        if secret is None:
            secret = _SECRETS[sandbox] = secrets.token_hex(16)
        return secret


def set_identity_secret(sandbox: Sandbox, secret: str) -> None:
    if not secret:
        raise ValueError("the identity secret must not be empty")
    with sandbox.lock:
        _SECRETS[sandbox] = secret


def set_clock_rate(sandbox: Sandbox, rate: float) -> None:
    """Change how many virtual seconds pass per real second without making the virtual clock jump."""
    if rate < 0:
        raise ValueError("the clock rate must be >= 0")
    sandbox.clock.set_rate(rate)


# ---- helpers -----------------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> ArmError:
    return ArmError(status, code, message)


def _json_body(request: SandboxRequest) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error(400, "InvalidRequestContent", f"The request body is not valid JSON: {exc}.") from exc


def _object_body(request: SandboxRequest) -> dict[str, Any]:
    body = _json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _error(400, "InvalidRequestContent", "The request body must be a JSON object.")
    return body


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise _error(400, "InvalidParameter", f"'{name}' must be a number, got '{value}'.") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise _error(400, "InvalidParameter", f"'{name}' must be a finite number, got '{value}'.")
    return number


def _scalar(value: str) -> Any:
    """Query-string scenario parameters: ints, decimals and true/false parsed, anything else a string."""
    if _INT.match(value):
        return int(value)
    if _DECIMAL.match(value):
        return float(value)
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value


def subscription_ids(sandbox: Sandbox) -> list[str]:
    """The estate's subscription ids as the scenario spelled them (the backend keys are lower-cased)."""
    with sandbox.lock:
        subs = getattr(getattr(sandbox, "resources", None), "subscriptions", None) or {}
        return sorted(getattr(sub, "subscription_id", key) for key, sub in subs.items())


# ---- handlers ----------------------------------------------------------------------------------


def _reset(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    sandbox.reset()
    return json_response(200, {"reset": True, "now": arm_time(sandbox.clock.now())})


def _load(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    """`?scenario=NAME` (typed params in the query or a JSON body), or an estate document as the body
    (JSON, or YAML with a yaml Content-Type)."""
    if "scenario" not in request.query:
        document = _estate_body(request)
        if document is not None:
            return _load_estate(sandbox, document)
    params: dict[str, Any] = {k: _scalar(v) for k, v in request.query.items() if k != "scenario"}
    params.update(_object_body(request))  # a JSON body may carry typed params (lists, nested objects)
    name = request.query.get("scenario") or params.pop("scenario", None)
    if not name:
        raise _error(400, "MissingScenario", "Name the scenario (POST /_sandbox/load?scenario=NAME) or send an "
                                             "estate document as the body.")
    from ..scenarios import get_scenario, list_scenarios

    try:
        scenario = get_scenario(str(name))
    except (KeyError, LookupError, ValueError) as exc:
        known = ", ".join(s.name for s in list_scenarios())
        raise _error(404, "ScenarioNotFound", f"Unknown scenario '{name}'. Known: {known}.") from exc
    try:
        sandbox.load(scenario, **params)
    except (TypeError, ValueError) as exc:
        raise _error(400, "InvalidScenarioParameters", f"Scenario '{name}' rejected its parameters: {exc}") from exc
    return _loaded(sandbox, params)


def _estate_body(request: SandboxRequest) -> dict[str, Any] | None:
    """The body as an estate document when it is one (it has `subscriptions`), else None."""
    content_type = (request.headers.get("content-type") or "").lower()
    if "yaml" in content_type:
        from ..scenarios.files import EstateFileError, parse_text

        try:
            document = parse_text(request.body.decode("utf-8", "replace"), "estate")
        except EstateFileError as exc:
            raise _error(400, "InvalidEstate", str(exc)) from exc
        if not isinstance(document, dict):
            raise _error(400, "InvalidEstate", "estate: expected a mapping, got " + type(document).__name__)
        return document
    body = _json_body(request)
    return body if isinstance(body, dict) and "subscriptions" in body else None


def _load_estate(sandbox: Sandbox, document: dict[str, Any]) -> SandboxResponse:
    from ..scenarios.files import EstateFileError

    try:
        sandbox.load_estate(document)
    except EstateFileError as exc:
        raise _error(400, "InvalidEstate", str(exc)) from exc
    return _loaded(sandbox, {})


def _loaded(sandbox: Sandbox, params: dict[str, Any]) -> SandboxResponse:
    return json_response(
        200,
        {
            "scenario": sandbox.scenario_name,
            "params": params,
            "now": arm_time(sandbox.clock.now()),
            "subscription_ids": subscription_ids(sandbox),
        },
    )


def _estate(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    return json_response(200, sandbox.export_estate())


def _state(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    return json_response(200, sandbox.snapshot())


def _requests_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    since_text = request.query.get("since")
    since = int(_number(since_text, "since")) if since_text else 0
    return json_response(200, [r.to_dict() for r in sandbox.requests() if r.seq > since])


def _requests_delete(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        count = len(sandbox.requests())
        sandbox.clear_requests()
    return json_response(200, {"cleared": count})


def _faults_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        return json_response(200, [rule.to_dict() for rule in sandbox.faults.rules])


def _faults_post(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    body = _json_body(request)
    rules = body if isinstance(body, list) else [body]
    if not rules or not all(isinstance(rule, dict) for rule in rules):
        raise _error(400, "InvalidFaultRule", "The body must be a fault rule object or a list of them.")
    from .faults import FaultRule

    try:  # validate every rule before adding any, so a bad list changes nothing
        parsed = [FaultRule.from_dict(rule) for rule in rules]
    except (TypeError, ValueError, re.error) as exc:
        raise _error(400, "InvalidFaultRule", f"{type(exc).__name__}: {exc}") from exc
    with sandbox.lock:
        added = [sandbox.faults.add(rule) for rule in parsed]
        return json_response(200, [rule.to_dict() for rule in added])


def _faults_delete(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        count = len(sandbox.faults.rules)
        sandbox.faults.clear()
    return json_response(200, {"cleared": count})


def _clock_payload(sandbox: Sandbox) -> dict[str, Any]:
    return {"now": arm_time(sandbox.clock.now()), "rate": sandbox.clock.rate}


def _clock_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    return json_response(200, _clock_payload(sandbox))


def _clock_post(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    body = _object_body(request)
    advance = request.query.get("advance", body.get("advance"))
    rate = request.query.get("rate", body.get("rate"))
    if advance is None and rate is None:
        raise _error(400, "InvalidParameter", "Give ?advance=SECONDS (and/or ?rate=VIRTUAL_PER_REAL).")
    if rate is not None:
        value = _number(str(rate), "rate")
        if value < 0:
            raise _error(400, "InvalidParameter", "'rate' must be >= 0.")
        set_clock_rate(sandbox, value)
    if advance is not None:
        seconds = _number(str(advance), "advance")
        if seconds < 0:
            raise _error(400, "InvalidParameter", "The clock only moves forward: 'advance' must be >= 0.")
        sandbox.advance(seconds)
    return json_response(200, _clock_payload(sandbox))


def _scenarios(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    from ..scenarios import list_scenarios

    return json_response(200, [{"name": s.name, "description": s.description} for s in list_scenarios()])


def _config_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    return json_response(200, sandbox.config.to_dict())


def _config_post(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    settings = _object_body(request)
    with sandbox.lock:
        before = sandbox.config.to_dict()
        try:
            sandbox.config.update(settings)
            latency = sandbox.config.latency_ms
            if len(latency) != 2 or not 0 <= float(latency[0]) <= float(latency[1]):
                raise ValueError("latency_ms must be [MIN, MAX] with 0 <= MIN <= MAX")
        except (TypeError, ValueError) as exc:
            sandbox.config.update(before)  # all or nothing
            raise _error(400, "InvalidSetting", str(exc)) from exc
        # The switches are copied into the throttle/RBAC objects at reset; apply them now too.
        sandbox.throttle.enforce = sandbox.config.throttling
        sandbox.rbac.enforce = sandbox.config.rbac
        return json_response(200, sandbox.config.to_dict())


def _str_tuple(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(400, "InvalidRoleAssignment", f"'{key}' must be a list of action patterns.")
    return tuple(value)


def _rbac_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        principals = [
            {"object_id": p.object_id, "actions": list(p.actions), "not_actions": list(p.not_actions)}
            for p in sandbox.rbac.principals.values()
        ]
        return json_response(
            200,
            {"enforce": sandbox.rbac.enforce, "principals": principals, "tokens": len(sandbox.rbac.tokens)},
        )


def _rbac_post(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    body = _object_body(request)
    unknown = set(body) - {"object_id", "role", "actions", "not_actions", "token"}
    if unknown:
        raise _error(400, "InvalidRoleAssignment", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    object_id = body.get("object_id")
    if not isinstance(object_id, str) or not object_id:
        raise _error(400, "InvalidRoleAssignment", "'object_id' (the principal's object id) is required.")
    role = body.get("role")
    actions, not_actions = _str_tuple(body, "actions"), _str_tuple(body, "not_actions")
    if role is None and not actions:
        raise _error(400, "InvalidRoleAssignment", "Give a 'role' (Owner, Contributor, Reader) or 'actions'.")
    if role is not None and (actions or not_actions):
        raise _error(400, "InvalidRoleAssignment", "Give either 'role' or 'actions'/'not_actions', not both.")
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise _error(400, "InvalidRoleAssignment", "'token' must be a non-empty string.")
    with sandbox.lock:
        try:
            principal = sandbox.rbac.assign(object_id, role, actions=actions, not_actions=not_actions)
        except ValueError as exc:
            raise _error(400, "RoleDefinitionDoesNotExist", str(exc)) from exc
        if token:
            sandbox.rbac.tokens[token] = object_id
    payload: dict[str, Any] = {
        "object_id": principal.object_id,
        "actions": list(principal.actions),
        "not_actions": list(principal.not_actions),
    }
    if token:
        payload["token"] = token
    return json_response(200, payload)


def _identity(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    """App Service / Azure Automation managed identity (2019-08-01), as MSAL calls it (inside azure-identity,
    and in the Azure CLI's `az login --identity`, which picks this flavour when IDENTITY_ENDPOINT and
    IDENTITY_HEADER are set): GET ?api-version=2019-08-01&resource=R[&client_id=|object_id=|principal_id=|
    mi_res_id=] with X-IDENTITY-HEADER. The token is a JWT for audience R (see tokens.py) whose `tid` is the
    estate's directory and `oid` the principal RBAC resolves. MSAL reads `int(expires_on)` against the real
    wall clock, so expiry is real time."""
    supplied = request.headers.get("x-identity-header")
    if not supplied or not secrets.compare_digest(supplied, identity_secret(sandbox)):
        # App Service also puts statusCode/message at the top level; MSAL quotes them in its error text.
        message = "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER."
        return json_response(
            401, {"error": {"code": "InvalidIdentityHeader", "message": message}, "statusCode": 401,
                  "message": message},
        )
    api_version = request.query.get("api-version")
    if api_version != IDENTITY_API_VERSION:
        raise _error(
            400, "UnsupportedApiVersion",
            f"The managed identity endpoint serves api-version {IDENTITY_API_VERSION}, not '{api_version}'.",
        )
    resource = request.query.get("resource")
    if not resource:
        raise _error(400, "MissingResource", "The 'resource' query parameter is required.")
    # A user-assigned identity named by object/principal id is that principal; by client id or resource
    # id we have no directory to look it up in, so the identifier itself stands for the principal.
    client_id = request.query.get("client_id")
    resource_id = request.query.get("mi_res_id")
    object_id = (
        request.query.get("object_id")
        or request.query.get("principal_id")
        or client_id
        or resource_id
        or MANAGED_IDENTITY_OBJECT_ID
    )
    app_id = client_id or (MANAGED_IDENTITY_CLIENT_ID if object_id == MANAGED_IDENTITY_OBJECT_ID else object_id)
    from .tokens import issue_token

    with sandbox.lock:
        token, expires = issue_token(
            audience=resource, tenant_id=sandbox.resources.home_tenant_id(), object_id=object_id,
            app_id=app_id, lifetime=IDENTITY_TOKEN_LIFETIME, resource_id=resource_id,
        )
        sandbox.rbac.tokens[token] = object_id
    return json_response(
        200,
        {
            "access_token": token,
            "expires_on": str(expires),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": app_id,
        },
    )


def _fair_share_get(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        return json_response(200, {"pending": list(sandbox.automation.evictions),
                                   "fair_share_seconds": sandbox.config.automation_fair_share_seconds})


def _fair_share_post(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    """Evict the next `jobs` Automation jobs (default 1) once each has written `after_output_lines` lines to
    its Output stream, as fair share unloads a job: a deterministic stand-in for the 3-hour limit
    (`automation_fair_share_seconds` in /_sandbox/config is the time-based one)."""
    body = _object_body(request)
    lines, count = body.get("after_output_lines"), body.get("jobs", 1)
    if not isinstance(lines, int) or isinstance(lines, bool) or lines < 1:
        raise _error(400, "InvalidParameter", "'after_output_lines' must be an integer >= 1.")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _error(400, "InvalidParameter", "'jobs' must be an integer >= 1.")
    with sandbox.lock:
        sandbox.automation.evictions.extend([lines] * count)
    return _fair_share_get(sandbox, request)


def _fair_share_delete(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    with sandbox.lock:
        sandbox.automation.evictions.clear()
    return _fair_share_get(sandbox, request)


def _automation_wait(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    """Block until an Automation job ends or `timeout` real seconds (default 60, at most 600) pass, then
    answer its status: a test or user waits for a job (a real process) without polling.
    Body: {"job": "<job id or name>", "timeout": seconds}."""
    body = _object_body(request)
    name, timeout = body.get("job"), body.get("timeout", 60)
    if not isinstance(name, str) or not name:
        raise _error(400, "InvalidParameter", "'job' must name an Automation job (its name or resource id).")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 600:
        raise _error(400, "InvalidParameter", "'timeout' must be a number of seconds from 0 to 600.")
    wanted = name.rstrip("/").rsplit("/", 1)[-1].lower()
    with sandbox.lock:
        job = next((j for j in sandbox.automation.jobs.values() if j.name.lower() == wanted), None)
    if job is None:
        raise _error(404, "NotFound", f"No Automation job named '{name}'.")
    ended = sandbox.automation.wait_final(job, float(timeout))
    with sandbox.lock:
        return json_response(200, {"job": job.name, "status": job.status, "ended": ended})


_Handler = Callable[["Sandbox", SandboxRequest], SandboxResponse]

_ROUTES: dict[str, dict[str, _Handler]] = {
    "/reset": {"POST": _reset},
    "/load": {"POST": _load},
    "/state": {"GET": _state},
    "/estate": {"GET": _estate},
    "/requests": {"GET": _requests_get, "DELETE": _requests_delete},
    "/faults": {"GET": _faults_get, "POST": _faults_post, "DELETE": _faults_delete},
    "/clock": {"GET": _clock_get, "POST": _clock_post},
    "/scenarios": {"GET": _scenarios},
    "/config": {"GET": _config_get, "POST": _config_post},
    "/rbac": {"GET": _rbac_get, "POST": _rbac_post},
    "/identity": {"GET": _identity},
    "/automation/fair-share": {"GET": _fair_share_get, "POST": _fair_share_post, "DELETE": _fair_share_delete},
    "/automation/wait": {"POST": _automation_wait},
}


def handle_control(sandbox: Sandbox, request: SandboxRequest) -> SandboxResponse:
    """Serve one `/_sandbox/*` request. Control calls are not logged, throttled or faulted."""
    sub = request.decoded_path[len(CONTROL_PREFIX):].rstrip("/").lower() or "/"
    methods = _ROUTES.get(sub)
    try:
        if methods is None:
            known = ", ".join(f"{CONTROL_PREFIX}{p}" for p in _ROUTES)
            raise _error(
                404, "NotFound", f"No sandbox control route '{request.method} {request.decoded_path}'. Known: {known}."
            )
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(methods)
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"'{request.method}' is not allowed on '{CONTROL_PREFIX}{sub}'; use {allowed}.",
                headers={"Allow": allowed},
            )
        return handler(sandbox, request)
    except ArmError as exc:
        return exc.to_response()
