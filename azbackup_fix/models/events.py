"""Typed progress events a run emits, and the interrupt token that stops it safely.

The library never prints: the runner, its steps and its waits call an ``events`` callback with a
:class:`RunEvent`; the CLI renders them (a line per VM and step, and for each wait what it waits
for, since when and its bound). :class:`Interrupt` is the first Ctrl-C made data: once requested,
no new step starts, waits stop at their next poll, and lock restores still run; a restore runs
inside :meth:`Interrupt.shield`, so a second interrupt cannot abort its PUT (it is raised as
KeyboardInterrupt when the shield ends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

__all__ = ["EventSink", "Interrupt", "RunEvent"]


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One thing a run does as it happens.

    ``kind``: ``vm`` (a target starts), ``step`` (a step starts), ``step-done`` (its outcome in
    ``status``), ``wait`` (a wait starts: ``message`` says for what, ``since`` when, ``bound_seconds``
    its limit), ``wait-progress`` (what a bounded wait sees now, ``bound_seconds`` its time left), ``interrupted`` (a step not started because of an interrupt).
    """

    kind: str
    target: str
    message: str
    status: str | None = None
    since: datetime | None = None
    bound_seconds: float | None = None


EventSink = Callable[[RunEvent], None]


class Interrupt:
    """A cooperative stop request: :meth:`request` (the first Ctrl-C) sets :attr:`requested`; a
    further :meth:`request` raises KeyboardInterrupt, deferred to the end of a :meth:`shield`."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0
        self._hard = False

    def request(self) -> None:
        if not self.requested:
            self.requested = True
            return
        if self._depth:
            self._hard = True  # raised when the shielded work is done
            return
        raise KeyboardInterrupt

    @property
    def shielded(self) -> bool:
        return self._depth > 0

    @contextmanager
    def shield(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._hard:
                self._hard = False
                raise KeyboardInterrupt
