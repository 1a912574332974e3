"""A client-side request budget per subscription and principal, matching ARM's token buckets.

ARM throttles each subscription+principal with token buckets (reads 250 refilling 25/s, writes and
deletes 200 refilling 10/s). :class:`Budget` keeps a local copy of those buckets and makes a request
wait for its token *before* it is sent, so concurrent workers never provoke a 429 storm.
:class:`BudgetPolicy` (an azure-core per-retry policy, so every attempt pays) feeds it the answers:
``x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}`` pull the local bucket down when
another client shares the subscription, and a 429's Retry-After pauses the bucket for everyone. A
Retry-After longer than ``retry_after_cap`` raises :class:`ThrottledError` at once: that item ends
with a clear outcome instead of stalling the run.

``clock`` and ``sleep`` are injected: tests drive the budget on the sandbox's virtual clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlparse

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from ..errors import AzBackupFixError

__all__ = ["ARM_RATES", "Budget", "BudgetPolicy", "BucketRate", "ThrottledError", "request_kind"]


@dataclass(frozen=True, slots=True)
class BucketRate:
    capacity: float
    refill_per_second: float


ARM_RATES: Mapping[str, BucketRate] = {
    "reads": BucketRate(250, 25),
    "writes": BucketRate(200, 10),
    "deletes": BucketRate(200, 10),
}
DEFAULT_RETRY_AFTER_CAP = 60.0


class ThrottledError(AzBackupFixError):
    """ARM asked to wait longer than the configured cap: this item stops, the run goes on."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def request_kind(method: str) -> str:
    """ARM's bucket for a method (a POST such as backupStatus counts as a write, as ARM counts it)."""
    return {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(method.upper(), "writes")


class _Bucket:
    __slots__ = ("inflight", "paused_until", "rate", "stamp", "tokens")

    def __init__(self, rate: BucketRate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.capacity)  # may go negative: reservations of waiting requests
        self.stamp = now
        self.paused_until = 0.0
        self.inflight = 0

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.rate.capacity, self.tokens + (now - self.stamp) * self.rate.refill_per_second)
            self.stamp = now


class Budget:
    """Token buckets keyed by (subscription, principal, kind); thread-safe; shared by a run's workers.

    ``headroom`` keeps a few tokens of each bucket unused (other tools share the subscription).
    """

    def __init__(
        self,
        rates: Mapping[str, BucketRate] = ARM_RATES,
        *,
        principal: str = "default",
        headroom: float = 5.0,
        retry_after_cap: float | None = DEFAULT_RETRY_AFTER_CAP,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = dict(rates)
        self.principal = principal
        self.headroom = headroom
        self.retry_after_cap = retry_after_cap
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self.waited = 0.0  # seconds requests spent waiting for tokens
        self.throttled = 0  # 429s seen (should stay 0)
        self.requests = 0

    def _bucket(self, subscription: str, kind: str, now: float) -> _Bucket:
        key = (subscription.casefold(), self.principal, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.rates[kind], now)
        return bucket

    def acquire(self, subscription: str, kind: str) -> float:
        """Reserve one token, waiting (outside the lock) until it exists; returns the wait."""
        with self._lock:
            now = self.clock()
            bucket = self._bucket(subscription, kind, now)
            bucket.refill(now)
            bucket.tokens -= 1
            bucket.inflight += 1
            self.requests += 1
            deficit = self.headroom - bucket.tokens
            wait = max(deficit / bucket.rate.refill_per_second if deficit > 0 else 0.0, bucket.paused_until - now)
            self.waited += wait
        if wait > 0:
            self.sleep(wait)
        return wait

    def observe(self, subscription: str, kind: str, *, status: int, remaining: int | None,
                retry_after: float | None) -> None:
        """Learn from an answer: the server's remaining tokens and any Retry-After."""
        with self._lock:
            now = self.clock()
            bucket = self._bucket(subscription, kind, now)
            bucket.inflight = max(0, bucket.inflight - 1)
            bucket.refill(now)
            if remaining is not None:
                # Requests still in flight were counted here but not yet there.
                server = remaining - bucket.inflight
                if server < bucket.tokens - 1:
                    bucket.tokens = float(server)
            if status == 429:
                self.throttled += 1
                pause = retry_after if retry_after is not None else 1.0
                if self.retry_after_cap is not None:  # beyond the cap that item ends; the rest wait the cap at most
                    pause = min(pause, self.retry_after_cap)
                bucket.paused_until = max(bucket.paused_until, now + pause)
                bucket.tokens = min(bucket.tokens, 0.0)

    def minimum_seconds(self, counts: Mapping[tuple[str, str], int]) -> float:
        """The throttle-bound minimum time for ``counts`` requests per (subscription, kind)."""
        worst = 0.0
        for (_, kind), n in counts.items():
            rate = self.rates[kind]
            worst = max(worst, max(0.0, n - rate.capacity) / rate.refill_per_second)
        return worst


_REMAINING = {
    "reads": ("x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-subscription-resource-requests"),
    "writes": ("x-ms-ratelimit-remaining-subscription-writes",),
    "deletes": ("x-ms-ratelimit-remaining-subscription-deletes",),
}


def _subscription(url: str) -> str | None:
    parts = urlparse(url).path.split("/")
    if len(parts) > 2 and parts[1].casefold() == "subscriptions" and parts[2]:
        return parts[2]
    return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class BudgetPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Waits for the budget before each attempt and feeds it each answer (per-retry position)."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget = budget

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        http = request.http_request
        subscription = _subscription(http.url)
        if subscription is None:  # tenant-level calls (subscriptions list, Resource Graph) have other quotas
            return self.next.send(request)
        kind = request_kind(http.method)
        self.budget.acquire(subscription, kind)
        try:
            response = self.next.send(request)
        except BaseException:
            self.budget.observe(subscription, kind, status=0, remaining=None, retry_after=None)
            raise
        headers = response.http_response.headers
        remaining = [v for v in (_int(headers.get(h)) for h in _REMAINING[kind]) if v is not None]
        status = response.http_response.status_code
        retry_after = _retry_after(headers) if status == 429 else None
        self.budget.observe(subscription, kind, status=status, remaining=min(remaining) if remaining else None,
                            retry_after=retry_after)
        cap = self.budget.retry_after_cap
        if status == 429 and cap is not None and (retry_after or 0.0) > cap:
            raise ThrottledError(
                f"ARM throttled {kind} in subscription {subscription} and asked to wait {retry_after:.0f} s, "
                f"more than the {cap:.0f} s cap; this item stops here", retry_after=retry_after or 0.0)
        return response
