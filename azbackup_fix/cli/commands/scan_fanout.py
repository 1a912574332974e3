"""``azbackup-fix scan --fan-out N --automation-account ID``: the scan as N child jobs of the azbackup-fix
runbook in an Automation account (one per shard), merged into one fleet report (:mod:`azbackup_fix.fanout`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ...errors import InvalidInputError
from ...fleet import render_fleet
from ...models.rails import given_rails
from ...settings import Settings
from .base import Io

__all__ = ["add_fanout_arguments", "run_fanout"]


def add_fanout_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fan-out on Azure Automation")
    group.add_argument("--fan-out", type=int, default=None, metavar="N",
                       help="run the scan as N child jobs (shards 1/N..N/N) of the runbook in --automation-account")
    group.add_argument("--automation-account", metavar="ID", default=None, help="the Automation account's resource id")
    group.add_argument("--runbook", metavar="NAME", default=None, help="the children's runbook (default azbackup-fix)")
    group.add_argument("--hybrid-worker-group", metavar="G", default=None,
                       help="run the children on this Hybrid Runbook Worker group (no 3-hour fair share)")
    group.add_argument("--max-concurrent-jobs", type=int, default=None, metavar="N",
                       help="children running at once (default: N, at most 50, Automation's default limit)")
    group.add_argument("--fan-out-by", choices=("shard", "subscription"), default="shard",
                       help="shard: each child a K/N hash shard of every subscription (default); subscription: each "
                            "child a share of the subscriptions, whole (no repeated discovery, no shared ARM buckets)")
    group.add_argument("--child-client-id", action="append", default=[], metavar="ID",
                       help="a user-assigned identity's client id for the children, used in turn (repeatable): "
                            "each identity has ARM buckets of its own")
    group.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)


def run_fanout(args: argparse.Namespace, io: Io, settings: Settings, subscriptions: list[str],
               connection: Any) -> int:
    # The SDKs only when a fan-out starts (see cli/connection.py): --help and bad input stay instant.
    from ...fanout import DEFAULT_RUNBOOK, FanOut, FanOutOptions, child_arguments
    from ...gateway.automation import AutomationAccountRef, AutomationGateway

    if not args.automation_account:
        raise InvalidInputError("--fan-out needs --automation-account ID")
    if args.vault:
        raise InvalidInputError("--vault does not go with --fan-out (children scan whole subscriptions)")
    if args.shard != "1/1":
        raise InvalidInputError("--shard does not go with --fan-out (the parent gives each child its shard)")
    account = AutomationAccountRef.parse(args.automation_account)
    kwargs = connection.client_kwargs
    children = child_arguments(
        mode="scan-apply" if args.apply else "scan", subscriptions=subscriptions,
        journal=args.journal or settings.journal_path, rails=given_rails(args), no_wait=args.no_wait,
        leave_locks_removed=args.leave_locks_removed, max_targets=args.max_targets, workers=args.workers,
        arm_endpoint=kwargs.get("base_url"), cloud=args.cloud, playbooks=args.playbooks,
        probe_guest=args.probe_guest, guest_storage_endpoint=kwargs.get("guest_storage_endpoint"),
        backup_service_object_id=kwargs.get("backup_service_object_id"))
    options = FanOutOptions(account, args.fan_out, children, runbook=args.runbook or DEFAULT_RUNBOOK,
                            hybrid_worker_group=args.hybrid_worker_group,
                            max_concurrent=args.max_concurrent_jobs or min(args.fan_out, 50),
                            poll_seconds=args.poll_seconds, split=args.fan_out_by,
                            identities=tuple(args.child_client_id))
    if connection.sandbox is not None:
        raise InvalidInputError("--fan-out starts Automation jobs: use the sandbox's HTTPS server "
                                "(--arm-endpoint), not the in-process --sandbox")

    def say(line: str) -> None:
        io.err.write(f"azbackup-fix: {line}\n")
        io.err.flush()

    with AutomationGateway(connection.credential, account, **kwargs) as gateway:
        report = FanOut(gateway, on_event=None if args.no_progress else say).run(options)
    if args.output == "json":
        io.out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        io.out.write(render_fleet(report.fleet, args.output))
        for child in report.children:
            io.out.write(f"child {child.shard}: {child.status}, job {child.jobs[-1] if child.jobs else '-'}"
                         f"{f', resubmitted {child.resubmits}x' if child.resubmits else ''}"
                         f"{f': {child.error}' if child.error else ''}\n")
    for child in report.failed:
        io.err.write(f"azbackup-fix: error: shard {child.shard} ({child.status}): {child.error}\n")
    if report.interrupted:
        io.err.write("azbackup-fix: interrupted: no child was stopped; the report lists every job started\n")
        from ..progress import INTERRUPTED

        return INTERRUPTED
    return report.exit_code
