"""``azbackup-fix diagnose``: what is wrong with each VM's backup and which documented fix applies.

Exit codes: 0 no problem found (warnings may be shown), 4 problems found (action needed:
the fix is known but not applied), 2 bad input (malformed id, unknown VM, VM not protected,
vault missing), 3 permission denied, 1 an ARM call failed, 6 authentication or TLS failure.
With ``--output json`` an error that leaves nothing to report prints an error object
(schema ``azbackup-fix/error/v1``: ``exit_code`` and ``errors``, each with its target and message).
"""

from __future__ import annotations

import argparse
import json

from ...models import Diagnosis
from ...settings import Settings
from .. import exit_codes
from ..annotations import diagnosis_problems, write_annotations
from ..connection import connect
from ..problems import Problems
from ..render import render, render_markdown
from ..targets import add_target_options, parse_targets
from .base import Command, Io

__all__ = ["COMMAND", "diagnose_targets", "write_report"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--probe-guest", action="store_true",
                        help="also read the guest through Run Command (read-only; tens of seconds per VM)")


def diagnose_targets(args: argparse.Namespace, io: Io, problems: Problems) -> list[Diagnosis]:
    settings = Settings.from_env()
    targets = parse_targets(args)  # raises before any request
    # The journal: its pending locks (an interrupted run's) are findings (JournalLockPending).
    journal = args.journal or settings.journal_path
    diagnoses: list[Diagnosis] = []
    with connect(args, settings) as connection:
        probe = bool(getattr(args, "probe_guest", False))
        for subscription, refs in connection.resolve(targets, journal_path=journal):
            fix = connection.remediator(subscription, journal_path=journal)  # the listing's: its cache
            for outcome in fix.iter_diagnoses(refs, fresh=targets.explicit_vms_only, probe_guest=probe):
                if outcome.error is not None:
                    problems.add(outcome.error, where=outcome.vm.name)
                elif outcome.diagnosis is not None:
                    diagnoses.append(outcome.diagnosis)
    return diagnoses


def write_report(diagnoses: list[Diagnosis], args: argparse.Namespace, io: Io) -> None:
    single = len(args.vm) + len(args.ids) + len(args.name) == 1 and not args.vault
    text = render(diagnoses, args.output, single=single)
    if diagnoses or args.output == "json":
        io.out.write(text.rstrip("\n") + "\n")
    settings = Settings.from_env()
    write_annotations(diagnosis_problems(diagnoses), settings.ci, io, output=args.output)
    summary = settings.github_step_summary
    if summary and diagnoses:
        with open(summary, "a", encoding="utf-8") as handle:  # GitHub Actions job summary
            handle.write(render_markdown(diagnoses) + "\n")


def _run(args: argparse.Namespace, io: Io) -> int:
    problems = Problems(io, debug=args.debug)
    diagnoses = diagnose_targets(args, io, problems)
    if not diagnoses and problems and args.output == "json":
        io.out.write(json.dumps(problems.document(), indent=2) + "\n")  # an error object, never null
        return problems.exit_code
    write_report(diagnoses, args, io)
    if problems:
        return problems.exit_code
    return exit_codes.ACTION_NEEDED if any(d.errors for d in diagnoses) else exit_codes.OK


COMMAND = Command(
    name="diagnose",
    help="find what is wrong with VM backups and which documented fix applies (read-only)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
