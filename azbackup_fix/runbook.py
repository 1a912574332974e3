"""Azure Automation entry point (Python 3.10 runbook): parameters from ``sys.argv``, the Automation
account's managed identity through azure-identity, prefixed output lines, a JSON report.

    python -m azbackup_fix.runbook --subscription SUB [--vm ID ...] [--mode diagnose|plan|apply]
        [--allow-disruptive] [--allow-protection-changes] [--allow-network-changes]
        [--allow-guest-changes] [--allow-permission-changes] [--allow-extension-changes] [--no-wait] [--leave-locks-removed]
        [--max-targets N] [--check-permissions ROLE_FILE] [--client-id ID] [--cloud NAME]
        [--arm-endpoint URL] [--journal PATH] [--playbooks FILE] [--debug]
    python -m azbackup_fix.runbook --mode scan|scan-apply --subscription SUB [--subscription SUB ...]
        [--shard K/N] [--workers N] [--journal PATH] ...

    python -m azbackup_fix.runbook --mode scan-fanout --fan-out N --automation-account ID --subscription SUB ...
        --journal PATH [--runbook NAME] [--hybrid-worker-group G] [--child-mode scan|scan-apply]
        [--fan-out-by shard|subscription] [--max-concurrent-jobs N]
    python -m azbackup_fix.runbook --mode alert [--apply] --journal PATH   (+ WEBHOOKDATA, from a webhook)

``scan-fanout`` starts one child job per shard in the Automation account and merges their reports;
``alert`` fixes the VM of an Azure Backup job-failure alert, once per alert (docs/automation.md).

``scan`` is the fleet scan (``azbackup-fix scan``: Resource Graph discovery, budgeted workers, progress
in the journal); ``scan-apply`` also fixes what it finds. Scheduled again with the same parameters it
resumes where a job stopped at Automation's 3-hour limit, on any worker, provided ``--journal`` outlives
the job: a Blob Storage container URL (the sandbox's temp directory does not); ``--shard K/N`` splits the fleet between
parallel jobs. Its report is under ``"fleet"`` (schema ``azbackup-fix/fleet/v1``).

In the Automation runbook (``examples/automation/azbackup_fix_runbook.py``)::

    import sys
    from azbackup_fix.runbook import main
    sys.exit(main(sys.argv[1:]))

The targets and guard rails are the CLI's: ``--max-targets`` (else the playbook file's ``max_targets``)
refuses a bigger plan/apply with exit 3 before any request that changes anything; ``--check-permissions
ROLE_FILE`` (plan, apply) dry-runs every target and exits 3 listing the actions the role file lacks,
before any change (the same check as ``azbackup-fix plan|apply --check-permissions``).

Output: human lines on stdout start with ``VERBOSE:`` or ``WARNING:``; each error is one ``ERROR:`` line
on stderr (which Automation files under the Error stream), once; the last stdout line is the JSON report
(schema ``azbackup-fix/runbook/v1``). No subprocess is started (Automation's sandbox forbids them),
no secret is printed; azure-identity's own log is silenced unless ``--debug``. Exit codes are the CLI's (0, 1, 2, 3, 4, 5, 6): 5 is report-only (a cause
no Azure-side change fixes), 6 an authentication or TLS failure; see ``azbackup-fix --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any, TextIO

from .errors import AzBackupFixError, GuardRailError, InvalidInputError
from .identity_log import identity_log
from .ids import VmRef, parse_object_id
from .models import Diagnosis, RunReport
from .models.exit_codes import worst
from .models.rails import GUARD_RAILS, given_rails
from .playbooks import leave_locks_removed
from .preflight import Permissions, check, plan_needs, preflight_text
from .remediator import Remediator
from .sdk_imports import SDK_IMPORT_LOCK
from .settings import Settings

__all__ = ["RUNBOOK_SCHEMA", "build_parser", "main"]

RUNBOOK_SCHEMA = "azbackup-fix/runbook/v1"
_CLOUDS = ("AzureCloud", "AzureChinaCloud", "AzureUSGovernment")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidInputError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="azbackup_fix.runbook", description="azbackup-fix as an Azure Automation runbook")
    parser.add_argument("--subscription", action="append", default=[],
                        help="subscription id (env AZBACKUP_SUBSCRIPTION); repeatable for the scan modes")
    parser.add_argument("--vm", action="append", default=[], help="VM resource id (repeatable; default: "
                                                                   "every protected VM of the subscription)")
    parser.add_argument("--mode", choices=("diagnose", "plan", "apply", "scan", "scan-apply", "scan-fanout", "alert"),
                        default="diagnose")
    parser.add_argument("--shard", default="1/1", help="scan modes: the K-th of N deterministic shards (K/N)")
    parser.add_argument("--workers", type=int, default=None,
                        help="scan modes: parallel workers, both phases (default 8 per subscription, 32 to 128, "
                             "to diagnose; 32 per subscription, up to 512, to fix)")
    parser.add_argument("--arm-share", type=int, default=1, metavar="N",
                        help="scan modes: this job is one of N with the same identity (a fan-out's children): "
                             "use 1/N of each subscription's ARM buckets, so that together they stay below ARM's")
    for rail in GUARD_RAILS:  # --allow-disruptive, --allow-network-changes, ...: as the CLI's
        parser.add_argument(rail.flag, action="store_true", dest=rail.name)
    parser.add_argument("--probe-guest", action="store_true",
                        help="diagnose, plan and scan modes: also read the guest through Run Command (read-only; "
                             "a plan without it probes at apply time)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for triggered backup jobs")
    parser.add_argument("--leave-locks-removed", action="store_true",
                        help="leave the restore-point locks removed after the fix, as guide 000 recommends "
                             "(journaled; `azbackup-fix recover --restore-left-locks` puts them back)")
    parser.add_argument("--client-id", help="client id of a user-assigned managed identity")
    parser.add_argument("--backup-service-object-id", default=None, metavar="GUID",
                        help="the Backup Management Service principal's object id (Key Vault checks), when the "
                             "identity may not read Microsoft Graph")
    parser.add_argument("--guest-storage-endpoint", default=None, metavar="HOST[:PORT]",
                        help="with --probe-guest: the storage to test on 443 when a VM has no boot-diagnostics "
                             "storage account (env AZBACKUP_GUEST_STORAGE_ENDPOINT)")
    parser.add_argument("--cloud", choices=_CLOUDS, default=None)
    parser.add_argument("--arm-endpoint", help="ARM endpoint (env AZBACKUP_ARM_ENDPOINT)")
    parser.add_argument("--journal", help="journal file, or a Blob Storage container URL "
                                          "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX] that outlives "
                                          "the job (default: the user's state dir, else the temp dir)")
    parser.add_argument("--playbooks", help="YAML playbook file (default: the packaged default.yaml)")
    parser.add_argument("--max-targets", type=int, default=None, metavar="N",
                        help="plan, apply, scan-apply: refuse runs over N VMs (default: the playbook file's "
                             "max_targets)")
    parser.add_argument("--check-permissions", metavar="ROLE_FILE", default=None,
                        help="plan, apply: before any change, check that this role definition JSON grants every "
                             "action the planned fixes need; exit 3 listing the missing ones")
    parser.add_argument("--debug", action="store_true", help="keep azure-identity's log")
    # scan-fanout (azbackup_fix.fanout): this job starts one child job per shard and merges their reports.
    parser.add_argument("--fan-out", type=int, default=None, metavar="N", help="scan-fanout: N child jobs")
    parser.add_argument("--automation-account", metavar="ID", help="scan-fanout: the account to start them in")
    parser.add_argument("--runbook", default=None, help="scan-fanout: the children's runbook (default azbackup-fix)")
    parser.add_argument("--hybrid-worker-group", default=None, help="scan-fanout: run the children there")
    parser.add_argument("--child-mode", choices=("scan", "scan-apply"), default="scan",
                        help="scan-fanout: what each child does")
    parser.add_argument("--max-concurrent-jobs", type=int, default=None, metavar="N",
                        help="scan-fanout: children running at once (default: N, at most 50)")
    parser.add_argument("--fan-out-by", choices=("shard", "subscription"), default="shard",
                        help="scan-fanout: children by hash shard of every subscription, or by subscription")
    parser.add_argument("--child-client-id", action="append", default=[], metavar="ID",
                        help="scan-fanout: user-assigned identities for the children, in turn (repeatable)")
    parser.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--webhook-data", default=None, help="alert: the webhook's data (default: WEBHOOKDATA)")
    parser.add_argument("--apply", action="store_true", help="alert: apply the fix (default: plan only)")
    return parser


class _Streams:
    """Automation streams by prefix: Output (stdout), Warning, Error (also stderr)."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def verbose(self, text: str) -> None:
        self.out.write(f"VERBOSE: {text}\n")

    def warning(self, text: str) -> None:
        self.out.write(f"WARNING: {text}\n")

    def error(self, text: str) -> None:
        """One line on the error stream only (Automation's Error stream), never repeated on stdout."""
        self.err.write(f"ERROR: {text}\n")


