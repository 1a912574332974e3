"""``azbackup-fix plan`` (dry-run, never writes) and ``azbackup-fix apply`` (writes after confirmation).

Exit codes: 0 nothing to do or all fixed, 1 a step failed or timed out, 2 bad input,
3 missing permission or a guard-rail refusal (also: apply without a terminal and without
``--yes``), 4 changes planned (plan).
"""

from __future__ import annotations

import argparse
import sys

from ...models import GUARD_RAILS, RunReport
from ...remediator import Remediator
from ...settings import Settings
from .. import exit_codes
from ..annotations import run_problems, write_annotations
from ..connection import connect, group_targets
from ..options import add_target_options
from ..permissions import add_permissions_option, check_permissions
from ..problems import Problems
from ..render.run_report import render_runs
from .base import Command, Io

__all__ = ["APPLY", "PLAN"]


def _arguments(parser: argparse.ArgumentParser, *, apply: bool) -> None:
    add_target_options(parser)
    group = parser.add_argument_group("remediation")
    group.add_argument("--playbooks", metavar="FILE", default=None,
                       help="YAML playbook file routing error codes to playbooks (default: the guides')")
    for rail in GUARD_RAILS:  # one flag per guard rail; the playbook file's guard_rails key of the same name
        group.add_argument(rail.flag, action="store_true", dest=rail.name,
                           help=f"allow {rail.allows} (playbook-file key {rail.name})")
    group.add_argument("--max-targets", type=int, default=None, metavar="N", help="refuse runs over N VMs")
    group.add_argument("--no-wait", action="store_true", help="do not wait for triggered backup jobs")
    add_permissions_option(group)
    if apply:
        group.add_argument("--yes", "-y", action="store_true", help="apply without asking (required without a tty)")


def _confirm(args: argparse.Namespace, io: Io, count: int) -> bool:
    if args.yes:
        return True
    stdin = sys.stdin
    if not (stdin is not None and stdin.isatty() and getattr(io.out, "isatty", lambda: False)()):
        return False
    io.out.write(f"Apply changes to {count} VM(s)? [y/N] ")
    io.out.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def _load_file(path: str | None):  # noqa: ANN202 - the playbook file type belongs to playbook_file
    from ...playbook_file import load_playbook_file

    return load_playbook_file(path)


def _run(args: argparse.Namespace, io: Io, *, apply: bool) -> int:
    problems = Problems(io, debug=args.debug)
    settings = Settings.from_env()
    groups = group_targets(list(args.vm), args.subscription or None)  # bad ids: exit 2, nothing sent
    playbook_file = _load_file(args.playbooks)
    reports: list[RunReport] = []
    journal_path = args.journal or settings.journal_path
    with connect(args, settings) as connection:
        targets = connection.targets(groups)  # no --vm: every protected VM (of --subscription or the sandbox)
        total = sum(len(refs) for _, refs in targets)
        limit = args.max_targets if args.max_targets is not None else playbook_file.guard_rails.max_targets
        if limit is not None and total > limit:
            io.err.write(f"azbackup-fix: error: {total} targets exceed the limit of {limit} (--max-targets)\n")
            return exit_codes.PERMISSION
        denied = check_permissions(args, io, connection, targets, playbook_file)  # before any change
        if denied is not None:
            return denied
        if apply and not _confirm(args, io, total):
            io.err.write("azbackup-fix: error: refusing to apply without confirmation "
                         "(use --yes without a terminal)\n")
            return exit_codes.PERMISSION
        for subscription, refs in targets:
            kwargs = dict(connection.client_kwargs)
            with Remediator(connection.credential, subscription, journal_path=journal_path,
                            playbook_file=playbook_file, **kwargs) as fix:
                for ref in refs:
                    try:
                        reports.append(fix.run(ref, apply=apply, allow_disruptive=args.allow_disruptive,
                                               allow_protection_changes=args.allow_protection_changes,
                                               wait=not args.no_wait))
                    except Exception as exc:  # one VM's error does not end the batch
                        problems.add(exc, where=ref.name)
    if reports or args.output == "json":
        io.out.write(render_runs(reports, args.output).rstrip("\n") + "\n")
    write_annotations(run_problems(reports), settings.ci, io, output=args.output)
    codes = [r.exit_code for r in reports] + list(problems.codes)
    return exit_codes.worst(codes)


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
