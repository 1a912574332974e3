"""The runbook's event and fan-out modes (``--mode alert``, ``--mode scan-fanout``), kept beside
:mod:`azbackup_fix.runbook`, which parses the parameters and writes the streams."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, closing
from typing import Any

from .errors import InvalidInputError
from .models.rails import given_rails
from .settings import Settings

__all__ = ["ALERT_HANDLED", "alert", "fan_out", "split_webhook_data"]

ALERT_HANDLED = "alert-handled"  # journal audit action: this alert id was handled (a repeat changes nothing)
_Credential = Callable[[str | None], AbstractContextManager[Any]]


def split_webhook_data(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """The runbook's own arguments, and WEBHOOKDATA's text if the job came from a webhook: Automation
    appends it to a Python runbook's arguments, split at whitespace, after the webhook's parameters."""
    for i, token in enumerate(argv):
        if token.startswith("{WebhookName:") or token == "{WebhookName:":
            return list(argv[:i]), " ".join(argv[i:])
    return list(argv), None


def alert(args: argparse.Namespace, settings: Settings, streams: Any, journal_path: str, playbook_file: Any,
          credential: _Credential) -> dict[str, Any]:
    """Diagnose (and with ``--apply``, fix) the VM of an Azure Backup job-failure alert, once per alert."""
    from .alert import parse_webhook_data
    from .journal import Journal
    from .playbooks import leave_locks_removed
    from .remediator import Remediator
    from .runbook import RUNBOOK_SCHEMA

    found = parse_webhook_data(args.webhook_data or os.environ.get("WEBHOOKDATA"))  # unreadable: one line, exit 2
    base = {"schema": RUNBOOK_SCHEMA, "mode": "alert", "alert": found.to_dict(), "runs": [], "errors": []}
    if not found.fired_now:
        streams.verbose(f"alert {found.rule or found.alert_id} is {found.condition}: nothing to do")
        return {**base, "exit_code": 0, "skipped": "resolved"}
    with closing(Journal(journal_path)) as journal:
        seen = [c for c in journal.changes_by_action(ALERT_HANDLED) if c.target == found.alert_id]
    if seen:
        streams.verbose(f"alert {found.alert_id} was handled by run {seen[-1].run_id}: nothing to do again")
        return {**base, "exit_code": 0, "skipped": "already-handled", "handled_by": seen[-1].run_id}
    vm = found.vm
    streams.verbose(f"alert {found.rule}: {vm.name} (job {found.job_id or '?'}); "
                    f"{'applying' if args.apply else 'planning'} the fix")
    with credential(args.client_id) as cred, \
            Remediator(cred, vm.subscription_id, cloud=args.cloud or settings.cloud,
                       base_url=args.arm_endpoint or settings.arm_endpoint, retry_after_cap=settings.retry_after_cap,
                       journal_path=journal_path, playbook_file=playbook_file) as fix:
        report = fix.run(vm, apply=args.apply, wait=not args.no_wait,
                         options=leave_locks_removed() if args.leave_locks_removed else {}, **given_rails(args))
    for step in report.steps:
        line = f"{vm.name}: {step.step} {step.status.value}: {step.description}"
        (streams.error if step.status.is_failure else streams.verbose)(
            f"{line} ({step.reason})" if step.status.is_failure else line)
    if args.apply and not report.failures:
        with closing(Journal(journal_path)) as journal:  # after the fix: a repeat of this alert is a no-op
            run_id = journal.start_run(command="alert", targets=[vm.id])
            journal.record_change(run_id, action=ALERT_HANDLED, target=found.alert_id, detail=json.dumps(
                {"vm": vm.id, "job": found.job_id, "exit_code": report.exit_code}, separators=(",", ":")))
            journal.finish_run(run_id, status="succeeded")
    return {**base, "exit_code": report.exit_code, "runs": [report.to_dict()]}


def fan_out(args: argparse.Namespace, settings: Settings, streams: Any, subscriptions: list[str],
            credential: _Credential) -> dict[str, Any]:
    """Start ``--fan-out N`` child jobs of the scan, one per shard, and merge their reports."""
    from .fanout import DEFAULT_RUNBOOK, FanOut, FanOutOptions, child_arguments
    from .gateway.automation import AutomationAccountRef, AutomationGateway
    from .guest.endpoints import parse_endpoint
    from .runbook import RUNBOOK_SCHEMA

    if args.fan_out is None or not args.automation_account:
        raise InvalidInputError("--mode scan-fanout needs --fan-out N and --automation-account ID")
    account = AutomationAccountRef.parse(args.automation_account)
    endpoint = args.arm_endpoint or settings.arm_endpoint
    storage_endpoint = args.guest_storage_endpoint or settings.guest_storage_endpoint  # checked before any job
    children = child_arguments(
        mode=args.child_mode, subscriptions=subscriptions, journal=args.journal or settings.journal_path,
        no_wait=args.no_wait, leave_locks_removed=args.leave_locks_removed, max_targets=args.max_targets,
        workers=args.workers, arm_endpoint=endpoint, cloud=args.cloud, client_id=args.client_id,
        playbooks=args.playbooks, rails=given_rails(args), probe_guest=args.probe_guest,
        guest_storage_endpoint=storage_endpoint and parse_endpoint(storage_endpoint),
        backup_service_object_id=args.backup_service_object_id)
    options = FanOutOptions(account, args.fan_out, children, runbook=args.runbook or DEFAULT_RUNBOOK,
                            hybrid_worker_group=args.hybrid_worker_group,
                            max_concurrent=args.max_concurrent_jobs or min(args.fan_out, 50),
                            poll_seconds=args.poll_seconds, split=args.fan_out_by,
                            identities=tuple(args.child_client_id))
    with credential(args.client_id) as cred, \
            AutomationGateway(cred, account, cloud=args.cloud or settings.cloud, base_url=endpoint,
                              retry_after_cap=settings.retry_after_cap) as gateway:
        report = FanOut(gateway, on_event=streams.verbose).run(options)
    for child in report.failed:
        streams.error(f"shard {child.shard}: {child.status}: {child.error}")
    streams.verbose(f"fan-out: {len(report.children) - len(report.failed)}/{len(report.children)} children "
                    f"reported; {report.fleet.candidates} candidate(s): {report.fleet.by_outcome()}")
    return {"schema": RUNBOOK_SCHEMA, "mode": "scan-fanout", "subscriptions": subscriptions,
            "exit_code": report.exit_code, "fanout": {k: v for k, v in report.to_dict().items() if k != "fleet"},
            "fleet": report.fleet.to_dict()}
