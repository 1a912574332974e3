"""Issue 13 through the installed CLI over the HTTPS sandbox (managed identity, REQUESTS_CA_BUNDLE, a
journal of its own): diagnose names the NIC NSG's denying rule; apply without the rail writes nothing and
exits 3 naming it; with --allow-network-changes the one rule goes in, the backup succeeds, a second apply
changes nothing; remove-network-rules lists the rule, and with --yes takes it out again (nothing else in
the NSG changes). Without azure-mgmt-network the diagnosis says what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_sandbox import Sandbox, SandboxServer
from tests.sandbox_cli import run_cli, server_environment

pytestmark = pytest.mark.e2e

FAST = 1000.0  # virtual seconds per real second: the 20-minute backup job takes ~1 s; the failed job stays recent
RULE = "azbackup-fix-allow-storage-443-vm-app-01-nic"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(scenario="network-nic-nsg-deny-internet")


@pytest.fixture
def server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox, clock_rate=FAST) as running:
        yield running


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = run_cli(env, *args, "--output", "json", timeout=240)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def _rules(sandbox: Sandbox) -> list[dict[str, Any]]:
    nsg = next(n for n in sandbox.snapshot()["resources"]["network"]["networkSecurityGroups"]
               if n["name"] == "vm-app-01-nsg")
    return nsg["properties"]["securityRules"]


def _vm(sandbox: Sandbox) -> str:
    return next(v.id for v in sandbox.compute.vms.values() if v.name == "vm-app-01")


def test_network_fix_and_its_removal_through_the_cli(sandbox: Sandbox, server: SandboxServer, tmp_path: Path) -> None:
    env = server_environment(server, tmp_path / "journal.sqlite")
    vm = _vm(sandbox)
    before = _rules(sandbox)

    code, found, err = _cli(env, "diagnose", "--vm", vm)
    assert code == 4, err
    (denied,) = [f for f in found["findings"] if f["code"] == "StorageOutboundDenied"]
    assert denied["evidence_fields"]["denying_rule"] == "DenyInternetOutbound"
    assert denied["playbooks"] == ["allow-storage-outbound"]

    code, report, err = _cli(env, "apply", "--vm", vm, "--yes")
    assert code == 3, err
    assert _rules(sandbox) == before and "allow_network_changes" in json.dumps(report)

    code, report, err = _cli(env, "apply", "--vm", vm, "--yes", "--allow-network-changes")
    assert code == 0, (err, report)
    added = [r for r in _rules(sandbox) if r["name"] == RULE]
    assert len(added) == 1 and added[0]["properties"]["destinationAddressPrefix"] == "Storage.EastUS"
    assert [r for r in _rules(sandbox) if r["name"] != RULE] == before
    job = next(j for j in sorted(sandbox.backup.jobs.values(), key=lambda j: j.start, reverse=True)
               if j.item.vm_name == "vm-app-01")
    assert job.status == "Completed"

    code, report, err = _cli(env, "apply", "--vm", vm, "--yes", "--allow-network-changes")
    assert code == 0, err
    assert "add-nsg-rule" not in json.dumps(report)

    code, listed, err = _cli(env, "remove-network-rules")
    assert code == 4, err
    assert [r["outcome"] for r in listed["rules"]] == ["would-remove"] and len(_rules(sandbox)) == len(before) + 1
    code, removed, err = _cli(env, "remove-network-rules", "--yes")
    assert code == 0, err
    assert [r["outcome"] for r in removed["rules"]] == ["removed"]
    assert _rules(sandbox) == before
    code, listed, err = _cli(env, "remove-network-rules")
    assert code == 0 and listed["rules"] == []


def test_without_the_network_extra_the_diagnosis_says_what_to_install(sandbox: Sandbox, server: SandboxServer,
                                                                        tmp_path: Path) -> None:
    env = server_environment(server, tmp_path / "journal.sqlite")
    # The CLI in a process where azure.mgmt.network cannot be imported, as on a machine without the extra.
    script = ("import sys; sys.modules['azure.mgmt.network'] = None; from azbackup_fix.cli.main import main; "
              "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", script, "diagnose", "--vm", _vm(sandbox), "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 4, done.stderr
    found = json.loads(done.stdout)
    (unread,) = [f for f in found["findings"] if f["code"] == "NetworkPathUnreadable"]
    assert "azbackup-fix[network]" in unread["title"]
    assert not [r for r in sandbox.requests() if "Microsoft.Network" in r.path]
