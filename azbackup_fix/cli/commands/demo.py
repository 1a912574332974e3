"""``azbackup-fix demo``: the whole loop on a built-in broken estate, in an in-process Azure sandbox.

Five protected VMs, four failing backups the ways the troubleshooting guides describe
(restore point limit behind a locked resource group, failed VMSnapshot extension, unresponsive
VM agent, a stuck backup job). For each VM: the diagnosis, the plan (dry-run), the apply, the
verification on fresh state, and a backup one (virtual) day later that must succeed. No Azure
account needed; the sandbox's virtual clock makes every wait instant.

Exit codes: 0 every VM backs up again, 1 otherwise.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ...playbook_file import load_playbook_file
from ...settings import Settings
from ..connection import connect
from ..render.demo import DemoVm, demo_exit_code, render_demo
from .base import Command, Io

__all__ = ["COMMAND", "DEMO_SCENARIO"]

DEMO_SCENARIO = "demo"
ONE_DAY = 24 * 3600.0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-disruptive", action="store_true",
                        help="keep the default guard rails (no VM restart, no job cancellation), as "
                             "`apply` does without --allow-disruptive")


def _header(args: argparse.Namespace, count: int) -> str:
    rails = ("Default guard rails: no VM restart and no job cancellation."
             if args.no_disruptive else
             "The demo allows disruptive fixes (VM restart, cancelling a stuck job); "
             "against Azure they need `apply --allow-disruptive`.")
    return (f"azbackup-fix demo: an in-process Azure sandbox (no Azure account) with {count} protected VMs, "
            f"four of them failing backups. Per VM: diagnosis, plan (dry-run), apply, verification on "
            f"fresh state, and the next day's backup. {rails}")


def _run(args: argparse.Namespace, io: Io) -> int:
    from ...remediator import Remediator  # the SDKs: not for --help (see connection.py)

    demo = argparse.Namespace(**vars(args))
    demo.sandbox, demo.arm_endpoint, demo.subscription = DEMO_SCENARIO, None, None
    disruptive = not args.no_disruptive
    playbook_file = load_playbook_file(None)
    vms: list[DemoVm] = []
    with tempfile.TemporaryDirectory(prefix="azbackup-fix-demo-") as tmp, \
            connect(demo, Settings.from_env()) as connection:
        journal = str(Path(tmp) / "journal.sqlite")  # the demo never touches the user's journal
        for subscription in connection.all_subscriptions():
            with Remediator(connection.credential, subscription, journal_path=journal,
                            playbook_file=playbook_file, **connection.client_kwargs) as fix:
                steps = []
                for ref in fix.list_protected_vms():
                    before = fix.diagnose(ref)
                    # The one rail a user gives with `apply --allow-disruptive`, and nothing else.
                    plan = fix.plan(ref, allow_disruptive=disruptive)
                    applied = fix.run(ref, apply=True, allow_disruptive=disruptive)
                    steps.append((ref, before, plan, applied, fix.diagnose(ref)))
                # A day later (virtual time), one more on-demand backup per VM; waiting for its job
                # advances the sandbox's clock until the job has run to completion.
                connection.sandbox.advance(ONE_DAY)
                for ref, before, plan, applied, after in steps:
                    following = fix.run(ref, apply=True, playbooks=["trigger-backup"],
                                        options={"trigger-backup": {"force": True}})
                    vms.append(DemoVm(ref.name, before, plan, applied, after, following))
    extra = {"scenario": DEMO_SCENARIO, "allow_disruptive": disruptive}
    io.out.write(render_demo(vms, args.output, header=_header(args, len(vms)), extra=extra).rstrip("\n") + "\n")
    return demo_exit_code(vms)


COMMAND = Command(
    name="demo",
    help="diagnose, plan, apply and verify on a built-in broken sandbox estate (no Azure needed)",
    description=__doc__ or "",
    add_arguments=_arguments,
    run=_run,
)
