"""Issue 18, item 9: ``diagnose`` under the Reader role (``*/read``), with the ``backupStatus`` POST denied.

The vault and protected item are then found through reads only (the subscription's vaults, then each
vault's item for the VM); the diagnosis is the one an identity allowed ``backupStatus`` gets.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main
from azbackup_fix.preflight import (
    DIAGNOSE_ACTIONS,
    DIAGNOSE_OPTIONAL_ACTIONS,
    Permissions,
    check,
    operator_actions,
)
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import MANAGED_IDENTITY_OBJECT_ID, subscription_ids
from azbackup_sandbox.core.rbac import DEFAULT_PRINCIPAL
from tests.gateway.sandbox_arm import BROKEN, VM_RG, Target, writes

READER = ("*/read",)
SCENARIOS = ("rp-limit-locked", "rp-limit-custom-rg", "rp-old-layout-vm-group", "protection-stopped",
             "failed-vmsnapshot-linux", "agent-not-ready", "backup-in-progress", "disk-too-large", "vm-deallocated")


def _codes(diagnosis: object) -> list[str]:
    return sorted(f.code for f in diagnosis.findings)  # type: ignore[attr-defined]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_reader_diagnoses_as_an_identity_allowed_backup_status(scenario: str) -> None:
    free = Target(Sandbox(scenario=scenario))
    with free.remediator() as fix:
        expected = fix.diagnose(free.vm())

    sandbox = Sandbox(scenario=scenario)
    sandbox.config.rbac = sandbox.rbac.enforce = True
    sandbox.rbac.assign(DEFAULT_PRINCIPAL, actions=READER)
    target = Target(sandbox)
    with target.remediator() as fix:
        got = fix.diagnose(target.vm())
    denied = [r for r in sandbox.requests() if r.status == 403]
    # backupStatus is asked and denied: the vault is then found through the vaults' items. A failure that
    # points at the network path also asks for the NIC's effective rules, a POST action Reader lacks: the
    # diagnosis then says the path was not read (and which action it needs) instead of judging it. The
    # other long-running POSTs of the path (asked beside it, in waves) are denied alike.
    network = [r for r in denied if r.path.lower().endswith(
        ("/effectivenetworksecuritygroups", "/effectiveroutetable", "/ipflowverify", "/nexthop"))]
    assert not network or any(r.path.lower().endswith("/effectivenetworksecuritygroups") for r in network)
    assert [r.path.lower().rsplit("/", 1)[-1] for r in denied if r not in network] == ["backupstatus"]
    assert writes(sandbox.requests()) == []
    path_codes = {"NetworkPathOpenCheckGuest", "StorageOutboundDenied", "StorageRoutedToAppliance", "CustomDnsServers"}
    if network:
        (unread,) = [f for f in got.findings if f.code == "NetworkPathUnreadable"]
        assert "effectiveNetworkSecurityGroups/action" in unread.title
        got_findings = [f for f in got.findings if f.code != "NetworkPathUnreadable"]
        expected_findings = [f for f in expected.findings if f.code not in path_codes]
    else:
        got_findings, expected_findings = list(got.findings), list(expected.findings)
    assert _codes(got) and sorted(f.code for f in got_findings) == sorted(f.code for f in expected_findings)
    assert [f.to_dict() for f in got_findings] == [f.to_dict() for f in expected_findings]
    # The vault's items were listed (reads) to find the VM's.
    assert any(r.method == "GET" and r.path.lower().endswith("/backupprotecteditems") for r in sandbox.requests())


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


def _cli_as_reader(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   *args: str) -> tuple[int, str, str]:
    """The CLI over HTTPS as the managed identity holding Reader (``*/read``) only, on rp-limit-locked."""
    for key, value in {"AZBACKUP_ARM_ENDPOINT": server.endpoint, "REQUESTS_CA_BUNDLE": server.ca_file,
                       "IDENTITY_ENDPOINT": server.identity_endpoint, "IDENTITY_HEADER": server.identity_header,
                       "AZBACKUP_JOURNAL": str(tmp_path / "j.sqlite")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AZBACKUP_SUBSCRIPTION", raising=False)
    sandbox = server.sandbox
    sandbox.load("rp-limit-locked")
    with sandbox.lock:
        sandbox.rbac.principals.clear()
        sandbox.config.rbac = sandbox.rbac.enforce = True
        sandbox.rbac.assign(MANAGED_IDENTITY_OBJECT_ID, actions=READER)
    vm = f"/subscriptions/{subscription_ids(sandbox)[0]}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/" \
         f"virtualMachines/{BROKEN}"
    sandbox.clear_requests()
    try:
        out, err = io.StringIO(), io.StringIO()
        code = main([args[0], "--vm", vm, *args[1:]], stdout=out, stderr=err)
    finally:
        with sandbox.lock:
            sandbox.config.rbac = sandbox.rbac.enforce = False
    return code, out.getvalue(), err.getvalue()


def test_diagnose_cli_under_reader_exits_4_not_3(server: SandboxServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _cli_as_reader(server, tmp_path, monkeypatch, "diagnose", "--output", "json")
    assert code == 4, (out, err)
    data = json.loads(out)
    assert data, out
    assert writes(server.sandbox.requests()) == []


@pytest.mark.parametrize("command", [["diagnose"], ["plan"]])
def test_reader_suffices_for_diagnose_and_plan_through_the_cli(server: SandboxServer, command: list[str],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's roles: ``diagnose`` and ``plan`` need Reader only (exit 4: findings, a plan)."""
    code, out, err = _cli_as_reader(server, tmp_path, monkeypatch, *command)
    assert code == 4, (out, err)
    sandbox = server.sandbox
    assert writes(sandbox.requests()) == []
    assert [r.path.lower().rsplit("/", 1)[-1] for r in sandbox.requests() if r.status == 403] == ["backupstatus"]


def test_the_preflight_counts_reader_enough_to_diagnose_and_the_operator_role_keeps_backup_status() -> None:
    reader = Permissions.from_document({"Name": "Reader", "Actions": list(READER), "NotActions": []})
    assert check({"diagnose": DIAGNOSE_ACTIONS}, reader).missing_actions == ()
    assert set(DIAGNOSE_OPTIONAL_ACTIONS) <= set(operator_actions())
    assert not set(DIAGNOSE_OPTIONAL_ACTIONS) & set(DIAGNOSE_ACTIONS)
