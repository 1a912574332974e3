"""Resource Graph state: the per-user quota window, and the answers of queries, evaluated by the KQL
interpreter (:mod:`.kql`) over tables built from the other providers' live state (:mod:`.tables`; Resource
Graph is a read model over ARM, so it holds nothing of its own but the snapshots its paging reads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .kql.evaluate import evaluate
from .kql.parser import parse
from .tables import build_tables

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox

__all__ = ["QUOTA", "QUOTA_WINDOW_SECONDS", "ResourceGraphBackend"]

QUOTA = 15  # requests per user per window, Resource Graph's documented default
QUOTA_WINDOW_SECONDS = 5.0


class ResourceGraphBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self._windows: dict[str, tuple[float, int]] = {}  # principal -> (window start, used)
        self._snapshots: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}

    # ---- quota ------------------------------------------------------------------------------
    def take_quota(self, principal: str) -> tuple[bool, int, float]:
        """Spend one request of the principal's window: (allowed, remaining, seconds until it resets)."""
        now = self._sb.clock.now().timestamp()
        start, used = self._windows.get(principal, (now, 0))
        if now - start >= QUOTA_WINDOW_SECONDS:
            start, used = now, 0
        resets = max(0.0, QUOTA_WINDOW_SECONDS - (now - start))
        if used >= QUOTA and self._sb.config.throttling:
            return False, 0, resets
        used += 1
        self._windows[principal] = (start, used)
        return True, max(QUOTA - used, 0), resets

    # ---- queries ----------------------------------------------------------------------------
    def rows(self, query: str, subscriptions: list[str], *, continuation: bool = False) -> list[dict[str, Any]]:
        """The query's rows (raises :class:`~.kql.errors.KqlError` for a query it cannot evaluate); a
        continuation page reads the snapshot its first page took, as Resource Graph's $skipToken pages do."""
        key = (query, tuple(sorted(s.lower() for s in subscriptions)))
        if continuation and key in self._snapshots:
            return self._snapshots[key]
        rows = self.run(query, subscriptions)
        self._snapshots[key] = rows
        return rows

    def run(self, query: str, subscriptions: list[str]) -> list[dict[str, Any]]:
        script = parse(query)
        table = evaluate(script, build_tables(self._sb, subscriptions), clock=self._sb.clock.now, text=query)
        return table.records()
