"""The one helper for domain waits (extension gone, collection deleted, backup job finished).

Built on tenacity with everything explicit: the ``read`` to repeat, the ``until`` predicate
on its result, a ``timeout`` in seconds, the poll ``interval`` and the ``sleep`` to wait
with. Time spent is what ``sleep`` was asked to wait (or the wall clock, if longer), so a
sandbox transport's ``sleep``, which advances the virtual clock, makes a wait instant and
deterministic. Running out of time raises :class:`~azbackup_fix.errors.WaitTimeoutError`
(the runner turns it into a timed-out outcome and a non-zero exit, unlike
``az backup job wait``). Errors raised by ``read`` are not retried here: HTTP-level retries
belong to azure-core's RetryPolicy.

``events`` (optional) receives a ``wait`` :class:`~azbackup_fix.models.events.RunEvent` when the
wait starts (what, since when, its bound) and, given ``progress`` (a one-line description of a read's
result), a ``wait-progress`` event each time that description changes; ``interrupt`` (optional) stops the wait at its next
poll with :class:`~azbackup_fix.errors.WaitInterruptedError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_result, wait_exponential

from .errors import WaitInterruptedError, WaitTimeoutError
from .models.events import EventSink, Interrupt, RunEvent

__all__ = ["wait_until"]

T = TypeVar("T")


class _Budget:
    """Seconds spent waiting: slept time, or wall time when requests themselves took longer."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._started = time.monotonic()
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)
        self.slept += seconds

    @property
    def spent(self) -> float:
        return max(self.slept, time.monotonic() - self._started)


def wait_until(
    read: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float,
    sleep: Callable[[float], None],
    what: str,
    interval: float = 15.0,
    max_interval: float | None = None,
    events: EventSink | None = None,
    interrupt: Interrupt | None = None,
    target: str = "",
    since: datetime | None = None,
    progress: Callable[[T], str] | None = None,
) -> T:
    """Call ``read`` until ``until(result)`` holds; return that result.

    ``interval`` is the first pause; with ``max_interval`` pauses grow exponentially up to
    it. Raises WaitTimeoutError naming ``what`` when ``timeout`` seconds pass first.
    """
    if timeout < 0 or interval <= 0:
        raise ValueError("timeout must be >= 0 and interval > 0")
    budget = _Budget(sleep)
    if events is not None:
        events(RunEvent("wait", target, what, since=since or datetime.now(timezone.utc), bound_seconds=timeout))
    ceiling = max_interval if max_interval is not None else interval

    def stop(state: RetryCallState) -> bool:
        if interrupt is not None and interrupt.requested:
            raise WaitInterruptedError(f"interrupted while waiting for {what} (after {budget.spent:.0f} s)")
        return budget.spent >= timeout

    def pause(state: RetryCallState) -> float:
        step = wait_exponential(multiplier=interval, min=interval, max=ceiling)(state)
        return max(0.0, min(step, timeout - budget.spent))  # never sleep past the deadline

    last: list[T] = []

    shown: list[str] = []

    def attempt() -> T:
        value = read()
        last[:] = [value]
        if events is not None and progress is not None:
            line = progress(value)
            if not shown or shown[-1] != line:  # a line per change, not per poll
                shown[:] = [line]
                events(RunEvent("wait-progress", target, line, since=since,
                                bound_seconds=max(0.0, timeout - budget.spent)))
        return value

    retrying = Retrying(
        retry=retry_if_result(lambda value: not until(value)),
        stop=stop,
        wait=pause,
        sleep=budget.sleep,
        reraise=True,
        retry_error_callback=lambda state: _timeout(what, timeout, budget.spent),
    )
    return retrying(attempt)


def _timeout(what: str, timeout: float, spent: float) -> None:
    raise WaitTimeoutError(f"timed out after {spent:.0f} s waiting for {what} (limit {timeout:.0f} s)",
                           waited_seconds=spent)
