"""The virtual clock. In-process it moves only when told (the transport's sleep, tests, `advance`);
in server mode it also runs at `rate` virtual seconds per real second, so a 20-minute job ends in seconds."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

__all__ = ["VirtualClock", "DEFAULT_START"]

DEFAULT_START = datetime(2026, 11, 2, 8, 0, 0, tzinfo=timezone.utc)


class VirtualClock:
    def __init__(self, start: datetime = DEFAULT_START, *, rate: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._offset = 0.0
        self.rate = rate
        self._real0 = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed())

    def _elapsed(self) -> float:
        running = (time.monotonic() - self._real0) * self.rate if self.rate else 0.0
        return self._offset + running

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def set_rate(self, rate: float) -> None:
        """Change the pace without a jump: fold the time run so far into the offset first."""
        if rate < 0:
            raise ValueError("the clock rate must be >= 0")
        with self._lock:
            self._offset = self._elapsed()
            self._real0 = time.monotonic()
            self.rate = rate

    def reset(self, start: datetime = DEFAULT_START) -> None:
        with self._lock:
            self._start, self._offset, self._real0 = start, 0.0, time.monotonic()

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long a client really waits for a virtual duration (Retry-After in server mode)."""
        return virtual_seconds / self.rate if self.rate else virtual_seconds
