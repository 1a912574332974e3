"""The Sandbox: one stateful ARM emulator behind both the in-process transport and the HTTPS server.

`handle()` is the whole request pipeline, in ARM's order: authentication, route, subscription and
resource group existence, injected faults, throttling, RBAC, locks, then the provider's handler."""

from __future__ import annotations

import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any

from .clock import VirtualClock
from .config import SandboxConfig
from .errors import ArmError, authorization_failed
from .events import Scheduler
from .faults import Faults
from .headers import common_headers
from .http import SandboxRequest, SandboxResponse
from .operations import Operations
from .rbac import Rbac
from .router import Route, Router
from .throttle import Throttle
from .timefmt import arm_time
from .tokens import decode_token, is_arm_audience

if TYPE_CHECKING:
    from ..providers.authorization.models import AuthorizationBackend
    from ..providers.automation.models import AutomationBackend
    from ..providers.backup.models import BackupBackend
    from ..providers.compute.models import ComputeBackend
    from ..providers.disks.models import DiskBackend
    from ..providers.keyvault.models import KeyVaultBackend
    from ..providers.locks.models import LockBackend
    from ..providers.network.models import NetworkBackend
    from ..providers.policy.models import PolicyBackend
    from ..providers.resources.models import ResourceBackend
    from ..scenarios.base import Scenario

__all__ = ["RequestRecord", "Sandbox", "round_trips"]

_SUB = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_RG = re.compile(r"^/subscriptions/[^/]+/resourcegroups/([^/]+)", re.IGNORECASE)


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    time: str
    method: str
    path: str
    query: str
    operation: str
    kind: str
    status: int
    principal: str
    request_id: str
    error_code: str | None = None
    fault: bool = False
    # Real monotonic seconds: when the request arrived and when its answer was ready (overlap = concurrency).
    received_at: float = 0.0
    answered_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def round_trips(records: Iterable[RequestRecord]) -> int:
    """A client's sequential round trips in a request log: the longest chain of requests where each was
    sent after the previous one was answered (``received_at`` / ``answered_at``); requests in flight
    together share a round trip. Meaningful with a latency configured (server mode), so that requests
    sent together overlap."""
    ordered = sorted(records, key=lambda r: r.received_at)
    depth: list[int] = []
    for i, record in enumerate(ordered):
        before = [depth[k] for k in range(i) if ordered[k].answered_at <= record.received_at]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


