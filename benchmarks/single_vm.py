"""One VM at 3 a.m.: its diagnosis and its fix against the HTTPS sandbox at 50, 100 and 200 ms of latency per
request, three ways in one run:

* ``azbackup-fix`` (the CLI, as a process: start-up, token, reads in waves);
* the same reads as a plain sequential SDK script (a process too: imports, token, one read after another);
* the troubleshooting guides' recipe as Azure CLI commands (`az vm get-instance-view`, `az lock list`,
  `az resource list`, `az backup item show`, `az backup job list`, ...; each a process, logged in once with
  the sandbox's managed identity; the pinned CLI from tests/e2e/azure-cli-requirements.txt, installed
  into .cache/ on first use).

The fix: `azbackup-fix apply --yes` against the guide's recipe by hand (remove the lock, delete the
collection, put the lock back, back up now), on a fresh `rp-limit-locked` estate each time.

Printed per latency: wall seconds, ARM requests and sequential round trips (from the sandbox's request log:
requests in flight together share one), and each way's ratio to the CLI. Figures, not pass/fail.

    python benchmarks/single_vm.py [--latency 50 100 200] [--no-az] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SCENARIO = "rp-limit-locked"
APP_RG, BACKUP_RG, VM, LOCK = "rg-app-prod", "AzureBackupRG_eastus_1", "vm-app-01", "rg-no-delete"
VAULT = ("-g", "rg-backup-prod", "-v", "rsv-prod-eastus")
IAAS = ("--backup-management-type", "AzureIaasVM", "--workload-type", "VM")

# The same reads as the CLI's diagnosis, one after another, with the SDK clients a script would use.
_SDK_SCRIPT = r'''
import sys
from azure.identity import ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
from azure.mgmt.recoveryservicesbackup.models import BackupStatusRequest
from azure.mgmt.resource.locks import ManagementLockClient
from azure.mgmt.resource.resources import ResourceManagementClient

endpoint, sub, rg, name = sys.argv[1:5]
cred = ManagedIdentityCredential()
kw = {"base_url": endpoint, "credential_scopes": ["https://management.azure.com/.default"]}
compute = ComputeManagementClient(cred, sub, **kw)
backup = RecoveryServicesBackupClient(cred, sub, **kw)
locks = ManagementLockClient(cred, sub, **kw)
resources = ResourceManagementClient(cred, sub, **kw)
vm = compute.virtual_machines.get(rg, name, expand="instanceView")
vaults = list(resources.resources.list(filter="resourceType eq 'Microsoft.RecoveryServices/vaults'"))
status = backup.backup_status.get(vm.location, BackupStatusRequest(resource_type="VM", resource_id=vm.id))
vault_id = status.vault_id
vault_rg, vault = vault_id.split("/")[4], vault_id.split("/")[-1]
item = backup.protected_items.get(vault, vault_rg, "Azure", status.container_name, status.protected_item_name)
policy = backup.protection_policies.get(vault, vault_rg, item.properties.policy_id.rsplit("/", 1)[-1])
groups = [g.name for g in resources.resource_groups.list()]
found = list(locks.management_locks.list_at_subscription_level())
found += list(locks.management_locks.list_at_resource_group_level(rg))
backup_groups = [g for g in groups if g.lower().startswith("azurebackuprg_" + vm.location.lower())]
for g in backup_groups:
    found += list(locks.management_locks.list_at_resource_group_level(g))
collections = [c for c in compute.restore_point_collections.list_all()
               if c.source and c.source.id and c.source.id.lower() == vm.id.lower()]
for c in collections:
    compute.restore_point_collections.get(c.id.split("/")[4], c.name, expand="restorePoints")
jobs = list(backup.backup_jobs.list(vault, vault_rg, filter="backupManagementType eq 'AzureIaasVM' and operation eq 'Backup'"))
print(len(found), len(collections), len(jobs))
'''


def _env(ready: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZBACKUP_", "AZURE_", "IDENTITY_"))}
    env.update(IDENTITY_ENDPOINT=ready["identity_endpoint"], IDENTITY_HEADER=ready["identity_header"],
               REQUESTS_CA_BUNDLE=ready["ca_file"], PYTHONPATH=str(REPO))
    return env


def _timed(sb: Any, run: Any) -> dict[str, Any]:
    """Wall time, ARM requests and round trips of ``run()`` (one or more processes) on a fresh estate."""
    from azbackup_sandbox.core.sandbox import round_trips

    sb.clear_requests()
    started = time.monotonic()
    run()
    wall = time.monotonic() - started
    records = [r for r in sb.requests() if r.path.lower().startswith("/subscriptions")]
    return {"wall": wall, "requests": len(records), "round_trips": round_trips(records)}


def _check(done: subprocess.CompletedProcess[str], what: str, ok: tuple[int, ...] = (0,)) -> None:
    if done.returncode not in ok:
        raise RuntimeError(f"{what} exited {done.returncode}: {done.stderr[-1500:]}")


class _Az:
    def __init__(self, ready: dict[str, Any], config: Path) -> None:
        from tests.e2e.azure_cli import az_environment, ensure_az

        self.binary = ensure_az()
        self.env = az_environment(ready, config)
        self("cloud", "register", "--name", "Sandbox", "--endpoint-resource-manager", ready["endpoint"])
        self("cloud", "set", "--name", "Sandbox")
        self("login", "--identity")

    def __call__(self, *args: str) -> str:
        done = subprocess.run([str(self.binary), *args, "--only-show-errors", "--output", "json"], env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        _check(done, "az " + " ".join(args))
        return done.stdout

    def diagnose(self) -> None:
        """The guides' reads for a failed VM backup, command by command."""
        self("vm", "get-instance-view", "-g", APP_RG, "-n", VM)
        self("lock", "list")
        collections = json.loads(self("resource", "list", "--resource-type",
                                      "Microsoft.Compute/restorePointCollections"))
        mine = [c["name"] for c in collections if VM in c["name"]]
        for name in mine:
            self("restore-point", "collection", "show", "-g", BACKUP_RG, "--collection-name", name,
                 "--restore-points")
        self("backup", "item", "show", *VAULT, "-c", VM, "-n", VM, *IAAS)
        jobs = json.loads(self("backup", "job", "list", *VAULT))
        failed = [j["name"] for j in jobs if j["properties"]["entityFriendlyName"] == VM
                  and j["properties"]["status"] == "Failed"]
        if failed:
            self("backup", "job", "show", *VAULT, "-n", failed[0])

    def fix(self) -> None:
        """The guide's fix for UserErrorRpCollectionLimitReached with a locked group, by hand."""
        collections = json.loads(self("restore-point", "collection", "list", "-g", BACKUP_RG))
        self("lock", "delete", "-g", BACKUP_RG, "-n", LOCK)
        for c in collections:
            if c["source"]["id"].lower().endswith("/" + VM):
                self("restore-point", "collection", "delete", "-g", BACKUP_RG, "--collection-name", c["name"], "--yes")
        self("backup", "protection", "backup-now", *VAULT, "-c", VM, "-i", VM, *IAAS, "--retain-until", "01-01-2030")
        self("lock", "create", "-g", BACKUP_RG, "-n", LOCK, "--lock-type", "CanNotDelete")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, nargs="+", default=[50, 100, 200], metavar="MS")
    parser.add_argument("--no-az", action="store_true", help="skip the Azure CLI recipe")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    from azbackup_sandbox import Sandbox
    from azbackup_sandbox.core.control import identity_secret, subscription_ids
    from azbackup_sandbox.server import SandboxServer

    cli = Path(sys.executable).with_name("azbackup-fix")
    rows: list[dict[str, Any]] = []
    with SandboxServer(Sandbox(scenario=SCENARIO), clock_rate=300.0) as server, \
            tempfile.TemporaryDirectory(prefix="azbf-single-") as tmp:
        sb = server.sandbox
        ready = {"endpoint": server.endpoint, "ca_file": str(server.ca_file),
                 "identity_endpoint": server.identity_endpoint, "identity_header": identity_secret(sb)}
        sub = subscription_ids(sb)[0]
        vm_id = f"/subscriptions/{sub}/resourceGroups/{APP_RG}/providers/Microsoft.Compute/virtualMachines/{VM}"
        env = _env(ready)
        az = None if args.no_az else _Az(ready, Path(tmp) / "az")

        def azbf(*command: str, ok: tuple[int, ...] = (0, 4)) -> None:
            done = subprocess.run([str(cli), *command, "--vm", vm_id, "--arm-endpoint", server.endpoint,
                                   "--journal", str(Path(tmp) / "journal.sqlite"), "--output", "json"],
                                  env=env, capture_output=True, text=True, timeout=600, check=False)
            _check(done, "azbackup-fix " + command[0], ok)

        def sdk() -> None:
            done = subprocess.run([sys.executable, "-c", _SDK_SCRIPT, server.endpoint, sub, APP_RG, VM], env=env,
                                  capture_output=True, text=True, timeout=600, check=False)
            _check(done, "the SDK script")

        for latency in args.latency:
            ways: list[tuple[str, str, Any]] = [
                ("diagnose", "azbackup-fix diagnose", lambda: azbf("diagnose")),
                ("diagnose", "sequential SDK script", sdk),
                ("fix", "azbackup-fix apply --yes", lambda: azbf("apply", "--yes", "--no-wait", ok=(0,))),
            ]
            if az is not None:
                ways.insert(2, ("diagnose", "az recipe", az.diagnose))
                ways.append(("fix", "az recipe", az.fix))
            for task, way, run in ways:
                sb.load(SCENARIO)
                sb.config.update({"latency_ms": (latency, latency)})
                try:
                    figures = _timed(sb, run)
                finally:
                    sb.config.update({"latency_ms": (0, 0)})
                rows.append({"latency_ms": latency, "task": task, "way": way, **figures})
                print(f"  {latency:>4} ms  {task:<8} {way:<26} {figures['wall']:6.2f} s  "
                      f"{figures['requests']:3d} requests  {figures['round_trips']:3d} round trips", flush=True)

    print()
    print("| latency | task | way | wall s | ARM requests | round trips | wall / azbackup-fix |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        base = next(r for r in rows if r["latency_ms"] == row["latency_ms"] and r["task"] == row["task"]
                    and r["way"].startswith("azbackup-fix"))
        print(f"| {row['latency_ms']} ms | {row['task']} | {row['way']} | {row['wall']:.2f} | {row['requests']} | "
              f"{row['round_trips']} | {row['wall'] / base['wall']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
