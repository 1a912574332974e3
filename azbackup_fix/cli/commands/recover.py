"""``azbackup-fix recover``: put back every lock a killed or failed run left removed.

Reads the journal (--journal PATH, env AZBACKUP_JOURNAL, default in the user's state
directory), checks each pending lock on Azure and recreates it exactly (name, scope, level,
notes, owners) when it is missing. Locks held by a run that is still active are left to it.

Exit codes: 0 nothing pending, or every lock back in place; 1 a lock could not be restored
(it stays pending: run recover again); 2 bad input or an unreadable journal; 3 permission denied.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from ...errors import InvalidInputError
from ...gateway import Gateway
from ...journal import Journal
from ...recovery import LockRecovery, recover_locks
from ...settings import Settings
from .. import exit_codes
from ..connection import connect
from .base import Command, Io

__all__ = ["COMMAND", "journal_path", "render_recovery"]

_LABEL = {"restored": "restored", "already-present": "in place", "failed": "FAILED", "in-use": "in use"}


def journal_path(args: argparse.Namespace, settings: Settings) -> Path:
    """--journal, else AZBACKUP_JOURNAL, else the per-user default."""
    path = getattr(args, "journal", None) or settings.journal_path
    if not path:
        raise InvalidInputError("no journal file: give --journal PATH or set AZBACKUP_JOURNAL")
    return Path(path).expanduser()


def _arguments(parser: argparse.ArgumentParser) -> None:
    """Only the shared options: the journal says what to restore."""


def _scope(r: LockRecovery) -> str:
    return r.lock.scope.id


def render_recovery(results: Sequence[LockRecovery], output: str, *, journal: Path) -> str:
    if output == "json":
        return json.dumps({
            "journal": str(journal),
            "locks": [r.to_dict() for r in results],
            "restored": sum(r.outcome == "restored" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
        }, indent=2)
    if output == "markdown":
        lines = ["## Lock recovery", ""]
        if not results:
            return "\n".join(lines + [f"Nothing pending in `{journal}`."])
        lines += ["| Outcome | Lock | Level | Scope | Notes |", "|---|---|---|---|---|"]
        for r in results:
            why = f" ({r.error_code}: {r.error_message})" if r.error_code else ""
            lines.append(f"| {_LABEL[r.outcome]}{_cell(why)} | `{_cell(r.lock.name)}` | {r.lock.level.value} "
                         f"| `{_cell(_scope(r))}` | {_cell(r.lock.notes or '')} |")
        return "\n".join(lines)
    if not results:
        return f"recover: nothing pending in {journal}"
    lines = [f"recover: {len(results)} journaled lock(s) in {journal}"]
    for r in results:
        line = f"  {_LABEL[r.outcome]:<9} {r.lock.level.value} lock '{r.lock.name}' on {_scope(r)}"
        if r.outcome == "failed":
            line += f": {r.error_code}: {r.error_message} (still pending)"
        elif r.outcome == "in-use":
            line += f" (run {r.left_by} is still active and will put it back)"
        lines.append(line)
    return "\n".join(lines)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _run(args: argparse.Namespace, io: Io) -> int:
    settings = Settings.from_env()
    path = journal_path(args, settings)
    with Journal(path) as journal:
        results = _recover(journal, args, settings) if journal.pending_locks() else ()
    text = render_recovery(results, args.output, journal=path)
    io.out.write(text.rstrip("\n") + "\n")
    return exit_codes.FAILURE if any(r.outcome == "failed" for r in results) else exit_codes.OK


def _recover(journal: Journal, args: argparse.Namespace, settings: Settings) -> tuple[LockRecovery, ...]:
    """Connect (only when something is pending) and restore, one gateway per subscription."""
    only = args.subscription or None
    with connect(args, settings) as connection, ExitStack() as gateways:
        opened: dict[str, Gateway] = {}

        def gateway_for(subscription: str) -> Gateway:
            key = subscription.casefold()
            if key not in opened:
                opened[key] = gateways.enter_context(
                    Gateway(connection.credential, subscription, **connection.client_kwargs))
            return opened[key]

        # --subscription: only that subscription's locks; the others stay pending.
        return recover_locks(journal, gateway_for(only) if only else gateway_for)


COMMAND = Command(
    name="recover",
    help="put back the locks a killed or failed run left removed (from the journal)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
