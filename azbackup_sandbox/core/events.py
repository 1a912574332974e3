"""Deferred state changes on the virtual clock (a job finishing, an extension disappearing).

Events run lazily, before each request and each snapshot, so state is right whenever it is observed
and nothing runs in the background."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["Scheduler"]


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def at(self, when: datetime, action: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action, args))

    def run_due(self, now: datetime) -> int:
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, action, args = heapq.heappop(self._heap)
            action(*args)
            ran += 1
        return ran

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
