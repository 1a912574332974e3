"""The library's entry object: a credential and a subscription in, typed reports out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from azure.core.credentials import TokenCredential

from .checks import DEFAULT_OPTIONS, CheckOptions, diagnosis_for
from .checks.guest import guest_findings, probe_suggestion, with_guest_findings
from .errors import AzBackupFixError, InvalidInputError
from .gateway import Gateway, observe_vm
from .guest import GuestChannel
from .ids import VaultRef, VmRef
from .models import Diagnosis, Finding, RunReport, VmObservation
from .models.guest import GuestProbe
from .runner import Runner, RunOptions, default_playbook_file

__all__ = ["DiagnosisOutcome", "Remediator"]


@dataclass(frozen=True, slots=True)
class DiagnosisOutcome:
    """One VM of a batch: its diagnosis, or the error that stopped it (the batch goes on)."""

    vm: VmRef
    diagnosis: Diagnosis | None = None
    error: AzBackupFixError | None = None


class Remediator:
    """Diagnose and repair Azure VM Backup failures in one subscription.

    >>> fix = Remediator(DefaultAzureCredential(), subscription_id)   # doctest: +SKIP
    >>> report = fix.diagnose(vm_id)                                  # doctest: +SKIP
    >>> report = fix.run(vm_id, apply=True)                           # doctest: +SKIP

    Other keyword options go to the :class:`~azbackup_fix.gateway.Gateway` and through it to the SDK
    clients: ``cloud``, ``base_url``, ``credential_scopes``, ``transport``, ``polling_interval``,
    ``retry_total``, ``retry_after_cap``, ``connection_verify``. ``check_options`` tunes the checks'
    thresholds; ``journal``/``journal_path`` and ``playbook_file`` (default: the packaged
    ``default.yaml``) serve :meth:`run`. No global
    state: two Remediators never share clients or caches.
    """

    def __init__(
        self,
        credential: TokenCredential,
        subscription_id: str,
        *,
        check_options: CheckOptions = DEFAULT_OPTIONS,
        journal: Any = None,
        journal_path: str | None = None,
        playbook_file: Any = None,
        **gateway_options: Any,
    ) -> None:
        self.check_options = check_options
        self._journal = journal
        self._journal_path = journal_path
        self._credential = credential  # a Blob Storage journal signs in with it too, and trusts the same CAs
        self._journal_tls = {k: gateway_options[k] for k in ("connection_verify",) if k in gateway_options}
        self._owns_journal = False
        # No file: the packaged default.yaml, the same routing as the CLI and the runbook.
        self.playbook_file = playbook_file if playbook_file is not None else default_playbook_file()
        # The gateway owns its options and their defaults (see Gateway); they are not repeated here.
        self.gateway = Gateway(credential, subscription_id, **gateway_options)

    @property
    def subscription_id(self) -> str:
        return self.gateway.subscription_id

    def close(self) -> None:
        self.gateway.close()
        if self._owns_journal and self._journal is not None:
            self._journal.close()
            self._journal = None
            self._owns_journal = False

    def __enter__(self) -> Remediator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- targets --------------------------------------------------------------------------------

    def parse_vm(self, vm_id: str | VmRef) -> VmRef:
        """Validate a VM id for this subscription; raises before any request is sent."""
        ref = vm_id if isinstance(vm_id, VmRef) else VmRef.parse(vm_id)
        if ref.subscription_id.casefold() != self.subscription_id.casefold():
            raise InvalidInputError(
                f"VM {ref.name} is in subscription {ref.subscription_id}, not in {self.subscription_id}"
            )
        return ref

    def list_protected_vms(self, *, vaults: Iterable[VaultRef] | None = None) -> tuple[VmRef, ...]:
        """Every Azure VM that a vault of the subscription (or one of ``vaults``) protects (deleted VMs included)."""
        out: dict[VmRef, None] = {}
        refs = [v.ref for v in self.gateway.list_vaults()] if vaults is None else list(vaults)
        for vault in refs:
            for item in self.gateway.list_protected_items(vault):
                if item.vm_id is not None and item.vm_id.is_type(VmRef.RESOURCE_TYPE):
                    out.setdefault(VmRef.parse(item.vm_id), None)
        return tuple(out)

    # -- diagnose -------------------------------------------------------------------------------

    def observe(self, vm_id: str | VmRef) -> VmObservation:
        """The raw observation the checks read (fresh reads for lists already cached)."""
        return observe_vm(self.gateway, self.parse_vm(vm_id))

    def diagnose(self, vm_id: str | VmRef, *, probe_guest: bool = False) -> Diagnosis:
        """What is wrong with this VM's backup and which documented fix applies.

        Read-only. ``probe_guest=True`` also reads the guest through Run Command (a read-only probe script,
        tens of seconds). ``request_count`` in the report is the number of ARM requests it made.
        """
        ref = self.parse_vm(vm_id)
        self.gateway.invalidate()  # a new diagnosis reads current state
        return self._diagnose(ref, probe_guest=probe_guest)

    def diagnose_many(self, vm_ids: Iterable[str | VmRef], *, fresh: bool = True) -> list[Diagnosis]:
        """Diagnose several VMs; lists they share (locks, collections, jobs per vault) are read once.

        ``fresh=False`` keeps lists already read (e.g. by :meth:`list_protected_vms` just before).
        """
        refs = [self.parse_vm(v) for v in vm_ids]  # every id validated before the first request
        if fresh:
            self.gateway.invalidate()
        return [self._diagnose(ref) for ref in refs]

    def iter_diagnoses(self, vm_ids: Iterable[str | VmRef], *, fresh: bool = True,
                       probe_guest: bool = False) -> Iterator[DiagnosisOutcome]:
        """Like :meth:`diagnose_many`, but a VM that cannot be diagnosed (missing, not
        protected, forbidden) yields its error instead of ending the batch."""
        refs = [self.parse_vm(v) for v in vm_ids]
        if fresh:
            self.gateway.invalidate()
        for ref in refs:
            try:
                yield DiagnosisOutcome(ref, diagnosis=self._diagnose(ref, probe_guest=probe_guest))
            except AzBackupFixError as exc:
                yield DiagnosisOutcome(ref, error=exc)

    # -- remediate ------------------------------------------------------------------------------

    def _open_journal(self) -> Any:
        if self._journal is None:
            from .journal import open_journal
            from .settings import Settings

            path = self._journal_path or Settings.from_env().journal_path
            if not path:
                raise InvalidInputError("no journal file: pass journal_path= or set AZBACKUP_JOURNAL")
            self._journal = open_journal(path, credential=self._credential, **self._journal_tls)
            self._owns_journal = True
        return self._journal

    def _journal_file(self) -> str | None:
        """The journal's path (given, the journal object's, or the environment's default)."""
        path = getattr(self._journal, "path", None)
        if path is not None:
            return str(path)
        from .settings import Settings

        return self._journal_path or Settings.from_env().journal_path

    def _pending_findings(self, observation: VmObservation) -> tuple[Finding, ...]:
        from .journal import is_url
        from .recovery import pending_lock_findings

        spec = self._journal_file()
        # A container is read through this Remediator's (cached) journal; a file is opened only if it exists.
        journal = self._open_journal() if spec and self._journal is None and is_url(spec) else self._journal
        return pending_lock_findings(spec, observation, journal=journal if spec and is_url(spec) else None)

    def runner(self) -> Runner:
        return Runner(self.gateway, journal=self._open_journal, playbook_file=self.playbook_file,
                      check_options=self.check_options, pending_findings=self._pending_findings)

    def plan(self, vm_id: str | VmRef, **opts: Any) -> RunReport:
        """What :meth:`run` would change (dry-run): never sends a write request, except the read-only guest
        probe's Run Command when ``probe_guest=True`` asks for it."""
        opts.pop("apply", None)
        return self.run(vm_id, apply=False, **opts)

    def run(
        self,
        vm_id: str | VmRef,
        *,
        apply: bool = False,
        allow_disruptive: bool = False,
        allow_protection_changes: bool = False,
        allow_network_changes: bool = False,
        allow_guest_changes: bool = False,
        allow_permission_changes: bool = False,
        allow_extension_changes: bool = False,
        probe_guest: bool = False,
        wait: bool = True,
        playbooks: Iterable[str] | None = None,
        options: dict[str, dict[str, Any]] | None = None,
        events: Any = None,
        interrupt: Any = None,
    ) -> RunReport:
        """Triage -> plan -> apply (only with ``apply=True``) -> verify, for one VM.

        ``playbooks`` runs exactly those ids instead of triage's choice; ``options`` maps a
        playbook id to its options. Each class of change needs its guard rail
        (:data:`~azbackup_fix.models.GUARD_RAILS`): restart, redeploy and cancel need ``allow_disruptive``;
        resume/stop protection ``allow_protection_changes``; an NSG rule ``allow_network_changes``; a guest
        setting ``allow_guest_changes``; Key Vault access ``allow_permission_changes``; re-running another
        extension ``allow_extension_changes``. A dry run reads the guest (Run Command, an ARM write) only with
        ``probe_guest=True``; otherwise fix-guest plans to probe when applied. ``events``
        receives progress (:class:`~azbackup_fix.models.events.RunEvent`); a requested ``interrupt``
        (:class:`~azbackup_fix.models.events.Interrupt`) starts no new step and still puts locks back.
        """
        ref = self.parse_vm(vm_id)
        run_options = RunOptions(
            apply=apply,
            allow_disruptive=allow_disruptive,
            allow_protection_changes=allow_protection_changes,
            allow_network_changes=allow_network_changes,
            allow_guest_changes=allow_guest_changes,
            allow_permission_changes=allow_permission_changes,
            allow_extension_changes=allow_extension_changes,
            probe_guest=probe_guest,
            wait=wait,
            playbooks=tuple(playbooks) if playbooks is not None else None,
            options=dict(options or {}),
        )
        return self.runner().run(ref, run_options, events=events, interrupt=interrupt)

    def probe_guest(self, vm_id: str | VmRef) -> GuestProbe:
        """Read the guest through Run Command (read-only): its facts, or why it could not be read."""
        observation = observe_vm(self.gateway, self.parse_vm(vm_id))
        if observation.vm is None:
            raise InvalidInputError(f"VM {observation.vm_ref.name} does not exist")
        return GuestChannel(self.gateway).probe(observation.vm)

    def _diagnose(self, ref: VmRef, *, probe_guest: bool = False) -> Diagnosis:
        before = self.gateway.request_count
        observation = observe_vm(self.gateway, ref)
        report = diagnosis_for(observation, options=self.check_options)
        if probe_guest and observation.vm is not None:
            report = with_guest_findings(report, guest_findings(GuestChannel(self.gateway).probe(observation.vm)))
        else:
            report = with_guest_findings(report, probe_suggestion(observation))
        # Locks an interrupted or killed run left pending in the journal: the estate lacks them.
        pending = self._pending_findings(observation)
        if pending:
            report = replace(report, findings=(*report.findings, *pending))
        return replace(report, request_count=self.gateway.request_count - before)
