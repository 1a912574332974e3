"""``azbackup-fix plan`` (dry-run, never writes) and ``azbackup-fix apply`` (writes after confirmation).

On a terminal without ``--yes``, ``apply`` first plans every target and prints the plan, then asks;
answering anything but "y" changes nothing and exits 0. Every target is planned before the first
write, so a missing VM among several ``--vm`` stops the run (exit 2) before any change.

Exit codes: 0 nothing to do, all fixed, or "n" at the prompt; 1 a step failed or timed out; 2 bad
input; 3 missing permission or a fix that needs a guard rail not given (also: apply without a
terminal and without ``--yes``); 4 changes planned (plan); 5 report-only; 6 authentication or TLS.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ...models import RunReport
from ...models.events import Interrupt
from ...models.rails import given_rails
from ...playbooks import leave_locks_removed
from ...settings import Settings
from .. import exit_codes
from ..annotations import run_problems, write_annotations
from ..confirm import ask, interactive
from ..connection import connect
from ..options import add_guard_rail_options
from ..permissions import add_permissions_option, check_permissions
from ..problems import Problems
from ..progress import INTERRUPTED, ProgressLines, name_pending, progress_wanted, safe_interrupt
from ..render.run_report import render_runs
from ..targets import add_target_options, parse_targets
from .base import Command, Io

__all__ = ["APPLY", "PLAN", "lock_options"]


def _arguments(parser: argparse.ArgumentParser, *, apply: bool) -> None:
    add_target_options(parser)
    group = parser.add_argument_group("remediation")
    group.add_argument("--playbooks", metavar="FILE", default=None,
                       help="YAML playbook file routing error codes to playbooks (default: the guides')")
    add_guard_rail_options(group)
    group.add_argument("--max-targets", type=int, default=None, metavar="N", help="refuse runs over N VMs")
    group.add_argument("--no-wait", action="store_true", help="do not wait for triggered backup jobs")
    group.add_argument("--leave-locks-removed", action="store_true",
                       help="leave the restore-point locks removed after the fix, as guide 000 recommends "
                            "(journaled; `recover --restore-left-locks` puts them back)")
    add_permissions_option(group)
    group.add_argument("--probe-guest", action="store_true",
                       help="read the guest (read-only Run Command) to plan fix-guest now" + (
                           " in the plan shown before asking" if apply else "")
                       + "; without it the plan probes at apply time")
    if apply:
        group.add_argument("--yes", "-y", action="store_true", help="apply without asking (required without a tty)")
        group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                           help="a line per VM, step and wait on stderr as it happens (default: on a terminal, "
                                "not in CI, not with --output json)")


def lock_options(args: argparse.Namespace) -> dict[str, dict[str, bool]]:
    """--leave-locks-removed as the playbooks' own option (restore_locks: false)."""
    return leave_locks_removed() if getattr(args, "leave_locks_removed", False) else {}


def _load_file(path: str | None):  # noqa: ANN202 - the playbook file type belongs to playbook_file
    from ...playbook_file import load_playbook_file

    return load_playbook_file(path)


