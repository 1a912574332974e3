"""Diagnose, plan and (optionally) repair the VM backups of one subscription from Python.

    python examples/python_script.py SUBSCRIPTION_ID [--apply]
    python examples/python_script.py --sandbox            # rehearse against the built-in sandbox

Credentials: azure-identity's DefaultAzureCredential (az login, environment, managed identity).
"""

from __future__ import annotations

import argparse
import tempfile

from azbackup_fix import Remediator


def repair(fix: Remediator, *, apply: bool) -> int:
    worst = 0
    for vm in fix.list_protected_vms():
        diagnosis = fix.diagnose(vm)
        print(f"{vm.name}: {', '.join(f.code for f in diagnosis.errors) or 'healthy'}")
        report = fix.run(vm, apply=apply)  # dry-run unless apply=True
        for step in report.steps:
            print(f"  {step.status.value:9} {step.description}")
        worst = max(worst, report.exit_code)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("subscription", nargs="?")
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--sandbox", action="store_true")
    args = parser.parse_args()
    if args.sandbox:
        from azbackup_fix import SandboxCredential
        from azbackup_sandbox import Sandbox

        sandbox = Sandbox(scenario="demo")
        with tempfile.TemporaryDirectory() as tmp, Remediator(
            SandboxCredential(), sandbox.subscription_ids[0], transport=sandbox.transport(),
            polling_interval=0, journal_path=f"{tmp}/journal.sqlite",
        ) as fix:
            return repair(fix, apply=True)
    from azure.identity import DefaultAzureCredential

    with Remediator(DefaultAzureCredential(), args.subscription) as fix:
        return repair(fix, apply=args.apply)


if __name__ == "__main__":
    raise SystemExit(main())
