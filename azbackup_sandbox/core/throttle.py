"""ARM's token-bucket throttling per subscription and principal (since the 2024 migration):
reads 250 refilling 25/s, writes and deletes 200 refilling 10/s, on the virtual clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["BucketSpec", "Throttle", "DEFAULT_BUCKETS"]


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


DEFAULT_BUCKETS: dict[str, BucketSpec] = {
    "reads": BucketSpec(250, 25),
    "writes": BucketSpec(200, 10),
    "deletes": BucketSpec(200, 10),
}


class _Bucket:
    __slots__ = ("spec", "tokens", "stamp")

    def __init__(self, spec: BucketSpec, now: datetime) -> None:
        self.spec, self.tokens, self.stamp = spec, spec.capacity, now

    def refill(self, now: datetime) -> None:
        elapsed = (now - self.stamp).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.spec.capacity, self.tokens + elapsed * self.spec.refill_per_second)
            self.stamp = now


class Throttle:
    def __init__(self, buckets: dict[str, BucketSpec] | None = None, *, enforce: bool = False) -> None:
        self.specs = dict(buckets or DEFAULT_BUCKETS)
        self.enforce = enforce
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self.throttled = 0  # 429s answered, for benchmarks

    def take(self, subscription: str, principal: str, kind: str, now: datetime) -> tuple[bool, int, float]:
        """Spend one token. Returns (allowed, remaining, seconds until a token is back)."""
        key = (subscription.lower(), principal, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.specs[kind], now)
        bucket.refill(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True, int(bucket.tokens), 0.0
        if not self.enforce:
            return True, 0, 0.0
        self.throttled += 1
        wait = (1 - bucket.tokens) / bucket.spec.refill_per_second
        return False, 0, wait

    def reset(self) -> None:
        self._buckets.clear()
        self.throttled = 0
