"""Everything observed about one VM's backup, gathered by the gateway, read by the checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..ids import RestorePointRgNaming, ScopeKind, VaultRef, VmRef
from .backup import BackupJob, BackupPolicy, BackupStatus, ProtectedItem
from .compute import RestorePointCollection, VirtualMachine
from .guest import GuestProbe
from .keyvault import KeyVaultAccess
from .locks import Lock, LockLevel
from .network import NetworkPath
from .policy import PolicyState

__all__ = ["VmObservation"]


@dataclass(frozen=True, slots=True)
class VmObservation:
    """One VM's state as read from Azure.

    ``vm`` is ``None`` when the VM is gone but a vault still protects it; ``location``
    then carries its region if known. ``locks`` holds every lock read for the
    subscription, the VM's group and the restore-point groups (including locks on
    resources inside them); the ``*_locks`` properties split them by scope.
    ``restore_point_collections`` are this VM's collections found anywhere in the
    subscription (by ``source.id``); :attr:`vm_collections` keeps this VM's (a caller may
    pass others). ``jobs`` are recent backup jobs
    for this VM in every vault of the subscription that knows it.
    """

    vm_ref: VmRef
    vm: VirtualMachine | None = None
    location: str | None = None
    backup_status: BackupStatus | None = None
    protected_item: ProtectedItem | None = None
    policy: BackupPolicy | None = None
    locks: tuple[Lock, ...] = ()
    restore_point_collections: tuple[RestorePointCollection, ...] = ()
    jobs: tuple[BackupJob, ...] = ()
    latest_failed_job: BackupJob | None = None
    observed_at: datetime | None = None
    collections_searched: int | None = None  # collections in the subscription-wide listing
    journaled_deletions: tuple[str, ...] = ()  # this VM's collections an azbackup-fix run began deleting
    # Deny assignments' verdicts on the subscription's groups, read when a job failed for a policy;
    # None: not read (no such failure) or not readable (permission).
    policy_states: tuple[PolicyState, ...] | None = None
    key_vault: KeyVaultAccess | None = None  # read only for an encrypted VM (or a Key Vault failure)
    # The path to the region's storage, read only when the failed job's error points at it.
    network: NetworkPath | None = None
    guest_probe: GuestProbe | None = None  # the read-only guest probe, when one ran (guest channel)

    def __post_init__(self) -> None:
        for name in ("locks", "restore_point_collections", "jobs", "journaled_deletions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    # -- where things are --------------------------------------------------------------------

    @property
    def region(self) -> str | None:
        return self.vm.location if self.vm is not None else self.location

    @property
    def vault(self) -> VaultRef | None:
        """The vault protecting the VM (protected item first, then backupStatus)."""
        if self.protected_item is not None:
            return self.protected_item.vault
        if self.backup_status is not None and self.backup_status.vault is not None:
            return self.backup_status.vault
        return None

    @property
    def is_protected(self) -> bool | None:
        """True/False when known, ``None`` when nothing was read."""
        if self.protected_item is not None:
            return True
        if self.backup_status is not None:
            return self.backup_status.protected
        return None

    @property
    def restore_point_rg_naming(self) -> RestorePointRgNaming:
        """The policy's custom naming when it sets a prefix, else the default for the VM's region."""
        if self.policy is not None and self.policy.rg_prefix:
            return self.policy.restore_point_rg_naming(self.region)
        return RestorePointRgNaming(region=self.region)

    def is_restore_point_rg(self, resource_group: str | None) -> bool:
        """Named by the backup configuration: the policy's pattern, or the service default."""
        if not resource_group:
            return False
        default = RestorePointRgNaming(region=self.region)
        return self.restore_point_rg_naming.matches(resource_group) or default.matches(resource_group)

    # -- locks by scope ------------------------------------------------------------------------

    @property
    def subscription_locks(self) -> tuple[Lock, ...]:
        return tuple(lk for lk in self.locks if lk.scope_kind is ScopeKind.SUBSCRIPTION)

    @property
    def vm_resource_group_locks(self) -> tuple[Lock, ...]:
        """Locks on the VM's group or on a resource in it (the VM itself included)."""
        rg = self.vm_ref.resource_group.casefold()
        return tuple(lk for lk in self.locks if (lk.resource_group or "").casefold() == rg)

    @property
    def restore_point_rg_locks(self) -> tuple[Lock, ...]:
        """Locks on a restore-point group or on a resource in it; these stop the service's cleanup."""
        rg = self.vm_ref.resource_group.casefold()
        return tuple(
            lk
            for lk in self.locks
            if self.is_restore_point_rg(lk.resource_group) and (lk.resource_group or "").casefold() != rg
        )

    def guards_restore_points(self, lock: Lock) -> bool:
        """Whether ``lock`` stands in the way of this VM's backups (guide 000): at resource scope on one of
        its collections (or a point in one); at group scope on a group holding its collections; and,
        ReadOnly, on a restore-point group the service writes new points to. Subscription locks are
        inherited everywhere and are judged apart (never removed here)."""
        if lock.scope_kind is ScopeKind.SUBSCRIPTION:
            return False
        mine = {c.ref.id.casefold() for c in self.vm_collections}
        if lock.scope_kind is ScopeKind.RESOURCE:
            scope = lock.scope.id.casefold()
            return any(scope == c or scope.startswith(c + "/") for c in mine)
        rg = (lock.resource_group or "").casefold()
        holding = {c.ref.resource_group.casefold() for c in self.vm_collections}
        if rg in holding:
            return True
        return lock.level is LockLevel.READ_ONLY and self.is_restore_point_rg(lock.resource_group) \
            and rg != self.vm_ref.resource_group.casefold()

    @property
    def blocking_locks(self) -> tuple[Lock, ...]:
        """Group- and resource-scope locks that guard this VM's restore points (see above), by id."""
        return tuple(sorted((lk for lk in self.locks if self.guards_restore_points(lk)),
                            key=lambda lk: lk.ref.id.casefold()))

    @property
    def restore_point_groups(self) -> tuple[str, ...]:
        """The groups holding this VM's collections, first spelling kept, sorted."""
        groups = {c.ref.resource_group.casefold(): c.ref.resource_group for c in self.vm_collections}
        return tuple(sorted(groups.values(), key=str.casefold))

    # -- restore points and jobs -------------------------------------------------------------

    @property
    def vm_collections(self) -> tuple[RestorePointCollection, ...]:
        """This VM's collections, matched by ``properties.source.id``, never by name."""
        return tuple(c for c in self.restore_point_collections if c.is_for(self.vm_ref))

    @property
    def restore_point_count(self) -> int:
        return sum(len(c.restore_points) for c in self.vm_collections)

    @property
    def in_progress_jobs(self) -> tuple[BackupJob, ...]:
        return tuple(j for j in self.jobs if j.is_in_progress)

    @property
    def in_progress_jobs_elsewhere(self) -> tuple[BackupJob, ...]:
        """Running jobs for this VM in a vault other than the protecting one."""
        vault = self.vault
        if vault is None:
            return ()
        return tuple(j for j in self.in_progress_jobs if j.vault != vault)

    @property
    def in_progress_jobs_here(self) -> tuple[BackupJob, ...]:
        vault = self.vault
        return tuple(j for j in self.in_progress_jobs if vault is None or j.vault == vault)

    @property
    def current_failed_job(self) -> BackupJob | None:
        """The newest failed backup of the protecting vault, unless a later backup succeeded.

        A superseded failure is history, not a finding; this is also what makes a second apply a no-op."""
        vault = self.vault
        jobs = [j for j in self.jobs if j.is_backup and (vault is None or j.vault == vault)]
        failed = [j for j in jobs if j.is_failed]
        if self.latest_failed_job is not None and self.latest_failed_job not in failed:
            failed.append(self.latest_failed_job)
        if not failed:
            return None
        try:
            latest = max(failed, key=lambda j: (j.start_time is not None, j.start_time or datetime.min))
            if latest.start_time is None:
                return latest
            if any((j.status or "").casefold().startswith("completed") and j.start_time is not None
                   and j.start_time > latest.start_time for j in jobs):
                return None
            item = self.protected_item
            if item is not None and item.has_backup and (item.last_backup_status or "").casefold() == "completed":
                if item.last_backup_time is not None and item.last_backup_time > latest.start_time:
                    return None
        except TypeError:  # naive and aware times mixed: keep the newest failure rather than guess
            return self.failed_job
        return latest

    @property
    def failed_job(self) -> BackupJob | None:
        """``latest_failed_job`` if given, else the newest failed job among ``jobs``."""
        if self.latest_failed_job is not None:
            return self.latest_failed_job
        failed = [j for j in self.jobs if j.is_failed]
        if not failed:
            return None
        return max(failed, key=lambda j: (j.start_time is not None, j.start_time or datetime.min))
