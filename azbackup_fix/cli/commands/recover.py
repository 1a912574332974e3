"""``azbackup-fix recover``: put back every lock a killed or failed run left removed.

Reads the journal (--journal PATH, env AZBACKUP_JOURNAL, default in the user's state
directory), checks each pending lock on Azure and recreates it exactly (name, scope, level,
notes, owners) when it is missing. Locks held by a run that is still active are left to it.

Locks left removed on purpose (``--leave-locks-removed``, playbook option ``restore_locks: false``)
are listed, not restored; ``azbackup-fix recover --restore-left-locks`` puts those back too.

``--undo-guest-changes RUN_ID`` puts back the guest settings a run changed (dry run unless ``--yes``;
``--allow-guest-changes`` to apply; ``--allow-disruptive`` restarts a service whose logon account returns).

Exit codes: 0 nothing pending, or every lock back in place; 1 a lock could not be restored
(it stays pending: run recover again); 2 bad input or an unreadable journal; 3 permission denied
(or a guard rail not given); 4 a guest undo planned (dry run).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...journal import JournalBackend, LeftLock, is_url, open_journal
from ...models.rails import DISRUPTIVE, GUEST
from ...recovery import LockRecovery, recover_locks, restore_left_locks
from ...settings import Settings
from .. import exit_codes
from ..connection import connect
from .base import Command, Io

__all__ = ["COMMAND", "journal_path", "render_recovery"]

_LABEL = {"restored": "restored", "already-present": "in place", "failed": "FAILED", "in-use": "in use"}


def journal_path(args: argparse.Namespace, settings: Settings) -> str:
    """--journal, else AZBACKUP_JOURNAL, else the per-user default (a file, or a container URL)."""
    path = getattr(args, "journal", None) or settings.journal_path
    if not path:
        raise InvalidInputError("no journal file: give --journal PATH or set AZBACKUP_JOURNAL")
    return path if is_url(path) else str(Path(path).expanduser())


def _arguments(parser: argparse.ArgumentParser) -> None:
    """The journal says what to restore; one flag adds the locks left removed on purpose."""
    parser.add_argument("--restore-left-locks", action="store_true",
                        help="also put back the locks a run left removed on purpose (--leave-locks-removed)")
    parser.add_argument("--undo-key-vault-grants", metavar="RUN_ID",
                        help="undo the Key Vault grants (access-policy adds, role assignments) of one run")
    undo = parser.add_argument_group("undoing guest changes (--undo-guest-changes RUN_ID)")
    undo.add_argument("--undo-guest-changes", metavar="RUN_ID",
                      help="put back the guest settings one run changed (dry run: --yes applies)")
    undo.add_argument(GUEST.flag, dest=GUEST.name, action="store_true", help=f"allow {GUEST.allows}")
    undo.add_argument(DISRUPTIVE.flag, dest=DISRUPTIVE.name, action="store_true",
                      help="also restart a service whose logon account is put back (else: at its next restart)")
    undo.add_argument("--yes", "-y", action="store_true", help="apply the undo (without it: show what it would do)")


def _scope(r: LockRecovery) -> str:
    return r.lock.scope.id


_LEFT_HINT = "`azbackup-fix recover --restore-left-locks` puts them back"


def render_recovery(results: Sequence[LockRecovery], output: str, *, journal: str | Path,
                    left: Sequence[LeftLock] = ()) -> str:
    """``left``: locks still left removed on purpose after this recovery (listed, with how to restore them)."""
    if output == "json":
        return json.dumps({
            "journal": str(journal),
            "locks": [r.to_dict() for r in results],
            "restored": sum(r.outcome == "restored" for r in results),
            "failed": sum(r.outcome == "failed" for r in results),
            "left_removed": [{**e.lock.to_dict(), "entry_id": e.entry_id, "left_by_run": e.run_id} for e in left],
        }, indent=2)
    tail = _left_lines(left, output)
    if output == "markdown":
        lines = ["## Lock recovery", ""]
        if not results:
            return "\n".join(lines + [f"Nothing pending in `{journal}`.", *tail])
        lines += ["| Outcome | Lock | Level | Scope | Notes |", "|---|---|---|---|---|"]
        for r in results:
            why = f" ({r.error_code}: {r.error_message})" if r.error_code else ""
            lines.append(f"| {_LABEL[r.outcome]}{_cell(why)} | `{_cell(r.lock.name)}` | {r.lock.level.value} "
                         f"| `{_cell(_scope(r))}` | {_cell(r.lock.notes or '')} |")
        return "\n".join([*lines, *tail])
    if not results:
        return "\n".join([f"recover: nothing pending in {journal}", *tail])
    lines = [f"recover: {len(results)} journaled lock(s) in {journal}"]
    for r in results:
        line = f"  {_LABEL[r.outcome]:<9} {r.lock.level.value} lock '{r.lock.name}' on {_scope(r)}"
        if r.outcome == "failed":
            line += f": {r.error_code}: {r.error_message} (still pending)"
        elif r.outcome == "in-use":
            line += f" (run {r.left_by} is still active and will put it back)"
        lines.append(line)
    return "\n".join([*lines, *tail])


def _left_lines(left: Sequence[LeftLock], output: str) -> list[str]:
    if not left:
        return []
    if output == "markdown":
        return ["", f"Left removed on purpose ({_LEFT_HINT}):", ""] + [
            f"- {e.lock.level.value} lock `{_cell(e.lock.name)}` on `{_cell(e.lock.scope.id)}`" for e in left]
    return [f"recover: {len(left)} lock(s) left removed on purpose ({_LEFT_HINT}):"] + [
        f"  left      {e.lock.level.value} lock '{e.lock.name}' on {e.lock.scope.id}" for e in left]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _undo_grants(args: argparse.Namespace, io: Io, path: str, settings: Settings) -> int:
    from ...keyvault_undo import undo_key_vault_grants

    with connect(args, settings) as connection, ExitStack() as stack:
        journal = stack.enter_context(open_journal(path, credential=connection.credential) if is_url(path)
                                      else open_journal(path))
        gateway_for = connection.gateways(stack)
        results = undo_key_vault_grants(journal, gateway_for, args.undo_key_vault_grants)
    if args.output == "json":
        io.out.write(json.dumps({"journal": str(path), "grants": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        lines = [f"recover: {len(results)} Key Vault grant(s) of run {args.undo_key_vault_grants}"]
        for r in results:
            lines.append(f"  {r.outcome:<14} {r.action} on {r.target}" + (f": {r.error}" if r.error else ""))
        io.out.write("\n".join(lines) + "\n")
    return exit_codes.FAILURE if any(r.outcome == "failed" for r in results) else exit_codes.OK


def _undo_guest(args: argparse.Namespace, io: Io, path: str, settings: Settings) -> int:
    from ...guest_undo import undo_guest_changes

    if args.yes and not args.allow_guest_changes:  # refused before anything is read or sent
        io.err.write(f"azbackup-fix: error: undoing guest settings needs {GUEST.flag} ({GUEST.allows})\n")
        return exit_codes.PERMISSION
    with connect(args, settings) as connection, ExitStack() as stack:
        journal = stack.enter_context(open_journal(path, credential=connection.credential) if is_url(path)
                                      else open_journal(path))
        report = undo_guest_changes(journal, connection.gateways(stack), args.undo_guest_changes, apply=args.yes,
                                    allow_guest_changes=args.allow_guest_changes,
                                    allow_disruptive=args.allow_disruptive)
    if args.output == "json":
        io.out.write(json.dumps({"journal": str(path), **report.to_dict()}, indent=2) + "\n")
    else:
        io.out.write(render_guest_undo(report) + "\n")
    if report.failed:
        return exit_codes.FAILURE
    return exit_codes.CHANGES_PLANNED if report.planned else exit_codes.OK


def render_guest_undo(report: Any) -> str:
    """Text: each journaled setting and what undoing it does (did), then the guest as probed again."""
    verb = "undid" if report.applied else "would undo (dry run; --yes applies)"
    lines = [f"recover: {len(report.settings)} guest setting(s) of run {report.run_id}: {verb}"]
    for s in report.settings:
        what = "; ".join(f.describe() for f in s.fixes)
        lines.append(f"  {s.outcome:<14} {s.action} {s.setting} on {s.vm.rsplit('/', 1)[-1]}"
                     + (f": {what}" if what else "") + (f" ({s.note})" if s.note else ""))
    for vm, found in report.reprobe.items():
        codes = ", ".join(f.code for f in found) or "nothing"
        lines.append(f"  probed again {vm.rsplit('/', 1)[-1]}: {codes}")
    return "\n".join(lines)


def _run(args: argparse.Namespace, io: Io) -> int:
    settings = Settings.from_env()
    path = journal_path(args, settings)
    if getattr(args, "undo_key_vault_grants", None):
        return _undo_grants(args, io, path, settings)
    if getattr(args, "undo_guest_changes", None):
        return _undo_guest(args, io, path, settings)
    only = (args.subscription or "").casefold()
    if is_url(path):  # a container: its reads need the credential, so connect first
        with connect(args, settings) as connection, \
                open_journal(path, credential=connection.credential) as journal:
            left_too = bool(args.restore_left_locks and journal.left_locks())
            results = _recover(journal, args, settings, left_too, connection) \
                if journal.pending_locks() or left_too else ()
            left = tuple(e for e in journal.left_locks()
                         if not only or e.lock.ref.scope.subscription.casefold() == only)
    else:
        with open_journal(path) as journal:
            left_too = bool(args.restore_left_locks and journal.left_locks())
            results = _recover(journal, args, settings, left_too) if journal.pending_locks() or left_too else ()
            left = tuple(e for e in journal.left_locks()
                         if not only or e.lock.ref.scope.subscription.casefold() == only)
    text = render_recovery(results, args.output, journal=path, left=left)
    io.out.write(text.rstrip("\n") + "\n")
    return exit_codes.FAILURE if any(r.outcome == "failed" for r in results) else exit_codes.OK


def _recover(journal: JournalBackend, args: argparse.Namespace, settings: Settings,
             left_too: bool = False, connection: Any = None) -> tuple[LockRecovery, ...]:
    """Connect (only when something is pending, unless connected already) and restore, one gateway per
    subscription."""
    only = args.subscription or None
    with ExitStack() as stack:
        if connection is None:
            connection = stack.enter_context(connect(args, settings))
        gateway_for = connection.gateways(stack)
        # --subscription: only that subscription's locks; the others stay pending.
        target = gateway_for(only) if only else gateway_for
        results = recover_locks(journal, target) if journal.pending_locks() else ()
        if left_too:
            results = (*results, *restore_left_locks(journal, target))
        return tuple(results)


COMMAND = Command(
    name="recover",
    help="put back the locks a killed or failed run left removed (from the journal)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
