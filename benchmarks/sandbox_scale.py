"""How big and how fast the sandbox itself is, so fleet benchmarks measure the library, not the emulator.

    python benchmarks/sandbox_scale.py --vms 1000 --vms 10000

Prints, per fleet size: load time, peak RSS of this process, jobs seeded, and the sandbox's own time per
request (`Sandbox.handle` on a VM GET with instance view, no SDK) next to an in-process SDK GET.
"""

from __future__ import annotations

import argparse
import resource
import time

from azure.mgmt.compute import ComputeManagementClient

from azbackup_fix import SandboxCredential
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.http import SandboxRequest

SAMPLE = 300


def measure(vms: int) -> dict[str, float]:
    started = time.perf_counter()
    sandbox = Sandbox()
    sandbox.load("fleet", vms=vms, subscriptions=max(1, vms // 1000), vaults=2)
    load_s = time.perf_counter() - started
    sub = sandbox.subscription_ids[0]
    compute = ComputeManagementClient(SandboxCredential(), sub, transport=sandbox.transport(), polling_interval=0)
    sample = list(compute.virtual_machines.list_all())[:SAMPLE]
    started = time.perf_counter()
    for vm in sample:
        compute.virtual_machines.get(vm.id.split("/")[4], vm.name, expand="instanceView")
    sdk_ms = (time.perf_counter() - started) / len(sample) * 1000
    requests = [SandboxRequest("GET", f"https://management.azure.com{vm.id}?api-version=2026-04-01"
                               "&$expand=instanceView", {"Authorization": "Bearer benchmark"}) for vm in sample]
    started = time.perf_counter()
    for request in requests:
        sandbox.handle(request)
    handle_ms = (time.perf_counter() - started) / len(requests) * 1000
    return {"vms": vms, "load_s": load_s, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "jobs": len(sandbox.backup.jobs), "handle_ms": handle_ms, "sdk_get_ms": sdk_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, action="append", help="fleet size (repeatable; default 1000, 10000)")
    sizes = parser.parse_args().vms or [1000, 10000]
    print(f"{'VMs':>7} {'load s':>7} {'peak RSS MB':>12} {'jobs':>7} {'handle ms/req':>14} {'SDK GET ms':>11}")
    for size in sizes:
        row = measure(size)
        print(f"{row['vms']:>7} {row['load_s']:>7.2f} {row['rss_mb']:>12.0f} {row['jobs']:>7} "
              f"{row['handle_ms']:>14.3f} {row['sdk_get_ms']:>11.2f}")
    print("(peak RSS is of this process, cumulative over the sizes run; realistic ARM latency is 50-150 ms)")


if __name__ == "__main__":
    main()