def _run(args: argparse.Namespace, io: Io, *, apply: bool) -> int:
    problems = Problems(io, debug=args.debug)
    settings = Settings.from_env()
    wanted = parse_targets(args)  # bad ids: exit 2, nothing sent
    playbook_file = _load_file(args.playbooks)
    from ...remediator import Remediator  # the SDKs: only once the input is known good (see connection.py)

    reports: list[RunReport] = []
    interrupted = False
    journal_path = args.journal or settings.journal_path
    with connect(args, settings) as connection:
        targets = connection.resolve(wanted)  # no target: every protected VM (of --subscription or the sandbox)
        total = sum(len(refs) for _, refs in targets)
        limit = args.max_targets if args.max_targets is not None else playbook_file.guard_rails.max_targets
        if limit is not None and total > limit:
            io.err.write(f"azbackup-fix: error: {total} targets exceed the limit of {limit} (--max-targets)\n")
            return exit_codes.PERMISSION
        denied = check_permissions(args, io, connection, targets, playbook_file)  # before any change
        if denied is not None:
            return denied
        if apply and not args.yes and not interactive(io):
            io.err.write("azbackup-fix: error: refusing to apply without confirmation "
                         "(use --yes without a terminal)\n")
            return exit_codes.PERMISSION
        remediators = [(Remediator(connection.credential, subscription, journal_path=journal_path,
                                   playbook_file=playbook_file, **connection.client_kwargs), refs)
                       for subscription, refs in targets]
        try:
            rails = given_rails(args)
            if apply:
                # Every target resolved and planned before the first write: a missing VM stops the run here.
                plans: list[RunReport] = []
                for fix, refs in remediators:
                    for ref in refs:
                        try:
                            plans.append(fix.plan(ref, wait=not args.no_wait, options=lock_options(args),
                                                  probe_guest=args.probe_guest, **rails))
                        except Exception as exc:  # noqa: BLE001 - reported, and nothing is changed
                            problems.add(exc, where=ref.name)
                if problems:
                    if args.output == "json":
                        io.out.write(json.dumps(problems.document(), indent=2) + "\n")
                    if total > 1:  # the other targets were not changed either
                        io.err.write("azbackup-fix: nothing was changed (fix the targets above, then run again)\n")
                    return problems.exit_code
                if not args.yes:
                    io.terminal.write(render_runs(plans, "text").rstrip("\n") + "\n\n")  # show, then ask
                    if not any(p.planned for p in plans):
                        io.terminal.write("Nothing to apply.\n")
                        return exit_codes.worst([p.exit_code for p in plans])
                    if not ask(io, f"Apply these changes to {sum(1 for p in plans if p.planned)} VM(s)?"):
                        io.terminal.write("Not applied: nothing was changed.\n")
                        return exit_codes.OK
            events = ProgressLines(io.err) if apply and progress_wanted(
                os.environ, args.output, io.err, getattr(args, "progress", None)) else None
            with safe_interrupt(io.err) if apply else _no_interrupt() as interrupt:
                for fix, refs in remediators:
                    for ref in refs:
                        if interrupt.requested:
                            break  # the first Ctrl-C: start no further VM
                        try:
                            reports.append(fix.run(ref, apply=apply, wait=not args.no_wait,
                                                   options=lock_options(args), events=events,
                                                   interrupt=interrupt, probe_guest=args.probe_guest, **rails))
                        except Exception as exc:  # one VM's error does not end the batch
                            problems.add(exc, where=ref.name)
                interrupted = interrupt.requested
        except KeyboardInterrupt:  # a second Ctrl-C: say what is pending, then stop
            io.err.write("azbackup-fix: interrupted\n")
            name_pending(io.err, journal_path, credential=connection.credential)
            return INTERRUPTED
        finally:
            for fix, _ in remediators:
                fix.close()
    code = exit_codes.worst([r.exit_code for r in reports] + list(problems.codes))
    if interrupted:
        code = INTERRUPTED
    if not reports and problems and args.output == "json":
        io.out.write(json.dumps(problems.document(), indent=2) + "\n")  # an error object, never []
    elif reports or args.output == "json":
        io.out.write(render_runs(reports, args.output, exit_code=code).rstrip("\n") + "\n")
    write_annotations(run_problems(reports), settings.ci, io, output=args.output)
    if interrupted:
        done = len(reports)
        io.err.write(f"azbackup-fix: interrupted: the report above is partial ({done} of {total} VM(s) started)\n")
        name_pending(io.err, journal_path, credential=connection.credential)
    return code


@contextmanager
def _no_interrupt() -> Iterator[Interrupt]:
    yield Interrupt()


PLAN = Command(
    name="plan",
    help="show the exact changes the documented fixes would make (dry-run, never writes)",
    description=__doc__ or "",
    add_arguments=lambda p: _arguments(p, apply=False),
    run=lambda args, io: _run(args, io, apply=False),
)
APPLY = Command(
    name="apply",
    help="apply the documented fixes (asks first; --yes without a terminal)",
    description=__doc__ or "",
    add_arguments=lambda p: _arguments(p, apply=True),
    run=lambda args, io: _run(args, io, apply=True),
)
