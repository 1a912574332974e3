"""The network path evaluator (checks/network_path.py): pure functions over the typed models."""

from __future__ import annotations

from azbackup_fix.checks.network_path import (
    allow_rule_name,
    allow_rule_properties,
    evaluate_path,
    free_priority,
)
from azbackup_fix.models.network import (
    EffectiveNsg,
    EffectiveRoute,
    EffectiveRule,
    NetworkInterfaceInfo,
    NetworkPath,
)

NIC = NetworkInterfaceInfo("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n",
                           "n", "10.0.0.4", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
                           "virtualNetworks/v/subnets/default", None)
DEFAULTS = (
    EffectiveRule("defaultSecurityRules/AllowVnetOutBound", 65000, "Outbound", "Allow", "All", ("VirtualNetwork",),
                  destination_prefixes=("VirtualNetwork",), expanded_source=("10.0.0.0/16",),
                  expanded_destination=("10.0.0.0/16",)),
    EffectiveRule("defaultSecurityRules/AllowInternetOutBound", 65001, "Outbound", "Allow", "All",
                  destination_prefixes=("Internet",)),
    EffectiveRule("defaultSecurityRules/DenyAllOutBound", 65500, "Outbound", "Deny", "All"),
)
SYSTEM = (EffectiveRoute(None, "Default", "Active", ("10.0.0.0/16",), "VnetLocal"),
          EffectiveRoute(None, "Default", "Active", ("0.0.0.0/0",), "Internet"))


def _path(*nsgs: EffectiveNsg, routes: tuple[EffectiveRoute, ...] = SYSTEM) -> NetworkPath:
    return NetworkPath("eastus", "Storage.EastUS", ("20.60.0.0/16",), NIC, effective_nsgs=nsgs,
                       effective_routes=routes)


def _nsg(level: str, *rules: EffectiveRule) -> EffectiveNsg:
    return EffectiveNsg(f"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/{level}",
                        level, (*rules, *DEFAULTS))


def test_default_rules_and_routes_leave_the_path_open() -> None:
    assert evaluate_path(_path(_nsg("networkInterface"))).open


def test_a_deny_on_internet_in_the_nic_nsg_is_named() -> None:
    deny = EffectiveRule("securityRules/deny-internet", 200, "Outbound", "Deny", "All",
                         destination_prefixes=("Internet",))
    verdict = evaluate_path(_path(_nsg("networkInterface", deny), _nsg("subnet")))
    assert not verdict.open and verdict.rule == deny and verdict.nsg is not None
    assert verdict.nsg.level == "networkInterface" and verdict.destination == "20.60.0.0/16"


def test_an_allow_for_the_storage_tag_ahead_of_the_deny_opens_it_and_other_regions_do_not() -> None:
    deny = EffectiveRule("securityRules/deny-all", 300, "Outbound", "Deny", "All")
    allow = EffectiveRule("securityRules/allow-storage", 299, "Outbound", "Allow", "Tcp", ("10.0.0.4",),
                          destination_prefixes=("Storage.EastUS",), destination_ports=("443",),
                          expanded_destination=("20.60.0.0/16",))
    west = EffectiveRule("securityRules/allow-west", 298, "Outbound", "Allow", "Tcp",
                         destination_prefixes=("Storage.WestUS",), destination_ports=("443",),
                         expanded_destination=("20.62.0.0/16",))
    assert evaluate_path(_path(_nsg("subnet", deny, allow))).open
    verdict = evaluate_path(_path(_nsg("subnet", deny, west)))
    assert verdict.rule == deny and verdict.nsg is not None and verdict.nsg.level == "subnet"
    udp = EffectiveRule("securityRules/udp", 100, "Outbound", "Deny", "Udp")
    port_80 = EffectiveRule("securityRules/http", 101, "Outbound", "Deny", "Tcp", destination_ports=("80",))
    assert evaluate_path(_path(_nsg("subnet", udp, port_80))).open  # neither touches TCP 443


def test_a_user_route_to_an_appliance_cuts_it_and_a_service_tag_route_wins_by_prefix() -> None:
    appliance = EffectiveRoute("to-fw", "User", "Active", ("0.0.0.0/0",), "VirtualAppliance", ("10.0.1.4",))
    invalid_default = EffectiveRoute(None, "Default", "Invalid", ("0.0.0.0/0",), "Internet")
    routes = (SYSTEM[0], invalid_default, appliance)
    verdict = evaluate_path(_path(_nsg("networkInterface"), routes=routes))
    assert verdict.cut_by_route and verdict.route == appliance
    storage = EffectiveRoute("storage", "User", "Active", ("20.60.0.0/16",), "Internet", service_tags=("Storage.EastUS",))
    assert evaluate_path(_path(_nsg("networkInterface"), routes=(*routes, storage))).open


def test_free_priority_sits_right_ahead_of_the_denying_rule() -> None:
    used = (EffectiveRule("securityRules/a", 199, "Outbound", "Allow", "All"),
            EffectiveRule("securityRules/b", 198, "Inbound", "Allow", "All"))
    nsg = _nsg("networkInterface", *used)
    assert free_priority(nsg, 200) == 198  # 199 is taken outbound; inbound priorities do not count
    assert free_priority(_nsg("x"), 100) is None
    assert free_priority(_nsg("x"), 65500) == 4096  # the default rules sit beyond every custom priority


def test_the_rule_is_recognisable_and_minimal() -> None:
    assert allow_rule_name("vm-app-01-nic") == "azbackup-fix-allow-storage-443-vm-app-01-nic"
    assert len(allow_rule_name("n" * 200)) == 80
    body = allow_rule_properties("10.0.0.4", "Storage.EastUS", 199)
    assert {k: body[k] for k in ("access", "direction", "protocol", "sourceAddressPrefix",
                                 "destinationAddressPrefix", "destinationPortRange", "priority")} == {
        "access": "Allow", "direction": "Outbound", "protocol": "Tcp", "sourceAddressPrefix": "10.0.0.4",
        "destinationAddressPrefix": "Storage.EastUS", "destinationPortRange": "443", "priority": 199}
