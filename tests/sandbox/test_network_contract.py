"""Microsoft.Network contract: the sandbox's VNets, NICs, NSGs, route tables, effective rules and routes,
service tags and Network Watcher driven through the real NetworkManagementClient, in-process and over
HTTPS, and the backup physics that follow from them (a path cut to the region's storage fails the
snapshot with ExtensionSnapshotFailedNoNetwork; opened again, the backup succeeds)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (
    NetworkSecurityGroup,
    NextHopParameters,
    Route,
    RouteTable,
    SecurityRule,
    VerificationIPFlowParameters,
)
from sandbox_arm import Arm

from azbackup_sandbox.providers.backup.physics import trigger_backup

RG = "rg-app-prod"
VM = "vm-app-01"
STORAGE_EASTUS = "20.60.0.10"  # inside the sandbox's Storage.EastUS prefix


def _client(arm: Arm) -> NetworkManagementClient:
    arm.load("healthy")
    return arm.client(NetworkManagementClient)


def _backup(arm: Arm, vm: str = VM) -> Any:
    sb = arm.sandbox
    with sb.lock:
        item = next(i for i in sb.backup.items.values() if i.vm_name == vm)
        job, _ = trigger_backup(sb, item, None)
    arm.advance(3600)
    return job


def _flow(vm_id: str) -> VerificationIPFlowParameters:
    return VerificationIPFlowParameters(target_resource_id=vm_id, direction="Outbound", protocol="TCP",
                                        local_port="50000", remote_port="443", local_ip_address="10.0.0.4",
                                        remote_ip_address=STORAGE_EASTUS)


def _deny_internet(priority: int = 200) -> SecurityRule:
    return SecurityRule(protocol="*", source_address_prefix="*", source_port_range="*",
                        destination_address_prefix="Internet", destination_port_range="*", access="Deny",
                        priority=priority, direction="Outbound")


def test_every_vm_has_a_nic_vnet_and_nsg_with_the_default_rules(arm: Arm) -> None:
    net = _client(arm)
    nic = net.network_interfaces.get(RG, f"{VM}-nic")
    assert nic.virtual_machine.id.lower().endswith(f"/virtualmachines/{VM}")
    assert nic.ip_configurations[0].private_ip_address == "10.0.0.4"
    assert nic.ip_configurations[0].subnet.id.endswith("/virtualNetworks/rg-app-prod-vnet/subnets/default")
    nsg = net.network_security_groups.get(RG, f"{VM}-nsg")
    assert [r.name for r in nsg.default_security_rules] == [
        "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound",
        "AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"]
    assert nsg.security_rules == []
    assert nsg.network_interfaces[0].id == nic.id
    vnet = net.virtual_networks.get(RG, "rg-app-prod-vnet")
    assert vnet.address_space.address_prefixes == ["10.0.0.0/16"]
    watchers = list(net.network_watchers.list_all())
    assert [w.name for w in watchers] == ["NetworkWatcher_eastus"]


def test_effective_rules_and_routes_are_long_running_posts_while_the_vm_runs(arm: Arm) -> None:
    net = _client(arm)
    groups = net.network_interfaces.begin_list_effective_network_security_groups(RG, f"{VM}-nic").result()
    assert len(groups.value) == 1
    group = groups.value[0]
    assert group.association.network_interface.id.endswith(f"/networkInterfaces/{VM}-nic")
    names = [r.name for r in group.effective_security_rules]
    assert "defaultSecurityRules/AllowInternetOutBound" in names
    routes = net.network_interfaces.begin_get_effective_route_table(RG, f"{VM}-nic").result()
    default = next(r for r in routes.value if r.address_prefix == ["0.0.0.0/0"])
    assert (default.next_hop_type, default.source, default.state) == ("Internet", "Default", "Active")
    posts = [r for r in arm.requests() if r["method"] == "POST"]
    assert {r["status"] for r in posts} == {202}


def test_a_vm_that_is_not_running_has_no_effective_rules(arm: Arm) -> None:
    net = _client(arm)
    with arm.sandbox.lock:
        vm = next(v for v in arm.sandbox.compute.vms.values() if v.name == VM)
        vm.power_state = "deallocated"
    with pytest.raises(HttpResponseError) as caught:
        net.network_interfaces.begin_get_effective_route_table(RG, f"{VM}-nic").result()
    assert caught.value.error.code == "NetworkInterfaceNotAttachedToRunningVm"


def test_an_nsg_rule_written_through_the_api_cuts_and_reopens_the_backup_path(arm: Arm) -> None:
    net = _client(arm)
    assert _backup(arm).status == "Completed"
    net.security_rules.begin_create_or_update(RG, f"{VM}-nsg", "deny-internet", _deny_internet()).result()
    failed = _backup(arm)
    assert failed.status == "Failed"
    assert failed.errors[0].error_title == "ExtensionSnapshotFailedNoNetwork"
    watcher = ("NetworkWatcherRG", "NetworkWatcher_eastus")
    vm_id = next(v.id for v in arm.sandbox.compute.vms.values() if v.name == VM)
    flow = net.network_watchers.begin_verify_ip_flow(*watcher, _flow(vm_id)).result()
    assert (flow.access, flow.rule_name) == ("Deny", "securityRules/deny-internet")
    allow = SecurityRule(protocol="Tcp", source_address_prefix="10.0.0.4", source_port_range="*",
                         destination_address_prefix="Storage.EastUS", destination_port_range="443",
                         access="Allow", priority=190, direction="Outbound")
    net.security_rules.begin_create_or_update(RG, f"{VM}-nsg", "allow-storage", allow).result()
    flow = net.network_watchers.begin_verify_ip_flow(*watcher, _flow(vm_id)).result()
    assert (flow.access, flow.rule_name) == ("Allow", "securityRules/allow-storage")
    assert _backup(arm).status == "Completed"


def test_a_subnet_route_to_an_appliance_shows_in_routes_and_next_hop_and_fails_the_backup(arm: Arm) -> None:
    net = _client(arm)
    table = net.route_tables.begin_create_or_update(RG, "rt-egress", RouteTable(location="eastus", routes=[
        Route(name="default-to-fw", address_prefix="0.0.0.0/0", next_hop_type="VirtualAppliance",
              next_hop_ip_address="10.0.1.4")])).result()
    vnet = net.virtual_networks.get(RG, "rg-app-prod-vnet")
    subnet = vnet.subnets[0]
    subnet.route_table = table
    net.subnets.begin_create_or_update(RG, vnet.name, subnet.name, subnet).result()
    routes = net.network_interfaces.begin_get_effective_route_table(RG, f"{VM}-nic").result().value
    system = next(r for r in routes if r.source == "Default" and r.address_prefix == ["0.0.0.0/0"])
    user = next(r for r in routes if r.source == "User")
    assert system.state == "Invalid"
    assert (user.name, user.next_hop_type, user.next_hop_ip_address) == ("default-to-fw", "VirtualAppliance",
                                                                         ["10.0.1.4"])
    vm_id = next(v.id for v in arm.sandbox.compute.vms.values() if v.name == VM)
    hop = net.network_watchers.begin_get_next_hop("NetworkWatcherRG", "NetworkWatcher_eastus", NextHopParameters(
        target_resource_id=vm_id, source_ip_address="10.0.0.4", destination_ip_address=STORAGE_EASTUS)).result()
    assert (hop.next_hop_type, hop.next_hop_ip_address, hop.route_table_id) == (
        "VirtualAppliance", "10.0.1.4", table.id)
    assert _backup(arm).errors[0].error_title == "ExtensionSnapshotFailedNoNetwork"
    # A service-tag route for the region's storage wins by longest prefix.
    net.routes.begin_create_or_update(RG, "rt-egress", "storage-direct", Route(
        address_prefix="Storage.EastUS", next_hop_type="Internet")).result()
    assert _backup(arm).status == "Completed"


def test_nsg_put_replaces_rules_and_arm_checks_priorities(arm: Arm) -> None:
    net = _client(arm)
    created = net.network_security_groups.begin_create_or_update(RG, "nsg-new", NetworkSecurityGroup(
        location="eastus", security_rules=[SecurityRule(name="a", **_deny_internet(300).as_dict())])).result()
    assert [r.name for r in created.security_rules] == ["a"]
    with pytest.raises(HttpResponseError) as caught:
        net.security_rules.begin_create_or_update(RG, "nsg-new", "b", _deny_internet(300)).result()
    assert caught.value.error.code == "SecurityRuleConflict"
    with pytest.raises(HttpResponseError) as caught:
        net.security_rules.begin_create_or_update(RG, "nsg-new", "c", _deny_internet(5000)).result()
    assert caught.value.error.code == "SecurityRuleInvalidPriority"
    net.security_rules.begin_delete(RG, "nsg-new", "a").result()
    assert net.network_security_groups.get(RG, "nsg-new").security_rules == []
    with pytest.raises(ResourceNotFoundError):
        net.security_rules.get(RG, "nsg-new", "a")
    net.network_security_groups.begin_delete(RG, "nsg-new").result()
    with pytest.raises(ResourceNotFoundError):
        net.network_security_groups.get(RG, "nsg-new")


def test_service_tags_list_the_regional_storage_prefixes(arm: Arm) -> None:
    net = _client(arm)
    tags = net.service_tags.list("eastus")
    regional = next(t for t in tags.values_property if t.properties.region == "eastus"
                    and t.properties.system_service == "AzureStorage")
    assert regional.name == "Storage.EastUS"
    assert regional.properties.address_prefixes == ["20.60.0.0/16"]


def test_api_versions_before_2023_are_refused(arm: Arm) -> None:
    arm.load("healthy")
    path = (f"/subscriptions/{arm.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network"
            f"/networkSecurityGroups/{VM}-nsg")
    old = arm.call("GET", path, params={"api-version": "2019-02-01"})
    assert old.status == 400 and old.json()["error"]["code"] == "NoRegisteredProviderFound"
    for version in ("2023-02-01", "2024-05-01", "2026-03-01"):
        assert arm.call("GET", path, params={"api-version": version}).status == 200