def _lock_options(args: argparse.Namespace) -> dict[str, dict[str, bool]]:
    return leave_locks_removed() if args.leave_locks_removed else {}


def _check_targets(args: argparse.Namespace, playbook_file: Any, total: int) -> None:
    """--max-targets (else the playbook file's max_targets): exit 3 before any change."""
    if args.max_targets is not None and args.max_targets < 1:
        raise InvalidInputError(f"--max-targets must be at least 1, got {args.max_targets}")
    limit = args.max_targets if args.max_targets is not None else playbook_file.guard_rails.max_targets
    if limit is not None and total > limit:
        raise GuardRailError(f"{total} targets exceed the limit of {limit} (--max-targets)")


@contextmanager
def _credential(client_id: str | None) -> Iterator[Any]:
    """The Automation account's managed identity, closed (its HTTP session) when the job is done."""
    # Imported here: the library itself needs azure-identity only for this entry point and the CLI.
    with SDK_IMPORT_LOCK:  # sdk_imports.py
        from azure.identity import ManagedIdentityCredential

    credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    try:
        yield credential
    finally:
        credential.close()


def _scan(args: argparse.Namespace, settings: Settings, streams: _Streams, subscriptions: list[str],
          journal_path: str, playbook_file: Any) -> dict[str, Any]:
    """The fleet scan modes: one :class:`~azbackup_fix.scanner.FleetScanner` run over the subscriptions."""
    from .fanout import shared_rates
    from .fleet import Budget, Outcome, ProgressEvent
    from .journal import open_journal
    from .scanner import FleetScanner, ScanOptions, check_workers, parse_shard

    if args.vm:
        raise InvalidInputError("--vm does not go with the scan modes (they find their VMs)")
    if args.check_permissions:
        raise InvalidInputError("--check-permissions goes with --mode plan or apply")
    shard = parse_shard(args.shard)
    check_workers(args.workers)
    step = 0

    def progress(event: ProgressEvent) -> None:
        nonlocal step
        # A line per 5 % (Automation keeps every line of the job's output).
        if event.total and (event.done == event.total or event.done * 20 // event.total > step):
            step = event.done * 20 // event.total
            streams.verbose(f"{event.phase}: {event.done}/{event.total} VMs")

    with _credential(args.client_id) as credential, closing(open_journal(journal_path, credential=credential)) as journal:
        scanner = FleetScanner(credential, budget=Budget(shared_rates(args.arm_share),
                                                         retry_after_cap=settings.retry_after_cap), journal=journal,
                               playbook_file=playbook_file, on_progress=progress,
                               cloud=args.cloud or settings.cloud, base_url=args.arm_endpoint or settings.arm_endpoint,
                               retry_after_cap=settings.retry_after_cap,
                               backup_service_object_id=args.backup_service_object_id,
                               guest_storage_endpoint=args.guest_storage_endpoint or settings.guest_storage_endpoint)
        apply = args.mode == "scan-apply"
        streams.verbose(f"{args.mode}: {len(subscriptions)} subscription(s), shard {shard[0]}/{shard[1]}")
        report = scanner.scan(ScanOptions(
            subscriptions=tuple(subscriptions), apply=apply, shard=shard, workers=args.workers,
            **given_rails(args), wait=not args.no_wait, max_targets=args.max_targets, options=_lock_options(args),
            probe_guest=args.probe_guest))
    if report.resumed:
        streams.verbose(f"resumed scan {report.scan_id}")
    for vm in report.problems:
        line = f"{vm.vm.rsplit('/', 1)[-1]}: {vm.outcome}: {vm.error_code or ', '.join(vm.findings) or '-'}"
        (streams.error if vm.outcome in (Outcome.FAILED, Outcome.ERROR, Outcome.THROTTLED) else streams.warning)(
            f"{line}{f' ({vm.detail})' if vm.detail else ''}")
    streams.verbose(f"{report.candidates} candidate(s) of {report.vms_seen} VMs: {report.by_outcome()}")
    return {"schema": RUNBOOK_SCHEMA, "mode": args.mode, "subscriptions": subscriptions,
            "exit_code": report.exit_code, "fleet": report.to_dict()}


def _run(args: argparse.Namespace, settings: Settings, streams: _Streams) -> dict[str, Any]:
    subscriptions = list(dict.fromkeys(args.subscription)) or \
        ([settings.subscription_id] if settings.subscription_id else [])
    if not subscriptions and args.mode != "alert":  # an alert names its VM, and so its subscription
        raise InvalidInputError("give --subscription ID (or set AZBACKUP_SUBSCRIPTION)")
    endpoint = args.arm_endpoint or settings.arm_endpoint
    journal = args.journal or settings.journal_path or os.path.join(tempfile.gettempdir(), "azbackup-fix.sqlite")
    from .journal import check_journal

    check_journal(journal)  # a URL that is not a blob container: one line, before any request
    playbook_file = None
    if args.mode != "diagnose":
        from .playbook_file import load_playbook_file

        playbook_file = load_playbook_file(args.playbooks)
    if args.mode in ("scan", "scan-apply"):
        return _scan(args, settings, streams, subscriptions, journal, playbook_file)
    if args.mode == "scan-fanout":
        from .runbook_modes import fan_out

        return fan_out(args, settings, streams, subscriptions, _credential)
    if args.mode == "alert":
        from .runbook_modes import alert

        return alert(args, settings, streams, journal, playbook_file, _credential)
    if len(subscriptions) > 1:
        raise InvalidInputError(f"--mode {args.mode} takes one --subscription (the scan modes take several)")
    subscription = subscriptions[0]
    if args.check_permissions and args.mode == "diagnose":
        raise InvalidInputError("--check-permissions goes with --mode plan or apply (diagnose only reads)")
    permissions = Permissions.load(args.check_permissions) if args.check_permissions else None  # bad file: 2
    refs = [VmRef.parse(v) for v in args.vm]  # every id validated before a request is sent
    diagnoses: list[Diagnosis] = []
    runs: list[RunReport] = []
    errors: list[dict[str, Any]] = []
    codes: list[int] = []
    with _credential(args.client_id) as credential, \
            Remediator(credential, subscription, cloud=args.cloud or settings.cloud, base_url=endpoint,
                       retry_after_cap=settings.retry_after_cap, journal_path=journal,
                       playbook_file=playbook_file, backup_service_object_id=args.backup_service_object_id,
                       guest_storage_endpoint=args.guest_storage_endpoint or settings.guest_storage_endpoint) as fix:
        targets = [fix.parse_vm(r) for r in refs] or list(fix.list_protected_vms())
        streams.verbose(f"{args.mode}: {len(targets)} VM(s) in subscription {subscription}")
        if playbook_file is not None:
            _check_targets(args, playbook_file, len(targets))
        if permissions is not None:  # dry-run every target (reads only), then compare with the role file
            rails = given_rails(args)
            result = check(plan_needs(fix.plan(ref, **rails) for ref in targets), permissions)
            if not result.ok:
                streams.error(preflight_text(result).replace("\n  ", "; "))
                return {"schema": RUNBOOK_SCHEMA, "mode": args.mode, "subscription": subscription,
                        "exit_code": GuardRailError.exit_code, "preflight": result.to_dict(),
                        "diagnoses": [], "runs": [], "errors": []}
            streams.verbose(preflight_text(result))
        for ref in targets:
            try:
                if args.mode == "diagnose":
                    diagnosis = fix.diagnose(ref, probe_guest=args.probe_guest)
                    diagnoses.append(diagnosis)
                    for f in diagnosis.errors:
                        streams.warning(f"{ref.name}: {f.code}: {f.title}")
                    codes.append(4 if diagnosis.errors else 0)
                    streams.verbose(f"{ref.name}: {len(diagnosis.errors)} problem(s)")
                else:
                    report = fix.run(ref, apply=args.mode == "apply", **given_rails(args),
                                     probe_guest=args.probe_guest, wait=not args.no_wait,
                                     options=_lock_options(args))
                    runs.append(report)
                    for step in report.steps:
                        line = f"{ref.name}: {step.step} {step.status.value}: {step.description}"
                        if step.status.is_failure:
                            streams.error(f"{line} ({step.reason})")
                        else:
                            streams.verbose(line)
                    codes.append(report.exit_code)
            except AzBackupFixError as exc:  # one VM's error does not end the job
                streams.error(f"{ref.name}: {exc}")
                errors.append({"vm": ref.id, "error": str(exc), "type": type(exc).__name__})
                codes.append(exc.exit_code)
    return {
        "schema": RUNBOOK_SCHEMA,
        "mode": args.mode,
        "subscription": subscription,
        "exit_code": worst(codes),
        "diagnoses": [d.to_dict() for d in diagnoses],
        "runs": [r.to_dict() for r in runs],
        "errors": errors,
    }


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    streams = _Streams(stdout or sys.stdout, stderr or sys.stderr)
    try:
        from .runbook_modes import split_webhook_data

        arguments, webhook = split_webhook_data(list(sys.argv[1:] if argv is None else argv))
        args = build_parser().parse_args(arguments)
        if webhook is not None and args.webhook_data is None:
            args.webhook_data = webhook
        if args.backup_service_object_id:  # bad input before any request, in every mode
            args.backup_service_object_id = parse_object_id(args.backup_service_object_id,
                                                            "--backup-service-object-id")
        with identity_log(debug=args.debug):
            report = _run(args, Settings.from_env(), streams)
    except AzBackupFixError as exc:
        streams.error(str(exc))
        report = {"schema": RUNBOOK_SCHEMA, "exit_code": exc.exit_code, "errors": [
            {"error": str(exc), "type": type(exc).__name__}]}
    streams.out.write(json.dumps(report, separators=(",", ":")) + "\n")
    streams.out.flush()
    return int(report["exit_code"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
