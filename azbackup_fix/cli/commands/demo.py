"""``azbackup-fix demo``: diagnose the five VMs of the built-in ``demo`` sandbox estate.

No Azure account needed. Exits 0 when the demo ran (its VMs are broken on purpose).
"""

from __future__ import annotations

import argparse

from .. import exit_codes
from ..problems import Problems
from .base import Command, Io
from .diagnose import diagnose_targets, write_report

__all__ = ["COMMAND"]

DEMO_SCENARIO = "demo"


def _arguments(parser: argparse.ArgumentParser) -> None:
    return None


def _run(args: argparse.Namespace, io: Io) -> int:
    demo = argparse.Namespace(**vars(args))
    demo.sandbox = DEMO_SCENARIO
    demo.arm_endpoint = None
    demo.vm = []
    problems = Problems(io, debug=args.debug)
    if args.output == "text":
        io.out.write("azbackup-fix demo: an in-process Azure sandbox with five protected VMs, four of them\n"
                     "failing backups the ways the troubleshooting guides describe. Diagnosis follows.\n\n")
    diagnoses = diagnose_targets(demo, io, problems)
    write_report(diagnoses, demo, io)
    return problems.exit_code if problems else exit_codes.OK


COMMAND = Command(
    name="demo",
    help="diagnose a built-in sandbox estate with typical backup failures (no Azure needed)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