class Sandbox:
    """A stateful Azure Resource Manager emulator.

    >>> sb = Sandbox(scenario="healthy")    # a shipped estate (`azbackup-sandbox scenarios`)
    >>> sb = Sandbox(estate="estate.yaml")  # or your own estate file (docs/estate-files.md), or a dict
    >>> transport = sb.transport()          # hand to any azure-mgmt client as transport=
    """

    def __init__(
        self,
        scenario: str | Scenario | None = None,
        *,
        estate: str | PathLike[str] | dict[str, Any] | None = None,
        config: SandboxConfig | None = None,
        clock: VirtualClock | None = None,
        log_limit: int = 500_000,
    ) -> None:
        from ..providers import register_all

        self.lock = threading.RLock()
        self.config = config or SandboxConfig()
        self.clock = clock or VirtualClock()
        self.router = Router()
        register_all(self.router)
        self.faults = Faults()
        self.rbac = Rbac()
        self.throttle = Throttle()
        self._log: deque[RequestRecord] = deque(maxlen=log_limit)
        self._logged = threading.Condition(self.lock)  # notified as each request is logged
        self._seq = 0
        self.scenario_name: str | None = None
        # Set by the HTTPS server while it runs: what an Automation job's process gets (identity endpoint,
        # its header, the CA bundle). Kept across resets; None in-process, where jobs cannot run.
        self.job_environment: dict[str, str] | None = None
        self._fresh_state()
        if scenario is not None and estate is not None:
            raise ValueError("give a scenario or an estate, not both")
        if scenario is not None:
            self.load(scenario)
        if estate is not None:
            self.load_estate(estate)

    # ---- state ------------------------------------------------------------------------------
    def _fresh_state(self) -> None:
        from ..providers import new_backends

        self.rng = random.Random(self.config.seed)
        self.scheduler = Scheduler()
        self.operations = Operations(self)
        self.throttle.enforce = self.config.throttling
        self.throttle.reset()
        self.rbac.enforce = self.config.rbac
        backends = new_backends(self)
        self.resources: ResourceBackend = backends["resources"]
        self.locks: LockBackend = backends["locks"]
        self.compute: ComputeBackend = backends["compute"]
        self.backup: BackupBackend = backends["backup"]
        self.policy: PolicyBackend = backends["policy"]
        self.disks: DiskBackend = backends["disks"]
        self.keyvault: KeyVaultBackend = backends["keyvault"]
        self.authorization: AuthorizationBackend = backends["authorization"]
        self.network: NetworkBackend = backends["network"]
        self.automation: AutomationBackend = backends["automation"]
        self._backends = backends
        from ..providers.resourcegraph.models import ResourceGraphBackend

        # A read model over the others: no state of its own, so not in snapshots.
        self.resourcegraph = ResourceGraphBackend(self)

    def reset(self) -> None:
        """Empty estate, fresh clock, no faults, empty request log."""
        with self.lock:
            self.clock.reset()
            self.faults.clear()
            self._log.clear()
            self._seq = 0
            self.scenario_name = None
            self.automation.close()  # no job's process outlives the estate it ran against
            self._fresh_state()

    def load(self, scenario: str | Scenario, **params: Any) -> None:
        """Reset, then seed the estate of a named scenario (see `azbackup-sandbox scenarios`)."""
        from ..scenarios import get_scenario

        with self.lock:
            self.reset()
            chosen = get_scenario(scenario) if isinstance(scenario, str) else scenario
            chosen.build(self, **params)
            self.scenario_name = chosen.name
            self._log.clear()

    def load_estate(self, estate: str | PathLike[str] | dict[str, Any], *, source: str | None = None) -> None:
        """Reset, then build an estate document (a YAML/JSON file or a parsed mapping). The document
        is validated fully first: a bad one raises `EstateFileError` (one line naming the field) and
        leaves the current estate untouched."""
        from ..scenarios.builder import build_estate
        from ..scenarios.files import read_estate

        loaded = read_estate(estate, source=source)
        with self.lock:
            self.reset()
            build_estate(self, loaded.spec)
            self.scenario_name = loaded.name
            self._log.clear()

    def export_estate(self) -> dict[str, Any]:
        """The live estate as an estate document; `load_estate` of it gives the same `snapshot()`."""
        from ..scenarios.export import export_estate

        return export_estate(self)

    def snapshot(self) -> dict[str, Any]:
        """The whole estate as JSON-able data (stable key order, so two snapshots compare byte-for-byte)."""
        with self.lock:
            self.tick()
            return {
                "time": arm_time(self.clock.now()),
                "scenario": self.scenario_name,
                "resources": {name: backend.to_dict() for name, backend in self._backends.items()},
            }

    @property
    def subscription_ids(self) -> list[str]:
        return sorted(sub.subscription_id for sub in self.resources.subscriptions.values())

    def tick(self) -> None:
        """Apply every state change that is due on the virtual clock."""
        self.scheduler.run_due(self.clock.now())

    def advance(self, seconds: float) -> datetime:
        with self.lock:
            now = self.clock.advance(seconds)
            self.tick()
            return now

    def new_guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def requests(self) -> list[RequestRecord]:
        with self.lock:
            return list(self._log)

    def wait_for_request(
        self, method: str, path_pattern: str, *, timeout: float
    ) -> RequestRecord | None:
        """Block until a logged request matches (method, case-insensitive regex on the path), or the
        timeout passes (None). For tests and tools that must act while another client is mid-request."""
        pattern = re.compile(path_pattern, re.IGNORECASE)

        def found() -> RequestRecord | None:
            return next((r for r in self._log if r.method == method.upper() and pattern.search(r.path)), None)

        with self._logged:
            self._logged.wait_for(lambda: found() is not None, timeout=timeout)
            return found()

    def clear_requests(self) -> None:
        with self.lock:
            self._log.clear()

    def transport(self, **kwargs: Any) -> Any:
        """An azure-core HttpTransport that serves SDK requests from this sandbox in-process."""
        from .transport import SandboxTransport

        return SandboxTransport(self, **kwargs)

    # ---- request pipeline -------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.lower().startswith("/_sandbox"):
            from .control import handle_control

            return handle_control(self, request)
        if request.path.lower().startswith("/v1.0/"):
            return self._handle_graph(request)
        with self.lock:
            self.tick()
            return self._handle_arm(request)

    def _handle_arm(self, request: SandboxRequest) -> SandboxResponse:
        request_id = self.new_guid()
        principal = "anonymous"
        route: Route | None = None
        fault_fired = False
        fault_latency = 0.0
        lose_answer = False  # a drop_after rule: process the request, then drop the connection
        remaining: int | None = None  # the principal's throttling tokens left, for the rate-limit headers
        try:
            anonymous = self.router.match_anonymous(request)
            if anonymous is None:
                principal = self._authenticate(request)
            route, params = anonymous or self.router.match(request)
            if "api-version" not in request.query and not route.versionless:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            self._check_subscription_and_group(request, route)
            rule = self.faults.pick(route.operation, request.method, request.path)
            response = None
            if rule is not None:
                fault_fired, fault_latency, lose_answer = True, rule.latency_ms, rule.drop_after
                response = self._apply_fault(rule, request)
            if response is None:
                remaining, response = self._throttle(request, route, principal)
            if response is None:
                if not route.anonymous and not self.rbac.allows(principal, route.action):
                    raise authorization_failed(principal, route.action, request.decoded_path)
                if route.lock_check:
                    self.locks.enforce(request.decoded_path, route.lock_check)
                response = route.handler(self, request, params)
        except ArmError as exc:
            response = exc.to_response()
        finally:
            self.faults.take_lro_failure()  # an armed LRO failure never leaks into the next request
        if fault_latency and self.clock.rate:
            response.delay_seconds = fault_latency / 1000.0
        if lose_answer:  # logged with the status the handler produced; the client gets no answer
            response.drop_connection = True
        return self._finish(request, route, principal, request_id, response, remaining, fault=fault_fired)

    def _handle_graph(self, request: SandboxRequest) -> SandboxResponse:
        """Microsoft Graph on the sandbox host (providers/graph): not ARM, so none of ARM's pipeline."""
        from ..providers.graph.routes import handle_graph

        with self.lock:
            request_id = self.new_guid()
            operation, response = handle_graph(self, request)
            _, _, token = (request.headers.get("authorization") or "").partition(" ")
            route = Route(request.method, request.path, lambda *_: response, operation,
                          "Microsoft.Graph/servicePrincipals/read", None, re.compile(""))
            return self._finish(request, route, self.rbac.resolve(token.strip()) if token else "anonymous",
                                request_id, response, None)

    def _authenticate(self, request: SandboxRequest) -> str:
        header = request.headers.get("authorization") or ""
        if not header:
            raise ArmError(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid. The 'Authorization' header must use the Bearer scheme.",
            )
        claims = decode_token(token)
        expired = token in self.resources.expired_tokens
        if claims is not None:
            # A JWT as Entra ID issues them: ARM checks its audience and (real-time) expiry.
            audience = str(claims.get("aud") or "")
            if not is_arm_audience(audience, request.base_url):
                raise ArmError(
                    401,
                    "InvalidAuthenticationTokenAudience",
                    f"The access token has been obtained for wrong audience or resource '{audience}'. It should "
                    "exactly match with one of the allowed audiences 'https://management.core.windows.net/',"
                    "'https://management.core.windows.net','https://management.azure.com/',"
                    "'https://management.azure.com'.",
                )
            exp = claims.get("exp")
            expired = expired or (isinstance(exp, (int, float)) and exp < time.time())
        if expired:
            raise ArmError(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        return self.rbac.resolve(token)

    def _check_subscription_and_group(self, request: SandboxRequest, route: Route) -> None:
        path = request.decoded_path
        sub = _SUB.match(path)
        if sub:
            subscription = self.resources.require_subscription(sub.group(1))
            self._check_token_tenant(request, subscription.tenant_id, sub.group(1))
        group = _RG.match(path)
        if group and route.group_must_exist:
            self.resources.require_group(sub.group(1) if sub else "", group.group(1))

    def _check_token_tenant(self, request: SandboxRequest, tenant_id: str, subscription_id: str) -> None:
        """A JWT from another directory than the subscription's: ARM's 401 InvalidAuthenticationTokenTenant."""
        _, _, token = (request.headers.get("authorization") or "").partition(" ")
        claims = decode_token(token.strip()) if token else None
        tid = str(claims.get("tid") or "") if claims else ""
        if tid and tid.lower() != tenant_id.lower():
            raise ArmError(
                401,
                "InvalidAuthenticationTokenTenant",
                f"The access token is from the wrong issuer 'https://sts.windows.net/{tid}/'. It must match the "
                f"tenant 'https://sts.windows.net/{tenant_id}/' associated with this subscription. Please use "
                "the authority (URL) 'https://login.windows.net/" + tenant_id + "' to get the token. Note, if "
                "the subscription is transferred to another tenant there is no impact to the services, but "
                "information about new tenant could take time to propagate (up to an hour). If you just "
                "transferred your subscription and see this error message, please try back later.",
            )

    def _apply_fault(self, rule: Any, request: SandboxRequest) -> SandboxResponse | None:
        if rule.latency_ms and not self.clock.rate:
            self.clock.advance(rule.latency_ms / 1000.0)
        if rule.lro_failure:
            self.faults.arm_lro_failure(dict(rule.lro_failure))
        if rule.drop:
            return SandboxResponse(0, {}, b"", drop_connection=True)
        if rule.status:
            headers: dict[str, str] = {}
            if rule.retry_after is not None:
                headers["Retry-After"] = self.retry_after_header(rule.retry_after)
            code = rule.code or _default_code(rule.status)
            message = rule.message or f"Injected fault: {code} for {request.method} {request.path}."
            return ArmError(rule.status, code, message, headers=headers).to_response()
        return None

    def _throttle(
        self, request: SandboxRequest, route: Route, principal: str
    ) -> tuple[int | None, SandboxResponse | None]:
        """Spend a token: (tokens left, or None outside a subscription; a 429 answer, or None)."""
        sub = _SUB.match(request.decoded_path)
        if not sub:
            return None, None
        allowed, remaining, wait = self.throttle.take(sub.group(1), principal, route.kind, self.clock.now())
        if allowed:
            return remaining, None
        seconds = max(1, int(wait + 0.999))
        kind = route.kind.rstrip("s")
        return remaining, ArmError(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of '{kind}' requests for subscription '{sub.group(1)}' actor '{principal}' exceeded. "
            f"Please try again after '{seconds}' seconds.",
            headers={"Retry-After": self.retry_after_header(seconds)},
        ).to_response()

    def retry_after_header(self, virtual_seconds: float) -> str:
        """Retry-After as the client must wait: virtual seconds, scaled to real time in server mode.

        Always whole seconds (RFC 9110 delay-seconds): the compute SDK parses it with int(), and
        azure-core treats 0 as "no hint" and falls back to its 30 s default, so a positive wait is >= 1."""
        real = self.clock.real_seconds(virtual_seconds)
        return "0" if real <= 0 else str(max(1, math.ceil(real - 1e-9)))

    def _finish(
        self,
        request: SandboxRequest,
        route: Route | None,
        principal: str,
        request_id: str,
        response: SandboxResponse,
        remaining: int | None,
        *,
        fault: bool = False,
    ) -> SandboxResponse:
        kind = route.kind if route else "reads"
        response.headers = {
            **common_headers(self, request, request_id, kind, remaining),
            **response.headers,
        }
        self._seq += 1
        error_code = None
        if response.status >= 400 and response.body:
            try:
                error_code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                error_code = None
        self._log.append(
            RequestRecord(
                seq=self._seq,
                time=arm_time(self.clock.now()),
                method=request.method,
                path=request.decoded_path,
                query="&".join(f"{k}={v}" for k, v in request.query.items()),
                operation=route.operation if route else "",
                kind=kind,
                status=response.status,
                principal=principal,
                request_id=request_id,
                error_code=error_code,
                fault=fault,
                received_at=request.received_at,
                answered_at=time.monotonic(),
            )
        )
        self._logged.notify_all()
        return response


def _default_code(status: int) -> str:
    return {
        400: "BadRequest",
        401: "ExpiredAuthenticationToken",
        403: "AuthorizationFailed",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "InjectedFault")
