"""Shards and workers of a fleet scan: parsed and checked before anything is sent (and without the
SDKs, so that a bad ``--shard`` or ``--workers`` is a one-line error at once)."""

from __future__ import annotations

import hashlib

from ..errors import InvalidInputError
from ..ids import VmRef

__all__ = ["MAX_WORKERS", "check_workers", "default_fix_workers", "default_workers", "in_shard", "parse_shard"]


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N)."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InvalidInputError(f"--shard must be K/N (e.g. 2/4), got '{text}'") from None
    if not 1 <= k <= n:
        raise InvalidInputError(f"--shard K/N needs 1 <= K <= N, got '{text}'")
    return k, n


def in_shard(vm: VmRef, shard: tuple[int, int]) -> bool:
    """Deterministic split by a hash of the folded VM id: the same VM lands in the same shard everywhere."""
    k, n = shard
    digest = hashlib.sha256(vm.id.casefold().encode()).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def default_workers(subscriptions: int) -> int:
    """8 per subscription, 32 to 128. Each subscription has its own ARM buckets, and a request spends
    ~0.1 s in flight: with fewer workers a 10-subscription scan waited on latency, not on ARM (32
    workers: 1.5x the throttle-bound minimum; 80-96: 1.2x), and a fix-all of one subscription, whose
    VMs mostly wait on long-running operations, took 1.5x with 16 workers against 1.14x with 32.
    The budget keeps any count below ARM's limits."""
    return max(32, min(128, 8 * subscriptions))


def default_fix_workers(subscriptions: int) -> int:
    """32 per subscription, up to MAX_WORKERS: a fix spends most of its time waiting on long-running
    operations (deletes, polls), so a fix-all of ten subscriptions with the diagnosis's 8 workers each
    took 2.1x the throttle-bound minimum (docs/fleet.md)."""
    return max(32, min(MAX_WORKERS, 32 * subscriptions))


MAX_WORKERS = 512


def check_workers(workers: int | None) -> None:
    """Bad input before anything is sent: a worker count is 1 to 512 (or None for the default)."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InvalidInputError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
