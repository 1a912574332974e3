"""``azbackup-fix scan``: find (and with ``--apply --yes``, fix) failed backups across a fleet.

Targets: ``--vault ID`` (repeatable), ``--subscription ID`` (repeatable), ``--all-subscriptions``
(every subscription the credential sees). Discovery uses Resource Graph, or each vault's job
listing with ``--no-resource-graph`` or when Resource Graph is unavailable; each candidate is
confirmed with its job details before anything acts on it.

Resume: progress is recorded in the journal as each VM finishes. Running the same command again
(same targets, shard and options) resumes the newest unfinished scan automatically; ``--resume
SCAN_ID`` names one, ``--fresh`` starts over. ``--shard K/N`` takes a deterministic 1/N of the VMs
(by a hash of the VM id), for parallel Automation jobs. ``--fan-out N --automation-account ID
[--runbook NAME] [--hybrid-worker-group G]`` starts those jobs itself, one per shard, and merges their
reports (children stopped by fair share are submitted again and resume from the shared ``--journal``).

Exit codes: 0 nothing to do or all fixed, 1 a step failed or a VM could not be examined, 2 bad
input, 3 a guard-rail refusal (also: --apply without --yes and without a terminal), 4 fixes found
but not applied.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from ...errors import InvalidInputError
from ...fleet import render_fleet
from ...fleet.display import ProgressDisplay, progress_enabled
from ...fleet.shards import check_workers, parse_shard
from ...ids import VmRef
from ...models.events import Interrupt
from ...models.rails import given_rails
from ...settings import Settings
from .. import exit_codes
from ..confirm import ask, interactive
from ..connection import connect
from ..options import add_guard_rail_options
from ..progress import INTERRUPTED, ProgressLines, name_pending, progress_wanted, safe_interrupt
from ..targets import add_target_options, parse_targets
from .base import Command, Io
from .remediate import lock_options
from .scan_fanout import add_fanout_arguments, run_fanout

__all__ = ["COMMAND"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    group = parser.add_argument_group("discovery and budget")
    group.add_argument("--no-resource-graph", action="store_true",
                       help="discover through each vault's job listing instead of Resource Graph")
    group.add_argument("--shard", metavar="K/N", default="1/1", help="scan the K-th of N deterministic shards")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="parallel workers, both phases (default 8 per subscription, 32 to 128, to "
                            "diagnose; 32 per subscription, up to 512, to fix: fixes wait on long operations)")
    group.add_argument("--probe-guest", action="store_true",
                       help="read the guest (Run Command, read-only) of candidates whose job error points into it")
    group.add_argument("--stuck-after", type=float, default=6.0, metavar="HOURS",
                       help="a backup job running longer is stuck (default 6)")
    group.add_argument("--retry-after-cap", type=float, default=None, metavar="SECONDS",
                       help="a Retry-After longer than this ends that VM's work (default 60)")
    group.add_argument("--resume", metavar="SCAN_ID", default=None, help="resume this scan (default: the "
                       "newest unfinished scan with the same arguments)")
    group.add_argument("--fresh", action="store_true", help="start a new scan even if one can be resumed")
    group.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    group = parser.add_argument_group("remediation")
    group.add_argument("--apply", action="store_true", help="fix what is found (with --yes; dry-run otherwise)")
    group.add_argument("--yes", "-y", action="store_true", help="apply without asking (required without a tty)")
    group.add_argument("--playbooks", metavar="FILE", default=None, help="YAML playbook file (default: the guides')")
    add_guard_rail_options(group)
    group.add_argument("--max-targets", type=int, default=None, metavar="N", help="refuse to fix over N VMs")
    group.add_argument("--no-wait", action="store_true", help="do not wait for triggered backup jobs")
    group.add_argument("--leave-locks-removed", action="store_true",
                       help="leave the restore-point locks removed after the fix (journaled; "
                            "`recover --restore-left-locks` puts them back)")


def _all_arguments(parser: argparse.ArgumentParser) -> None:
    _arguments(parser)
    add_fanout_arguments(parser)


def _confirm(args: argparse.Namespace, io: Io) -> bool:
    return args.yes or (interactive(io) and ask(io, "Fix every VM this scan finds?"))


def _run(args: argparse.Namespace, io: Io) -> int:
    settings = Settings.from_env()
    from ...playbook_file import load_playbook_file

    shard = parse_shard(args.shard)  # bad input before anything is sent
    check_workers(args.workers)
    if not args.stuck_after > 0:
        raise InvalidInputError(f"--stuck-after must be a positive number of hours, got {args.stuck_after:g}")
    targets = parse_targets(args)
    playbook_file = load_playbook_file(args.playbooks)
    from ...fleet import Budget  # the SDKs: only once the input is known good (see connection.py)
    from ...scanner import FleetScanner, ScanOptions
    if args.apply and not _confirm(args, io):
        io.err.write("azbackup-fix: error: refusing to apply without confirmation (use --yes without a terminal)\n")
        return exit_codes.PERMISSION
    journal_path = args.journal or settings.journal_path
    from ...journal import open_journal

    if not journal_path:
        io.err.write("azbackup-fix: error: scan records its progress in the journal: give --journal PATH\n")
        return exit_codes.BAD_INPUT
    # Opened once connected: a Blob Storage journal signs in with the connection's credential.
    journal: Any = None
    credential: Any = None
    display = None
    stack = ExitStack()
    # apply: the first Ctrl-C starts no further fix, finishes the ones in flight and puts locks back.
    interrupt = stack.enter_context(safe_interrupt(io.err)) if args.apply else Interrupt()
    try:
        with connect(args, settings) as connection:
            journal = open_journal(journal_path, credential=connection.credential)
            credential = connection.credential
            kwargs: dict[str, Any] = dict(connection.client_kwargs)
            cap = args.retry_after_cap if args.retry_after_cap is not None else settings.retry_after_cap
            kwargs["retry_after_cap"] = cap
            budget_kwargs: dict[str, Any] = {"retry_after_cap": cap}
            if connection.sandbox is not None:  # in-process sandbox: the budget runs on its virtual clock
                sb, transport = connection.sandbox, kwargs["transport"]
                budget_kwargs.update(clock=lambda: sb.clock.now().timestamp(), sleep=transport.sleep)
            if progress_enabled(os.environ, args.output, not args.no_progress):
                display = ProgressDisplay(io.err)
            events = ProgressLines(io.err) if args.apply and progress_wanted(
                os.environ, args.output, io.err, False if args.no_progress else None) else None
            scanner = FleetScanner(connection.credential, budget=Budget(**budget_kwargs), journal=journal,
                                   playbook_file=playbook_file, on_progress=display, events=events,
                                   interrupt=interrupt, **kwargs)
            vms = list(targets.vms)
            if targets.names:
                sub = connection.subscription_for_names(targets)
                vms += [VmRef.parse(f"/subscriptions/{sub}/resourceGroups/{targets.resource_group}"
                                    f"/providers/Microsoft.Compute/virtualMachines/{name}") for name in targets.names]
            subscriptions = list(targets.subscriptions)
            if targets.all_subscriptions:
                subscriptions = list(scanner.list_subscriptions())
            subscriptions += [r.subscription_id for r in (*targets.vaults, *vms)]
            subscriptions = list({s.casefold(): s for s in subscriptions}.values())
            if not subscriptions:
                subscriptions = list(connection.all_subscriptions())
            if args.fan_out is not None:  # the scan as child jobs in an Automation account
                return run_fanout(args, io, settings, subscriptions, connection)
            report = scanner.scan(ScanOptions(
                subscriptions=tuple(subscriptions), vaults=targets.vaults, apply=args.apply, vms=tuple(vms),
                resource_group=targets.resource_group if not targets.names else None,
                use_resource_graph=not args.no_resource_graph, shard=shard, workers=args.workers,
                stuck_after=timedelta(hours=args.stuck_after), **given_rails(args), wait=not args.no_wait,
                max_targets=args.max_targets, resume=args.resume, fresh=args.fresh, options=lock_options(args),
                probe_guest=args.probe_guest))
    except KeyboardInterrupt:  # a second Ctrl-C: say what is pending, then stop
        io.err.write("azbackup-fix: interrupted\n")
        name_pending(io.err, journal_path, credential=credential)
        return INTERRUPTED
    finally:
        stack.close()
        if display is not None:
            display.close()
        if journal is not None:
            journal.close()
    io.out.write(render_fleet(report, args.output))
    if interrupt.requested:
        io.err.write("azbackup-fix: interrupted: the report above is partial (VMs not started are left for "
                     "`scan --resume`)\n")
        name_pending(io.err, journal_path, credential=credential)
        return INTERRUPTED
    return report.exit_code


COMMAND = Command(
    name="scan",
    help="find failed backups across vaults and subscriptions (Resource Graph), and fix them with --apply",
    description=__doc__ or "",
    add_arguments=_all_arguments,
    run=_run,
)
