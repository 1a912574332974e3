"""Progress lines for ``apply`` (and ``scan --apply``), and the first Ctrl-C made safe.

The library emits :class:`~azbackup_fix.models.events.RunEvent` s; :class:`ProgressLines` renders
each as one plain line on stderr as it happens (a line per VM and step; for each wait what it
waits for, since when and its bound). Quiet in CI (``CI``, ``GITHUB_ACTIONS``, ``TF_BUILD``), with
``--output json`` and off a terminal, unless ``--progress`` asks for it.

:func:`safe_interrupt` installs a SIGINT handler for the run: the first Ctrl-C requests the
:class:`~azbackup_fix.models.events.Interrupt` (no new step starts; the step in flight finishes or is
undone; locks are put back); a second one raises KeyboardInterrupt, except during a lock restore,
whose PUT it cannot abort.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from ..models.events import Interrupt, RunEvent

__all__ = ["INTERRUPTED", "ProgressLines", "name_pending", "progress_wanted", "safe_interrupt"]

INTERRUPTED = 130  # the shell's code for SIGINT

_CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "TF_BUILD")


def progress_wanted(env: Mapping[str, str], output: str, stream: TextIO, choice: bool | None) -> bool:
    """``choice`` is ``--progress`` (True), ``--no-progress`` (False) or neither (None: a terminal, not CI)."""
    if output == "json":
        return False
    if choice is not None:
        return choice
    if any(env.get(name, "").strip().lower() in ("true", "1", "yes") for name in _CI_VARIABLES):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class ProgressLines:
    """Call with each RunEvent: one plain line on ``stream`` per event."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: RunEvent) -> None:
        name = event.target.rstrip("/").rsplit("/", 1)[-1] if event.target else ""
        if event.kind == "vm":
            line = f"== {event.message}"
        elif event.kind == "step":
            line = f"  -> {event.message}"
        elif event.kind == "step-done":
            line = f"     {event.status}: {event.message}" if event.status != "changed" else f"     {event.status}"
        elif event.kind == "wait":
            since = event.since.strftime("%H:%M:%S UTC") if event.since else "now"
            bound = f", up to {_duration(event.bound_seconds)}" if event.bound_seconds is not None else ""
            line = f"     waiting for {event.message} (since {since}{bound})"
        elif event.kind == "wait-progress":
            left = f" ({_duration(event.bound_seconds)} left)" if event.bound_seconds is not None else ""
            line = f"       {event.message}{left}"
        elif event.kind == "interrupted":
            line = f"  -- not started (interrupted): {event.message}"
        else:
            line = f"  {event.kind} {name}: {event.message}"
        self.stream.write(line + "\n")
        self.stream.flush()


@contextmanager
def safe_interrupt(err: TextIO) -> Iterator[Interrupt]:
    """SIGINT requests the returned Interrupt for the duration (main thread only; elsewhere a no-op)."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def handler(signum: int, frame: object) -> None:
        if not interrupt.requested:
            err.write("azbackup-fix: interrupted: finishing the step in flight and putting locks back "
                      "(Ctrl-C again to stop at once; lock restores still finish)\n")
            err.flush()
        interrupt.request()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def name_pending(stream: TextIO, journal_path: str | None, *, credential: Any = None) -> None:
    """Name every lock the journal still holds removed, with the exact command that puts it back
    (``credential`` reads a Blob Storage journal)."""
    from ..journal import journal_exists, open_journal
    from ..recovery import recover_command

    if not journal_exists(journal_path):
        return
    assert journal_path is not None
    try:
        with open_journal(journal_path, credential=credential) as journal:
            pending = journal.pending_locks()
    except Exception as exc:  # noqa: BLE001 - the journal is reported, never hidden
        stream.write(f"azbackup-fix: could not read the journal {journal_path}: {exc}\n")
        return
    if not pending:
        stream.write("azbackup-fix: every lock this run removed is back in place\n")
        return
    command = recover_command(journal_path)
    for entry in pending:
        stream.write(f"azbackup-fix: pending: lock {entry.lock.ref.id} (journal entry {entry.entry_id}, "
                     f"{entry.state}) may be missing; put it back with: {command}\n")
