"""Put back the locks a killed run left removed (``azbackup-fix recover``, and every run's start).

For each pending journal entry this recovery can claim (see the concurrency rule in
:mod:`azbackup_fix.journal`: entries of runs that are still active are left alone):

* GET the lock; if it is there (``recorded``: the delete never happened; or someone put it
  back), nothing is written: outcome ``already-present``;
* otherwise PUT it back exactly as journaled (name, scope, level, notes, owners): ``restored``;
* either way the entry is marked restored. A failure leaves the entry pending and is reported
  (``failed`` with the ARM error code): running recovery again retries it. Idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .errors import AzBackupFixError, AzureOperationError, one_line
from .journal import JournalBackend, LeftLock, PendingLock, journal_exists, open_journal
from .models.locks import Lock

if TYPE_CHECKING:
    from .gateway import Gateway
    from .models import Finding, VmObservation

__all__ = ["LockRecovery", "RecoveryOutcome", "recover_locks", "restore_left_locks"]

RecoveryOutcome = Literal["restored", "already-present", "failed", "in-use"]


@dataclass(frozen=True, slots=True)
class LockRecovery:
    """What recovery did with one journaled lock."""

    lock: Lock
    outcome: RecoveryOutcome  # in-use: another run, still active, owns it and will restore it
    entry_id: int
    left_by: str  # the run that journaled it
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    def to_dict(self) -> dict[str, object]:
        return {
            **self.lock.to_dict(),
            "entry_id": self.entry_id,
            "left_by_run": self.left_by,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


def recover_locks(
    journal: JournalBackend,
    gateway: Gateway | Callable[[str], Gateway],
    *,
    run_id: str | None = None,
) -> tuple[LockRecovery, ...]:
    """Restore every pending lock of the journal this process may claim.

    ``gateway``: a :class:`~azbackup_fix.gateway.Gateway` (only entries of its subscription
    are handled; others stay pending) or a function giving the gateway for a subscription id.
    ``run_id``: restore under this (running) run of the journal, e.g. the run that is about
    to start its work; by default a ``recover`` run is opened and closed here.
    """
    # A single gateway speaks for one subscription; a factory for any.
    subscription = gateway.subscription_id if hasattr(gateway, "get_lock") else None  # type: ignore[union-attr]
    own_run = run_id is None
    if own_run:
        run_id = journal.start_run(command="recover", targets=[])
    assert run_id is not None
    results: list[LockRecovery] = []
    try:
        claimed, held = journal.claim_pending(run_id, subscription=subscription)
        results += [LockRecovery(p.lock, "in-use", p.entry_id, p.run_id) for p in held]
        for pending in claimed:
            results.append(_restore(journal, run_id, pending, gateway))
    finally:
        if own_run:
            journal.finish_run(run_id, status="failed" if any(not r.ok for r in results) else "succeeded")
    return tuple(sorted(results, key=lambda r: r.entry_id))


def _gateway_for(gateway: Gateway | Callable[[str], Gateway], subscription: str) -> Gateway:
    if hasattr(gateway, "get_lock"):
        return gateway  # type: ignore[return-value]
    return gateway(subscription)  # type: ignore[operator]


def _put_back(lock: Lock, entry_id: int, left_by: str, mark: Callable[[], None],
              gateway: Gateway | Callable[[str], Gateway]) -> LockRecovery:
    """GET first, PUT only when the lock is missing, then ``mark`` the journal entry; a failure leaves the
    entry as it was. GET first because a "recorded" delete may never have happened, and a lock someone
    has put back meanwhile is theirs now: it is not overwritten."""
    try:
        gw = _gateway_for(gateway, lock.ref.scope.subscription)
        if gw.get_lock(lock.ref) is not None:
            outcome: RecoveryOutcome = "already-present"
        else:
            gw.put_lock(lock)
            outcome = "restored"
        mark()
    except AzBackupFixError as exc:
        code = exc.arm_code if isinstance(exc, AzureOperationError) and exc.arm_code else type(exc).__name__
        return LockRecovery(lock, "failed", entry_id, left_by, code, exc.message)
    except Exception as exc:  # one lock's transport error must not stop the others' recovery
        return LockRecovery(lock, "failed", entry_id, left_by, type(exc).__name__, one_line(exc))
    return LockRecovery(lock, outcome, entry_id, left_by)


def _restore(
    journal: JournalBackend, run_id: str, pending: PendingLock, gateway: Gateway | Callable[[str], Gateway]
) -> LockRecovery:
    result = _put_back(pending.lock, pending.entry_id, pending.run_id,
                       lambda: journal.mark_restored(pending.entry_id), gateway)
    if result.outcome == "already-present":
        journal.record_change(run_id, action="lock-already-present", target=pending.lock.ref.id,
                              detail=f"entry {pending.entry_id}: found in place, not rewritten")
    return result


def restore_left_locks(
    journal: JournalBackend, gateway: Gateway | Callable[[str], Gateway]
) -> tuple[LockRecovery, ...]:
    """Put back the locks a run left removed on purpose (``restore_locks: false``), exactly as journaled.

    Same rules as :func:`recover_locks`: GET first (a lock someone re-created is left as it is), PUT
    otherwise; the entry is marked restored either way, a failure leaves it left-removed. ``gateway``:
    one subscription's gateway (only its locks), or a function giving the gateway for a subscription.
    """
    subscription = gateway.subscription_id if hasattr(gateway, "get_lock") else None  # type: ignore[union-attr]
    left = [e for e in journal.left_locks()
            if subscription is None or e.lock.ref.scope.subscription.casefold() == subscription.casefold()]
    if not left:
        return ()
    run_id = journal.start_run(command="recover --restore-left-locks", targets=[e.lock.ref.id for e in left])
    results: list[LockRecovery] = []
    try:
        for entry in left:
            results.append(_put_back_left(journal, run_id, entry, gateway))
    finally:
        journal.finish_run(run_id, status="failed" if any(not r.ok for r in results) else "succeeded")
    return tuple(results)


def _put_back_left(journal: JournalBackend, run_id: str, entry: LeftLock,
                   gateway: Gateway | Callable[[str], Gateway]) -> LockRecovery:
    result = _put_back(entry.lock, entry.entry_id, entry.run_id,
                       lambda: journal.mark_left_restored(entry.entry_id), gateway)
    if result.ok:
        journal.record_change(run_id, action=f"left-lock-{result.outcome}", target=entry.lock.ref.id,
                              detail=f"entry {entry.entry_id}: put back after being left removed on purpose")
    return result


JOURNAL_LOCK_PENDING = "JournalLockPending"


def recover_command(journal_path: str) -> str:
    """The exact command that puts a journal's pending locks back."""
    import shlex

    return f"azbackup-fix recover --journal {shlex.quote(journal_path)}"


