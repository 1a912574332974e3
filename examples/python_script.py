"""Diagnose, plan and (optionally) repair the VM backups of one subscription from Python.

    python examples/python_script.py SUBSCRIPTION_ID [--apply] [--arm-endpoint URL]
    python examples/python_script.py --sandbox    # rehearse: repair the built-in demo estate, in memory

Credentials: azure-identity's DefaultAzureCredential (az login, environment, managed identity).
``--arm-endpoint`` points at another ARM endpoint (a sovereign cloud's, or the HTTPS sandbox's:
``azbackup-sandbox serve`` prints it; trust its CA with REQUESTS_CA_BUNDLE).
``--sandbox`` needs no Azure and no network: it loads the sandbox's ``demo`` scenario in this process
and applies the fixes to it (the writes go to that in-memory estate only).
Without arguments it prints one usage line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from azbackup_fix import Remediator

USAGE = "usage: python examples/python_script.py SUBSCRIPTION_ID [--apply] [--arm-endpoint URL] | --sandbox"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(usage=USAGE[len("usage: "):])
    parser.add_argument("subscription", nargs="?", help="the subscription whose protected VMs to repair")
    parser.add_argument("--apply", action="store_true", help="apply the fixes (default: dry-run)")
    parser.add_argument("--arm-endpoint", metavar="URL", help="ARM endpoint (default: Azure's public cloud)")
    parser.add_argument("--sandbox", action="store_true",
                        help="repair the built-in demo estate in memory (no Azure, no network)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.sandbox and not args.subscription:
        print(USAGE, file=sys.stderr)
        return 2
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

    with Remediator(DefaultAzureCredential(), args.subscription, base_url=args.arm_endpoint) as fix:
        return repair(fix, apply=args.apply)


if __name__ == "__main__":
    raise SystemExit(main())
