"""DeleteLock and RestoreLock: a lock is journaled before it is deleted and put back exactly."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AzBackupFixError, GuardRailError
from ..models import Lock, LockLevel
from ..models.report import DetailValue, StepOutcome, StepStatus
from .base import Step, StepContext

__all__ = ["READ_ONLY_BACK_WARNING", "DeleteLock", "LeaveLockRemoved", "RestoreLock"]


READ_ONLY_BACK_WARNING = ("a ReadOnly lock blocks every backup write: the next scheduled backup will fail "
                          "while it stays")


def _key(lock: Lock) -> str:
    return lock.ref.id.casefold()


def _lock_details(lock: Lock) -> tuple[tuple[str, DetailValue], ...]:
    return (("name", lock.name), ("scope", lock.scope.id), ("level", lock.level.value), ("notes", lock.notes),
            ("owners", ",".join(lock.owners) or None))


@dataclass(frozen=True)
class DeleteLock(Step):
    """Remove a lock for the duration of the work (journaled first; RestoreLock puts it back)."""

    lock: Lock
    why: str = ""

    kind = "delete-lock"
    actions = ("Microsoft.Authorization/locks/delete", "Microsoft.Authorization/locks/read")
    destructive = True

    @property
    def target(self) -> str:
        return self.lock.ref.id

    def describe(self) -> str:
        where = self.lock.resource_group or f"subscription {self.lock.scope.subscription}"
        because = f" ({self.why})" if self.why else ""
        return f"remove {self.lock.level.value} lock '{self.lock.name}' on {where} until the work is done{because}"

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return _lock_details(self.lock)

    def run(self, ctx: StepContext) -> StepOutcome:
        if ctx.journal is None or ctx.run_id is None:
            # Never delete a lock we could not put back after a crash.
            raise GuardRailError(f"lock '{self.lock.name}' not removed: no journal to record it in")
        # A second interrupt waits until the DELETE and its journal mark are both done (shield).
        with ctx.interrupt.shield():
            entry = ctx.journal.record_lock_removal(ctx.run_id, self.lock)  # durable, BEFORE the delete
            ctx.lock_entries[_key(self.lock)] = entry
            try:
                ctx.gateway.delete_lock(self.lock)
            except AzBackupFixError:
                # Ambiguous failures: the lock may be gone anyway. Ask, and record what is true.
                still_there = _still_there(ctx, self.lock)
                if still_there:
                    ctx.journal.mark_abandoned(entry)
                else:
                    ctx.journal.mark_removed(entry)
                    ctx.removed_locks[_key(self.lock)] = self.lock
                raise
            ctx.journal.mark_removed(entry)
            ctx.removed_locks[_key(self.lock)] = self.lock
        return self.outcome(StepStatus.CHANGED, detail=(("journal_entry", str(entry)),))


def _still_there(ctx: StepContext, lock: Lock) -> bool:
    try:
        return ctx.gateway.get_lock(lock.ref) is not None
    except AzBackupFixError:
        return False  # unknown: keep the journal entry pending so recovery checks it later


@dataclass(frozen=True)
class RestoreLock(Step):
    """Put a removed lock back with the same name, scope, level, notes and owners (always runs)."""

    lock: Lock

    kind = "restore-lock"
    actions = ("Microsoft.Authorization/locks/write",)
    always = True

    @property
    def target(self) -> str:
        return self.lock.ref.id

    def describe(self) -> str:
        where = self.lock.resource_group or f"subscription {self.lock.scope.subscription}"
        return f"put {self.lock.level.value} lock '{self.lock.name}' back on {where} (same name, level, notes)"

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return _lock_details(self.lock)

    def run(self, ctx: StepContext) -> StepOutcome:
        key = _key(self.lock)
        entry = ctx.lock_entries.get(key)
        if key not in ctx.removed_locks:
            if entry is None:
                return self.outcome(StepStatus.SKIPPED, reason="the lock was not removed")
            # Journaled but not marked removed (an interrupt between the DELETE reaching ARM and its
            # mark): ARM says whether it is gone, whatever the mark.
            if _still_there(ctx, self.lock):
                if ctx.journal is not None:
                    ctx.journal.mark_abandoned(entry)  # the DELETE never took effect
                return self.outcome(StepStatus.SKIPPED, reason="the lock is in place")
            ctx.removed_locks[key] = self.lock
        with ctx.interrupt.shield():  # a second interrupt cannot abort the restoring PUT
            restored = ctx.gateway.put_lock(ctx.removed_locks[key])
            if entry is not None and ctx.journal is not None:
                ctx.journal.mark_restored(entry)
            del ctx.removed_locks[key]
        same = restored.level is self.lock.level and restored.notes == self.lock.notes \
            and tuple(restored.owners) == tuple(self.lock.owners)
        warning = READ_ONLY_BACK_WARNING if self.lock.level is LockLevel.READ_ONLY else None
        return self.outcome(StepStatus.CHANGED, detail=(("restored_identical", same), ("warning", warning)))


@dataclass(frozen=True)
class LeaveLockRemoved(Step):
    """Leave a removed lock removed, as asked (``restore_locks: false``): the journal keeps it, marked
    left removed on purpose with everything needed to re-create it; ``azbackup-fix recover
    --restore-left-locks`` puts it back. Sends nothing to Azure."""

    lock: Lock
    reason: str = "left removed on purpose (restore_locks: false)"

    kind = "leave-lock-removed"
    always = True  # like RestoreLock: the journal must say what became of every removed lock

    @property
    def target(self) -> str:
        return self.lock.ref.id

    def describe(self) -> str:
        where = self.lock.resource_group or f"subscription {self.lock.scope.subscription}"
        return (f"leave {self.lock.level.value} lock '{self.lock.name}' on {where} removed: {self.reason} "
                "(journaled; `azbackup-fix recover --restore-left-locks` puts it back)")

    def details(self) -> tuple[tuple[str, DetailValue], ...]:
        return _lock_details(self.lock)

    def run(self, ctx: StepContext) -> StepOutcome:
        key = _key(self.lock)
        if key not in ctx.removed_locks:
            return self.outcome(StepStatus.SKIPPED, reason="the lock was not removed")
        entry = ctx.lock_entries.get(key)
        if entry is None or ctx.journal is None:
            raise GuardRailError(f"lock '{self.lock.name}' has no journal entry; it is not left removed unrecorded")
        ctx.journal.mark_left_removed(entry, reason=self.reason)
        del ctx.removed_locks[key]
        return self.outcome(StepStatus.UNCHANGED, detail=(("journal_entry", str(entry)), ("left_removed", True)))