def pending_lock_findings(journal_path: str | None, observation: VmObservation, *,
                          journal: JournalBackend | None = None) -> tuple[Finding, ...]:
    """A ``JournalLockPending`` warning for each lock the journal at ``journal_path`` holds removed (a run
    that was interrupted or killed) on the VM's resource group or one of its restore-point groups, with
    the ``recover`` command that puts it back. Reads only the journal (``journal`` when open already,
    as a Blob Storage journal is); no file, no finding."""
    from .models import Evidence, Finding, Severity

    if not journal_path or (journal is None and not journal_exists(journal_path)):
        return ()
    try:
        if journal is not None:
            pending = journal.pending_locks()
        else:
            with open_journal(journal_path) as opened:
                pending = opened.pending_locks()
    except AzBackupFixError:
        return ()
    vm = observation.vm_ref
    out = []
    for entry in pending:
        lock = entry.lock
        rg = lock.resource_group or ""
        if lock.scope.subscription.casefold() != vm.subscription_id.casefold():
            continue
        if not (rg.casefold() == vm.resource_group.casefold() or observation.is_restore_point_rg(rg)):
            continue
        command = recover_command(journal_path)
        out.append(Finding(
            code=JOURNAL_LOCK_PENDING, severity=Severity.WARNING,
            title=(f"{lock.level.value} lock '{lock.name}' on {rg or 'the subscription'} was removed by a run that "
                   f"did not finish and may be missing; put it back with: {command}"),
            evidence=(Evidence("lock", lock.ref.id), Evidence("journal entry", entry.entry_id),
                      Evidence("journal state", entry.state), Evidence("run", entry.run_id),
                      Evidence("journal", journal_path), Evidence("recover command", command)),
        ))
    return tuple(out)
