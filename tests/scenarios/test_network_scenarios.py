"""Issue 13 through the Python API against the sandbox: each network scenario's diagnosis names the denying
rule or route with its evidence; the plan shows the exact rule; apply without allow_network_changes writes
nothing and names the rail; with it, exactly that rule is added (journaled first, nothing else in the NSG
changes), a backup succeeds and a second run plans nothing; the rule comes out with remove-network-rules.
An NSG rule written through the real Network API behaves like a seeded one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import SecurityRule

from azbackup_fix import SandboxCredential, StepStatus
from azbackup_fix.gateway import Gateway
from azbackup_fix.journal import Journal
from azbackup_fix.network_rules import added_rules, remove_added_rules
from azbackup_fix.steps import NSG_RULE_ADDED
from azbackup_sandbox import Sandbox
from azbackup_sandbox.providers.backup.physics import trigger_backup
from azbackup_sandbox.scenarios.files import read_shipped
from tests.gateway.sandbox_arm import Target, writes

RULE = "azbackup-fix-allow-storage-443-vm-app-01-nic"
ESTATES = Path(__file__).resolve().parents[2] / "azbackup_sandbox" / "estates"


def _finding(report: Any, code: str) -> Any:
    found = [f for f in report.findings if f.code == code]
    assert found, [f.code for f in report.findings]
    return found[0]


def _nsg(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return next(n for n in sandbox.snapshot()["resources"]["network"]["networkSecurityGroups"] if n["name"] == name)


def _backup_status(sandbox: Sandbox, vm: str = "vm-app-01") -> tuple[str, list[str]]:
    with sandbox.lock:
        item = next(i for i in sandbox.backup.items.values() if i.vm_name == vm)
        job, _ = trigger_backup(sandbox, item, None)
    sandbox.advance(3600)
    return job.status, [e.error_title for e in job.errors]


@pytest.fixture
def journal_path(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite")


DENIED = {  # scenario -> (NSG, its level, the denying rule, its priority, the rule's new priority)
    "network-nic-nsg-deny-internet": ("vm-app-01-nsg", "NIC", "DenyInternetOutbound", 200, 199),
    "network-subnet-nsg-deny-storage": ("nsg-snet-app", "subnet", "DenyStorageOutbound", 300, 299),
}


@pytest.mark.parametrize("scenario", sorted(DENIED))
def test_a_denying_nsg_rule_is_named_planned_refused_without_the_rail_and_fixed_with_it(
        scenario: str, journal_path: str) -> None:
    nsg_name, level, rule, priority, new_priority = DENIED[scenario]
    sandbox = Sandbox(scenario=scenario)
    target = Target(sandbox)
    nsg_before = _nsg(sandbox, nsg_name)
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
        denied = _finding(diagnosis, "StorageOutboundDenied")
        fields = denied.evidence_fields()
        assert (fields["denying_rule"], fields["rule_priority"], fields["nsg_level"]) == (rule, priority, level)
        assert fields["nsg"].endswith(f"/networkSecurityGroups/{nsg_name}")
        assert fields["storage_tag"] == "Storage.EastUS" and fields["private_ip"].startswith("10.")
        assert fields["network_watcher_ip_flow"].startswith(f"Deny by securityRules/{rule}")
        assert denied.guide == "002" and denied.playbooks == ("allow-storage-outbound",)
        assert not any(p == "recover-vm-provisioning" for f in diagnosis.findings for p in f.playbooks)

        sandbox.clear_requests()
        refused = fix.run(target.vm(), apply=True)  # no rail: nothing written, the rail named
        assert writes(sandbox.requests()) == [] and refused.exit_code == 3
        assert "allow_network_changes" in refused.rails_needed
        assert _nsg(sandbox, nsg_name) == nsg_before

        plan = fix.plan(target.vm(), allow_network_changes=True)
        (add,) = [s for s in plan.steps if s.step == "add-nsg-rule"]
        assert add.status is StepStatus.PLANNED and add.target.endswith(f"/{nsg_name}/securityRules/{RULE}")
        assert add.detail_value("priority") == new_priority and add.detail_value("destination") == "Storage.EastUS"

        report = fix.run(target.vm(), apply=True, allow_network_changes=True)
        assert [s.step for s in report.steps if s.status is StepStatus.CHANGED] == ["add-nsg-rule", "trigger-backup"]
        assert report.exit_code == 0, report.to_dict()
        (trigger,) = [s for s in report.steps if s.step == "trigger-backup"]
        assert trigger.detail_value("job_status") == "Completed"

    after = _nsg(sandbox, nsg_name)
    added = [r for r in after["properties"]["securityRules"] if r["name"] == RULE]
    kept = [r for r in after["properties"]["securityRules"] if r["name"] != RULE]
    assert kept == nsg_before["properties"]["securityRules"]  # nothing else in the NSG changed
    (new,) = added
    assert {k: new["properties"][k] for k in ("access", "direction", "priority", "protocol", "sourceAddressPrefix",
                                              "destinationAddressPrefix", "destinationPortRange")} == {
        "access": "Allow", "direction": "Outbound", "priority": new_priority, "protocol": "Tcp",
        "sourceAddressPrefix": fields["private_ip"], "destinationAddressPrefix": "Storage.EastUS",
        "destinationPortRange": "443"}
    with Journal(journal_path) as journal:
        (change,) = journal.changes_by_action(NSG_RULE_ADDED)
        assert change.target == new["id"] and json.loads(change.detail)["properties"]["priority"] == new_priority
    assert _backup_status(sandbox) == ("Completed", [])

    with target.remediator(journal_path=journal_path) as fix:
        sandbox.clear_requests()
        second = fix.run(target.vm(), apply=True, allow_network_changes=True)
        assert second.changed == () and writes(sandbox.requests()) == []


def test_the_added_rule_comes_out_with_remove_network_rules(journal_path: str) -> None:
    sandbox = Sandbox(scenario="network-nic-nsg-deny-internet")
    target = Target(sandbox)
    before = _nsg(sandbox, "vm-app-01-nsg")
    with target.remediator(journal_path=journal_path) as fix:
        fix.run(target.vm(), apply=True, allow_network_changes=True)
    gateway = Gateway(SandboxCredential(), target.subscription, transport=sandbox.transport(), polling_interval=0)
    with Journal(journal_path) as journal, gateway:
        (listed,) = remove_added_rules(journal, lambda _sub: gateway, apply=False)
        assert listed.outcome == "would-remove" and _nsg(sandbox, "vm-app-01-nsg") != before
        (removed,) = remove_added_rules(journal, lambda _sub: gateway, apply=True)
        assert removed.outcome == "removed"
        assert added_rules(journal) == ()
    assert _nsg(sandbox, "vm-app-01-nsg")["properties"]["securityRules"] == before["properties"]["securityRules"]
    assert _backup_status(sandbox)[1] == ["ExtensionSnapshotFailedNoNetwork"]  # the path is cut again


def test_a_rule_changed_after_it_was_added_is_left_alone(journal_path: str) -> None:
    sandbox = Sandbox(scenario="network-nic-nsg-deny-internet")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        fix.run(target.vm(), apply=True, allow_network_changes=True)
    net = NetworkManagementClient(SandboxCredential(), target.subscription, transport=sandbox.transport(),
                                  polling_interval=0)
    rule = net.security_rules.get("rg-app-prod", "vm-app-01-nsg", RULE)
    rule.destination_port_range = "443-8443"  # someone widened it by hand
    net.security_rules.begin_create_or_update("rg-app-prod", "vm-app-01-nsg", RULE, rule).result()
    gateway = Gateway(SandboxCredential(), target.subscription, transport=sandbox.transport(), polling_interval=0)
    with Journal(journal_path) as journal, gateway:
        (result,) = remove_added_rules(journal, lambda _sub: gateway, apply=True)
    assert result.outcome == "changed"
    assert net.security_rules.get("rg-app-prod", "vm-app-01-nsg", RULE).destination_port_range == "443-8443"


def test_an_nsg_rule_written_through_the_network_api_is_diagnosed_and_fixed_like_a_seeded_one(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="healthy")
    target = Target(sandbox)
    net = NetworkManagementClient(SandboxCredential(), target.subscription, transport=sandbox.transport(),
                                  polling_interval=0)
    net.security_rules.begin_create_or_update("rg-app-prod", "vm-app-01-nsg", "block-egress", SecurityRule(
        protocol="*", source_address_prefix="*", source_port_range="*", destination_address_prefix="*",
        destination_port_range="*", access="Deny", priority=4000, direction="Outbound")).result()
    assert _backup_status(sandbox) == ("Failed", ["ExtensionSnapshotFailedNoNetwork"])
    with target.remediator(journal_path=journal_path) as fix:
        denied = _finding(fix.diagnose(target.vm()), "StorageOutboundDenied")
        assert denied.evidence_value("denying rule") == "block-egress"
        report = fix.run(target.vm(), apply=True, allow_network_changes=True)
        assert report.exit_code == 0, report.to_dict()
    rule = net.security_rules.get("rg-app-prod", "vm-app-01-nsg", RULE)
    assert (rule.priority, rule.destination_address_prefix) == (3999, "Storage.EastUS")
    assert _backup_status(sandbox) == ("Completed", [])


def test_a_route_to_a_virtual_appliance_is_reported_with_the_route_and_options_and_never_changed(
        journal_path: str) -> None:
    sandbox = Sandbox(scenario="network-udr-virtual-appliance")
    target = Target(sandbox)
    network_before = sandbox.snapshot()["resources"]["network"]
    with target.remediator(journal_path=journal_path) as fix:
        routed = _finding(fix.diagnose(target.vm()), "StorageRoutedToAppliance")
        fields = routed.evidence_fields()
        assert (fields["route"], fields["route_prefix"], fields["next_hop"]) == (
            "default-to-firewall", "0.0.0.0/0", "VirtualAppliance 10.30.0.4")
        assert "rt-egress-fw" in fields["network_watcher_next_hop"]
        assert any("service endpoint" in s for s in routed.guest_steps)
        assert any("Storage.EastUS with next hop Internet" in s for s in routed.guest_steps)
        report = fix.run(target.vm(), apply=True, allow_network_changes=True)
        assert report.changed == () and report.exit_code == 5
    assert sandbox.snapshot()["resources"]["network"] == network_before


def test_custom_dns_servers_are_named_and_the_guest_asked(journal_path: str) -> None:
    sandbox = Sandbox(scenario="network-custom-dns")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
    dns = _finding(diagnosis, "CustomDnsServers")
    assert dns.evidence_value("dns servers") == "10.40.0.4, 10.40.0.5"
    assert not [f for f in diagnosis.findings if f.code == "StorageOutboundDenied"]
    # The fix Azure-side is the VNet's DNS setting, put back to Azure-provided DNS: then the backup works.
    net = NetworkManagementClient(SandboxCredential(), target.subscription, transport=sandbox.transport(),
                                  polling_interval=0)
    vnet = net.virtual_networks.get("rg-app-prod", "vnet-app-prod")
    vnet.dhcp_options.dns_servers = []
    net.virtual_networks.begin_create_or_update("rg-app-prod", "vnet-app-prod", vnet).result()
    assert _backup_status(sandbox) == ("Completed", [])


def test_a_clean_path_with_an_unreachable_agent_points_into_the_guest(journal_path: str) -> None:
    sandbox = Sandbox(scenario="network-open-agent-unreachable")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
    guest = _finding(diagnosis, "NetworkPathOpenCheckGuest")
    assert "168.63.129.16" in guest.title and "not ready" in guest.title
    assert guest.evidence_value("network watcher ip flow").startswith("Allow")
    assert any("32526" in s for s in guest.guest_steps)


def test_a_vm_that_is_not_running_has_no_effective_rules_and_the_diagnosis_says_so(journal_path: str) -> None:
    document = yaml.safe_load((ESTATES / "network-nic-nsg-deny-internet.yaml").read_text(encoding="utf-8"))
    vm = next(v for v in document["subscriptions"][0]["vms"] if v["name"] == "vm-app-01")
    vm["powerState"], vm["vmAgent"]["status"] = "deallocated", ""
    sandbox = Sandbox(estate=document)
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=journal_path) as fix:
        diagnosis = fix.diagnose(target.vm())
    unseen = _finding(diagnosis, "NetworkPathNotVisible")
    assert "not running" in unseen.title and "deallocated" in str(unseen.evidence_value("reason"))
    assert not [f for f in diagnosis.findings if f.code in ("StorageOutboundDenied", "NetworkPathOpenCheckGuest")]
    posts = [r.path for r in sandbox.requests() if r.method == "POST" and "Microsoft.Network" in r.path]
    assert posts == []  # no effective-rules request for a VM that has none


def test_network_reads_only_for_failures_that_point_at_the_path(journal_path: str) -> None:
    for scenario in ("healthy", "rp-limit-locked", "failed-vmsnapshot-windows"):
        sandbox = Sandbox(scenario=scenario)
        target = Target(sandbox)
        sandbox.clear_requests()
        with target.remediator(journal_path=journal_path) as fix:
            fix.diagnose(target.vm())
        assert not [r for r in sandbox.requests() if "Microsoft.Network" in r.path], scenario


def test_the_shipped_network_estates_are_what_the_physics_make_of_them() -> None:
    for name in ("network-nic-nsg-deny-internet", "network-subnet-nsg-deny-storage", "network-udr-virtual-appliance",
                 "network-custom-dns"):
        spec = read_shipped(name).spec
        assert spec.subscriptions[0].vms, name
        sandbox = Sandbox(scenario=name)
        assert _backup_status(sandbox) == ("Failed", ["ExtensionSnapshotFailedNoNetwork"]), name
        assert _backup_status(sandbox, "vm-app-02") == ("Completed", []), name


def test_a_fleet_scan_with_the_rail_fixes_the_network_failures_and_reads_the_path_once_per_vm(tmp_path: Path) -> None:
    from azbackup_fix.scanner import FleetScanner, ScanOptions

    sandbox = Sandbox()
    sandbox.load("fleet", vms=40, subscriptions=1, vaults=1, mix="healthy=0.7,network-nsg-deny=0.3")
    denied = {vm.id.lower() for vm in sandbox.compute.vms.values() if vm.tags.get("kind") == "network-nsg-deny"}
    assert denied
    with Journal(str(tmp_path / "journal.sqlite")) as journal:
        scanner = FleetScanner(SandboxCredential(), transport=sandbox.transport(), polling_interval=0,
                               journal=journal)
        refused = scanner.scan(ScanOptions(subscriptions=tuple(sandbox.subscription_ids), apply=True, wait=False,
                                           fresh=True))
        assert {v.vm.lower() for v in refused.vms if str(getattr(v.outcome, "value", v.outcome)) == "refused"} >= denied
        sandbox.clear_requests()
        fixed = scanner.scan(ScanOptions(subscriptions=tuple(sandbox.subscription_ids), apply=True, wait=False,
                                         fresh=True, allow_network_changes=True))
    assert {v.vm.lower() for v in fixed.vms if str(getattr(v.outcome, "value", v.outcome)) == "fixed"} == denied
    effective = [r.path.lower() for r in sandbox.requests() if r.path.lower().endswith("/effectivenetworksecuritygroups")]
    nics = {p.split("/networkinterfaces/")[1].split("/")[0] for p in effective}
    # Only the failing VMs' NICs are read (a healthy VM never is). Per NIC: the scan's examination (which the
    # run's plan starts from) and the fresh state after the rule went in, which the verification reuses:
    # twice; five times before the reads were kept between phases (another VM's rule no longer forgets them).
    assert nics == {f"{vm_id.rsplit('/', 1)[-1]}-nic" for vm_id in denied}
    assert {effective.count(p) for p in set(effective)} == {2}
    for vm_id in denied:  # each one's backup now gets out
        vm = next(v for v in sandbox.compute.vms.values() if v.id.lower() == vm_id)
        assert sandbox.network.storage_path_block(vm) is None


def test_one_apply_reads_the_network_path_once_before_and_once_after_its_nsg_change(journal_path: str) -> None:
    """Plan, apply (the fresh state for the next playbooks), the trigger's hold and the verification share
    the reads of one state: the effective rules and Network Watcher's flow verdict are read before the rule
    goes in and once after; what a security rule cannot change (the NIC, its routes, the next hop, service
    tags, watchers, DNS) once. Before: four times each, 67 network requests."""
    sandbox = Sandbox(scenario="network-nic-nsg-deny-internet")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        sandbox.clear_requests()
        report = fix.run(target.vm(), apply=True, allow_network_changes=True)
    assert [s.step for s in report.steps if s.status is StepStatus.CHANGED] == ["add-nsg-rule", "trigger-backup"]
    assert report.exit_code == 0 and all(p.verified is not False for p in report.playbooks), report.to_dict()
    ops = [r.operation for r in sandbox.requests() if "/microsoft.network/" in r.path.lower()]
    counts = {op: ops.count(op) for op in (
        "NetworkInterfaces_ListEffectiveNetworkSecurityGroups", "NetworkWatchers_VerifyIPFlow",
        "NetworkInterfaces_Get", "NetworkInterfaces_GetEffectiveRouteTable", "NetworkWatchers_GetNextHop",
        "ServiceTags_List", "NetworkWatchers_ListAll", "VirtualNetworks_Get")}
    assert list(counts.values()) == [2, 2, 1, 1, 1, 1, 1, 1], counts
    assert len(ops) == 25  # 67 before
