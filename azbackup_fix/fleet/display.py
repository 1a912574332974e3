"""Progress for humans on long scans: ``rich`` when installed (extra ``rich``), else one plain
stderr line rewritten in place; silent in CI (``CI=true``) and in JSON mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from .progress import ProgressEvent

__all__ = ["ProgressDisplay", "progress_enabled"]


def progress_enabled(env: Mapping[str, str], output: str, wanted: bool = True) -> bool:
    return wanted and output != "json" and env.get("CI", "").strip().lower() not in ("true", "1")


class ProgressDisplay:
    """Call with each :class:`ProgressEvent`; :meth:`close` ends the line. Redraws at most every ``interval`` s."""

    def __init__(self, stream: TextIO, *, interval: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 use_rich: bool = True) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._last = -1e9
        self._rich: Any = None
        self._task: Any = None
        if use_rich and getattr(stream, "isatty", lambda: False)():
            try:
                from rich.console import Console
                from rich.progress import Progress
            except ImportError:
                pass
            else:
                self._rich = Progress(console=Console(file=stream), transient=True)
                self._rich.start()
                self._task = self._rich.add_task("scan", total=None)
        self._drawn = False

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        final = event.total and event.done >= event.total
        if now - self._last < self.interval and not final:
            return
        self._last = now
        counts = ", ".join(f"{k} {n}" for k, n in sorted(event.outcomes.items()))
        text = f"{event.phase}: {event.done}/{event.total or '?'} VMs" + (f" ({counts})" if counts else "")
        if self._rich is not None:
            self._rich.update(self._task, description=text, completed=event.done, total=event.total or None)
            return
        self.stream.write("\r" + text[:150].ljust(80))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self._drawn:
            self.stream.write("\n")
            self.stream.flush()
