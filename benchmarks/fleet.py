"""Fleet benchmark: diagnose-all and fix-all of generated fleets against the sandbox's HTTPS server with
realistic latency and ARM throttling, compared with a plain sequential SDK loop and the throttle-bound
minimum. Prints a table; a benchmark, not a test.

    python benchmarks/fleet.py --vms 1000 --vms 10000            # diagnose-all (+ sequential sample)
    python benchmarks/fleet.py --vms 1000 --fix                  # also fix-all
    python benchmarks/fleet.py --vms 10000 --fan-out 4           # also the scan as 4 Automation child jobs
    python benchmarks/fleet.py --vms 1000 --guest-share 0.02 --probe-guest   # also the scan with guest probes
    python benchmarks/fleet.py --vms 1000 --fix --operations 20  # also where each phase's requests go

Setup per fleet size N: ceil(N / 1000) subscriptions (ARM buckets are per subscription), 2 vaults each,
the generator's default failure mix (86 % healthy) plus a 3 % share of VMs whose NIC NSG denies outbound
Internet (``network-nsg-deny``: ExtensionSnapshotFailedNoNetwork; only those pay for network reads, the
effective rules and routes being long-running POSTs: three requests each), latency 50-150 ms per request, throttling on
(reads 250 refilling 25/s, writes and deletes 200 refilling 10/s per subscription and principal), the
sandbox clock at real time (clock rate 1) so the buckets refill at ARM's real rates.

The client runs in a child process (its own GIL, and its own peak RSS is the library's memory); the
server counts requests per subscription and bucket, and 429s. The throttle-bound minimum is, over
every (subscription, bucket), max(0, requests - capacity) / refill rate: no client can be faster
without a 429. The sequential baseline is ``Remediator.iter_diagnoses`` over every protected VM, one
subscription after another, no threads, no Resource Graph; it is run on a sample of VMs and
extrapolated to N (the table says so). Fix-all uses ``wait=False`` (triggered backups are not awaited),
allows cancelling stuck jobs (``--allow-disruptive``) and the NSG rule (``--allow-network-changes``), and otherwise the default
playbooks' permissions (no restarts, no protection changes: those VMs stay report-only or refused).

``--guest-share F`` gives a share F of the VMs a cause inside the guest (the generator's ``guest-cause`` kind:
Defender, strong crypto, COM+ or a VSS writer on Windows, an outdated agent on Linux; the agent stays Ready);
``--probe-guest`` then also runs the diagnose-all with ``scan --probe-guest`` (a read-only Run Command for each
candidate whose job error points into the guest, a few at once) and prints what the probes cost over the
scan without them: their requests, Run Command round trips, and wall time per probed VM (a Run Command takes
``run_command_seconds``, 30 s, on the sandbox clock at real time).

``--fan-out N`` also runs the diagnose-all as ``azbackup_fix.fanout`` does in production: a parent submits
N child jobs (shards) of the shipped runbook to the sandbox's Automation account, where each runs as its
own process with the account's managed identity, then merges their reports. Throttling is per
subscription *and principal*: the children share one identity, so they share each subscription's buckets
(the parent gives each child ``--arm-share N``: 1/N of each bucket), and the throttle-bound minimum does
not move; what fan-out buys is N processes' CPU and connection pools instead of one, and N jobs under
Automation's 3-hour and 400 MB limits; each child also repeats the discovery of every subscription.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# -- the child: one measured client run ---------------------------------------------------------

def _client(spec: dict[str, Any]) -> dict[str, Any]:
    from azbackup_fix import Remediator, SandboxCredential
    from azbackup_fix.fleet import Budget
    from azbackup_fix.journal import Journal
    from azbackup_fix.scanner import FleetScanner, ScanOptions

    kwargs = {"base_url": spec["endpoint"], "connection_verify": spec["ca_file"]}
    started = time.monotonic()
    out: dict[str, Any] = {}
    if spec["what"] == "fanout":
        from azbackup_fix.fanout import FanOut, FanOutOptions, child_arguments
        from azbackup_fix.gateway.automation import AutomationAccountRef, AutomationGateway

        account = AutomationAccountRef.parse(spec["account"])
        children = child_arguments(mode="scan", subscriptions=spec["subscriptions"], journal=spec["journal"],
                                   arm_endpoint=spec["endpoint"], workers=spec["workers"])
        with AutomationGateway(SandboxCredential(), account, **kwargs) as gw:
            report = FanOut(gw).run(FanOutOptions(account, spec["fan_out"], children, poll_seconds=1.0,
                                                  split=spec["split"], identities=tuple(spec["identities"])))
        out.update(vms_seen=report.fleet.vms_seen, candidates=report.fleet.candidates,
                   outcomes=report.fleet.by_outcome(), client_429=report.fleet.throttled,
                   children=[c.status for c in report.children], failed_children=len(report.failed))
        out["wall"] = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["client_cpu"] = usage.ru_utime + usage.ru_stime
        return out
    if spec["what"] == "sequential":
        done = 0
        deadline = started + spec["seconds"]
        for sub, vms in spec["vms"].items():
            with Remediator(SandboxCredential(), sub, **kwargs) as fix:
                for outcome in fix.iter_diagnoses(vms):
                    done += 1 if outcome.diagnosis is not None or outcome.error is not None else 0
                    if time.monotonic() > deadline:
                        break
            if time.monotonic() > deadline:
                break
        out["vms"] = done
    else:
        journal = Journal(spec["journal"])
        budget = Budget()
        scanner = FleetScanner(SandboxCredential(), budget=budget, journal=journal, **kwargs)
        fix = spec["what"] == "fix"
        report = scanner.scan(ScanOptions(
            subscriptions=tuple(spec["subscriptions"]), apply=fix, workers=spec["workers"], wait=False, fresh=True,
            fix_workers=spec.get("fix_workers"),
            probe_guest=spec["what"] == "probe",
            # Stuck jobs: cancelled (snapshot phase) rather than waited for an hour.
            allow_disruptive=fix, allow_network_changes=fix,
            options={"resolve-backup-in-progress": {"wait_minutes": 2}}))
        out.update(vms_seen=report.vms_seen, candidates=report.candidates, outcomes=report.by_outcome(),
                   client_429=report.throttled, budget_wait=round(budget.waited, 1))
        # VMs whose diagnosis names a guest cause (or the probe's own problem) from the guest's facts.
        from azbackup_fix.playbooks import get_playbook

        guest = {*get_playbook("fix-guest").error_codes, "GuestProbeFailed", "GuestChannelUnavailable",
                 "WireServerUnreachable"} - {"GuestAgentSnapshotTaskStatusError"}
        out["guest_named"] = sum(1 for r in report.vms if guest & set(r.findings))
        journal.close()
    out["wall"] = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mb"] = usage.ru_maxrss / 1024
    out["client_cpu"] = usage.ru_utime + usage.ru_stime
    return out


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the parent: fleets, server, measurements ---------------------------------------------------

def _minimum(records: list[Any]) -> float:
    """The throttle-bound minimum for the requests the server logged, by ARM's buckets (per subscription
    and principal)."""
    from azbackup_fix.fleet import Budget

    counts: Counter[tuple[str, str]] = Counter()
    for r in records:  # a 429 spent no token
        if r.status != 429 and r.path.lower().startswith("/subscriptions/") and r.path.count("/") >= 2:
            counts[(f"{r.path.split('/')[2].lower()}|{r.principal}", r.kind)] += 1
    return Budget().minimum_seconds(counts)


def _discovery_seconds(records: list[Any]) -> float | None:
    """Server-clock seconds from the first request to the last Resource Graph page (discovery's span)."""
    from datetime import datetime

    def when(r: Any) -> float:
        return datetime.fromisoformat(r.time.replace("Z", "+00:00")).timestamp()

    graph = [r for r in records if r.operation == "ResourceGraph_Resources"]
    return when(graph[-1]) - when(records[0]) if graph else None


def _measure(sb: Any, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    sb.clear_requests()
    throttled = sb.throttle.throttled
    sb.throttle.reset()  # full buckets: each phase starts as a fresh run would
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = _run_child(spec, timeout)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["server_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["load"] = os.getloadavg()[0]  # the machine may be shared: the 1-minute load when the run ended
    records = sb.requests()
    result["requests"] = len(records)
    result["graph_requests"] = sum(1 for r in records if r.operation == "ResourceGraph_Resources")
    network = [r.path.lower() for r in records if "/providers/microsoft.network/" in r.path.lower()]
    result["network_requests"] = len(network)
    # The VMs that paid for network reads: one NIC each (the agent codes point at the path too).
    result["network_read_vms"] = len({p.split("/networkinterfaces/")[1].split("/")[0] for p in network
                                      if "/networkinterfaces/" in p})
    # The guest probes' share: Run Command requests (managed: PUT, GETs of its instance view, DELETE; action:
    # POST and its operation polls), runs started (round trips), and the VMs they reached.
    run_command = [r for r in records if "RunCommand" in r.operation
                   or (r.operation == "ComputeOperations_Get" and "/providers/microsoft.compute/" in r.path.lower())]
    result["run_command_requests"] = len(run_command)
    result["run_command_runs"] = sum(1 for r in run_command if r.operation in (
        "VirtualMachineRunCommands_CreateOrUpdate", "VirtualMachines_RunCommand"))
    result["probed_vms"] = len({r.path.lower().split("/virtualmachines/")[1].split("/")[0] for r in run_command
                                if "/virtualmachines/" in r.path.lower()})
    result["server_429"] = sb.throttle.throttled
    result["minimum"] = _minimum(records)
    result["operations"] = Counter(r.operation for r in records).most_common()
    result["discovery"] = _discovery_seconds(records)
    sb.throttle.throttled = throttled
    return result


def _automation_account(sb: Any, server: Any) -> str:
    """An Automation account in the first subscription with the shipped runbook published (SDK calls)."""
    from azure.mgmt.automation import AutomationClient

    from azbackup_fix import SandboxCredential

    sub = sb.subscription_ids[0]
    sb.resources.add_group(sub, "rg-automation", "westeurope")
    client = AutomationClient(SandboxCredential(), sub, base_url=server.endpoint, connection_verify=server.ca_file)
    client.automation_account.create_or_update("rg-automation", "aa-bench", {"location": "westeurope"})
    client.runbook.create_or_update("rg-automation", "aa-bench", "azbackup-fix", {
        "location": "westeurope", "properties": {"runbookType": "Python3"}})
    script = (Path(__file__).resolve().parents[1] / "examples/automation/azbackup_fix_runbook.py").read_bytes()
    client.runbook_draft.begin_replace_content("rg-automation", "aa-bench", "azbackup-fix", script,
                                               polling_interval=0).result()
    client.runbook.begin_publish("rg-automation", "aa-bench", "azbackup-fix", polling_interval=0).result()
    client.close()
    return (f"/subscriptions/{sub}/resourceGroups/rg-automation/providers/Microsoft.Automation/"
            "automationAccounts/aa-bench")


def bench(n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from azbackup_sandbox import Sandbox
    from azbackup_sandbox.core.config import SandboxConfig
    from azbackup_sandbox.server import SandboxServer

    subs = args.subscriptions or max(1, math.ceil(n / 1000))
    config = SandboxConfig(throttling=True, latency_ms=(args.latency[0], args.latency[1]), backup_snapshot_seconds=3,
                           backup_transfer_seconds=5, backup_fail_seconds=3, extension_delete_seconds=3,
                           rpc_delete_seconds=2)
    t0 = time.monotonic()
    sb = Sandbox(config=config, log_limit=2_000_000)
    sb.load("fleet", vms=n, subscriptions=subs, vaults=args.vaults, mix=args.mix)
    kinds = Counter(vm.tags.get("kind") for vm in sb.compute.vms.values())
    causes = Counter(vm.tags.get("guest-cause") for vm in sb.compute.vms.values() if vm.tags.get("guest-cause"))
    print(f"# fleet {n} VMs, {subs} subscriptions x {args.vaults} vaults, generated in {time.monotonic() - t0:.1f} s; "
          f"healthy {kinds.get('healthy', 0)}, network {kinds.get('network-nsg-deny', 0)}, "
          f"guest {kinds.get('guest-cause', 0)} {dict(causes)}; load average {os.getloadavg()[0]:.2f}",
          file=sys.stderr)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="azbf-bench-"))
    with SandboxServer(sb, clock_rate=1.0) as server:
        base = {"endpoint": server.endpoint, "ca_file": str(server.ca_file), "subscriptions": sb.subscription_ids,
                "workers": args.workers, "fix_workers": args.fix_workers, "journal": str(tmp / "journal.sqlite")}
        diag = _measure(sb, {**base, "what": "diagnose"}, args.timeout)
        healthy = max(1, diag["vms_seen"] - diag["candidates"])
        network_vms = kinds.get("network-nsg-deny", 0)
        diag["network_vms"] = network_vms
        rows.append({"n": n, "phase": "diagnose-all", **diag,
                     "per_vm": diag["requests"] / n, "per_healthy_vm": diag["graph_requests"] / healthy})
        if not args.no_sequential:
            # Sequential baseline on a sample, spread over the subscriptions.
            items = sorted((i.vm_id for i in sb.backup.items.values()), key=str.lower)
            by_sub: dict[str, list[str]] = {}
            for vm_id in items:
                by_sub.setdefault(vm_id.split("/")[2], []).append(vm_id)
            sample = min(n, args.sequential_sample)
            share = max(1, sample // len(by_sub))
            spec = {**base, "what": "sequential", "seconds": args.sequential_seconds,
                    "vms": {s: vms[:share] for s, vms in by_sub.items()}}
            seq = _measure(sb, spec, args.timeout)
            per_vm_s = seq["wall"] / max(1, seq["vms"])
            rows.append({"n": n, "phase": "sequential SDK loop", "wall": per_vm_s * n, "sampled": seq["vms"],
                         "requests": seq["requests"] / max(1, seq["vms"]) * n, "per_vm": seq["requests"] / max(1, seq["vms"]),
                         "server_429": seq["server_429"], "peak_rss_mb": seq["peak_rss_mb"], "minimum": None})
        if args.probe_guest:
            probed = _measure(sb, {**base, "what": "probe"}, args.timeout)
            probed["guest_vms"], probed["network_vms"] = kinds.get("guest-cause", 0), network_vms
            probed["no_probe"] = diag
            rows.append({"n": n, "phase": "diagnose-all --probe-guest", **probed, "per_vm": probed["requests"] / n})
        if args.fan_out:
            account = _automation_account(sb, server)
            variants = [("shard", 0)]
            if len(sb.subscription_ids) >= args.fan_out:
                variants.append(("subscription", 0))
            if args.fan_out_identities:
                variants.append(("shard", args.fan_out_identities))
            for split, identities in variants:
                spec = {**base, "what": "fanout", "fan_out": args.fan_out, "account": account, "split": split,
                        "identities": [f"bench-child-{i}" for i in range(1, identities + 1)],
                        "journal": str(tmp / f"fanout-{split}-{identities}.sqlite")}
                fan = _measure(sb, spec, args.timeout)
                label = f"{identities} identities" if identities else "one identity"
                rows.append({"n": n, "phase": f"diagnose-all, fan-out {args.fan_out} by {split}, {label}", **fan,
                             "per_vm": fan["requests"] / n, "one_job": diag["wall"]})
        if args.fix:
            fix = _measure(sb, {**base, "what": "fix"}, args.timeout)
            fix["network_vms"] = network_vms
            rows.append({"n": n, "phase": "fix-all", **fix, "per_vm": fix["requests"] / n})
            again = _measure(sb, {**base, "what": "diagnose"}, args.timeout)
            rows.append({"n": n, "phase": "diagnose after fix", **again, "per_vm": again["requests"] / n})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("VMs", "phase", "wall s", "throttle-min s", "x min", "requests", "req/VM", "req/healthy VM",
            "429s", "peak MB", "notes")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    seq = {r["n"]: r["wall"] for r in rows if r["phase"] == "sequential SDK loop"}
    for r in rows:
        minimum = r.get("minimum")
        ratio = f"{r['wall'] / minimum:.2f}" if minimum else "n/a"
        notes = []
        if r["phase"] == "sequential SDK loop":
            notes.append(f"extrapolated from {r['sampled']} VMs")
        elif "one_job" in r:
            notes.append(f"{r['one_job'] / r['wall']:.2f}x the one-job speed; children {r['children']}")
        elif r["n"] in seq:
            notes.append(f"{seq[r['n']] / r['wall']:.0f}x faster than sequential")
        if "candidates" in r:
            notes.append(f"{r['candidates']} candidates; {r.get('outcomes')}")
        if r.get("network_read_vms"):
            notes.append(f"network reads {r['network_requests']} req for {r['network_read_vms']} VMs "
                         f"({r['network_requests'] / r['network_read_vms']:.1f}/VM; {r.get('network_vms', '?')} "
                         "with an NSG that denies)")
        if "no_probe" in r:
            base, vms = r["no_probe"], max(1, r["probed_vms"])
            extra_wall, extra_req = r["wall"] - base["wall"], r["requests"] - base["requests"]
            notes.append(f"probes: {r['probed_vms']} VMs probed ({r['guest_vms']} with a guest cause; the cause named "
                         f"for {r['guest_named']}, {base['guest_named']} without probes); "
                         f"{r['run_command_requests']} Run Command requests ({r['run_command_requests'] / vms:.1f}/VM), "
                         f"{r['run_command_runs']} round trips; extra over the scan without probes: {extra_req} "
                         f"requests, {extra_wall:.1f} s wall ({extra_wall / vms:.1f} s per probed VM, "
                         f"{base['wall']:.1f} s -> {r['wall']:.1f} s)")
        if r.get("load") is not None:
            notes.append(f"load {r['load']:.2f}")
        if r.get("discovery") is not None:
            notes.append(f"discovery {r['discovery']:.1f} s")
        if "server_cpu" in r and "client_cpu" in r:
            notes.append(f"CPU s client {r['client_cpu']:.0f} / sandbox server {r['server_cpu']:.0f}")
        if r.get("server_cpu") is not None and r.get("requests"):
            # The emulator's own cost, to keep it small beside the client's (issue 17: fix-all at 10,000 VMs).
            notes.append(f"sandbox server {r['server_cpu'] / r['requests'] * 1000:.2f} CPU s per 1,000 requests")
        if minimum == 0.0:
            notes.append("within burst capacity")
        lines.append(" | ".join([
            str(r["n"]), r["phase"], f"{r['wall']:.1f}", f"{minimum:.1f}" if minimum is not None else "-", ratio,
            f"{r['requests']:.0f}", f"{r['per_vm']:.2f}",
            f"{r['per_healthy_vm']:.4f}" if "per_healthy_vm" in r else "-", str(r.get("server_429", 0)),
            f"{r['peak_rss_mb']:.0f}", "; ".join(notes)]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--vms", type=int, action="append", help="fleet size (repeatable; default 1000)")
    parser.add_argument("--subscriptions", type=int, default=0, help="default: one per 1,000 VMs")
    parser.add_argument("--vaults", type=int, default=2, help="vaults per subscription")
    parser.add_argument("--mix", default=None, help="failure mix kind=weight,... (default: the generator's, "
                                                     "plus network-nsg-deny=0.03)")
    parser.add_argument("--workers", type=int, default=None, help="default: the scanner's (8 per subscription)")
    parser.add_argument("--fix-workers", type=int, default=None,
                        help="fix-all's workers; default: the scanner's (32 per subscription)")
    parser.add_argument("--latency", type=lambda t: tuple(float(x) for x in t.split(",")), default=(50.0, 150.0),
                        help="per-request latency range in ms (default 50,150)")
    parser.add_argument("--sequential-sample", type=int, default=150, help="VMs of the sequential baseline")
    parser.add_argument("--sequential-seconds", type=float, default=90.0, help="time cap of the baseline")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential baseline")
    parser.add_argument("--fix", action="store_true", help="also measure fix-all and a diagnose pass after it")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measured client run")
    parser.add_argument("--guest-share", type=float, default=0.0, metavar="F",
                        help="share of VMs with a cause inside the guest (the generator's guest-cause kind)")
    parser.add_argument("--probe-guest", action="store_true",
                        help="also diagnose-all with guest probes (scan --probe-guest) and print their cost")
    parser.add_argument("--fan-out", type=int, default=0, metavar="N",
                        help="also diagnose-all as N Automation child jobs (the sandbox runs them as processes)")
    parser.add_argument("--operations", type=int, default=0, metavar="K",
                        help="also print each phase's K most frequent ARM operations (where the requests go)")
    parser.add_argument("--fan-out-identities", type=int, default=0, metavar="M",
                        help="with --fan-out: also a run whose children use M identities in turn (own buckets)")
    args = parser.parse_args(argv)
    if args.mix is None and not args.child:
        from azbackup_sandbox.scenarios.fleet import DEFAULT_MIX

        args.mix = ",".join(f"{k}={v}" for k, v in {**DEFAULT_MIX, "network-nsg-deny": 0.03}.items())
    if args.guest_share and not args.child:
        args.mix += f",guest-cause={args.guest_share}"
    if args.child:
        print(json.dumps(_client(json.loads(args.child))))
        return 0
    rows: list[dict[str, Any]] = []
    for n in args.vms or [1000]:
        rows.extend(bench(n, args))
        print(_table(rows), file=sys.stderr)
    print(_table(rows))
    for r in rows if args.operations else ():
        if r.get("operations"):
            top = ", ".join(f"{op} {k}" for op, k in r["operations"][:args.operations])
            print(f"{r['n']} VMs, {r['phase']}: {top}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CI", "true")  # no progress lines from the children
    sys.exit(main())
