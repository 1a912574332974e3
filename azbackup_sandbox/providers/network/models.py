"""Microsoft.Network state: virtual networks and subnets, NICs, NSGs with their rules, route tables and
Network Watchers, plus the questions the path evaluator answers about them (`evaluate.py`).

Each model serialises itself as the Network RP writes it (`to_arm`); `NetworkBackend` makes every change
and checks what ARM checks (priorities, conflicts, references)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .evaluate import (
    DEFAULT_RULES,
    EPHEMERAL_PORT,
    Hop,
    RouteEntry,
    Rule,
    Verdict,
    effective_routes,
    first_match,
    next_hop,
)
from .tags import network, region_tag_name, tag_prefixes

if TYPE_CHECKING:
    from ...core.sandbox import Sandbox
    from ..compute.models import VirtualMachine

__all__ = ["SecurityRule", "NetworkSecurityGroup", "Route", "RouteTable", "Subnet", "VirtualNetwork",
           "NetworkInterface", "NetworkWatcher", "NetworkBackend", "PROTOCOLS"]

NS = "Microsoft.Network"
PROTOCOLS = ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*")
NEXT_HOP_TYPES = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None")


def _rid(sub: str, group: str, kind: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{NS}/{kind}/{name}"


def _guid(resource_id: str) -> str:
    """A resource's resourceGuid, stable for its id, so an exported estate reloads to the same state."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "azbackup-sandbox/network" + resource_id.lower()))


def _mac(resource_id: str) -> str:
    digest = hashlib.sha256(resource_id.lower().encode("utf-8")).digest()
    return "-".join(f"{b:02X}" for b in (0x00, 0x0D, 0x3A) + tuple(digest[:3]))


def with_etag(body: dict[str, Any]) -> dict[str, Any]:
    """Set the body's W/"..." etag from its content: it changes exactly when the resource does."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    tag = f'W/"{uuid.uuid5(uuid.NAMESPACE_OID, text)}"'
    ordered = {"name": body["name"], "id": body["id"], "etag": tag}
    ordered.update((k, v) for k, v in body.items() if k not in ordered)
    return ordered


def _list_of(props: dict[str, Any], single: str, plural: str, default: str | None = None) -> tuple[str, ...]:
    many = props.get(plural) or []
    one = props.get(single)
    values = [str(v) for v in many] + ([str(one)] if one not in (None, "") else [])
    if not values and default is not None:
        values = [default]
    return tuple(values)


@dataclass
class SecurityRule:
    name: str
    priority: int
    direction: str
    access: str
    protocol: str
    source_prefixes: tuple[str, ...] = ("*",)
    source_ports: tuple[str, ...] = ("*",)
    destination_prefixes: tuple[str, ...] = ("*",)
    destination_ports: tuple[str, ...] = ("*",)
    description: str = ""

    def view(self) -> Rule:
        return Rule(self.name, self.priority, self.direction, self.access, self.protocol, self.source_prefixes,
                    self.source_ports, self.destination_prefixes, self.destination_ports)

    @classmethod
    def parse(cls, name: str, props: dict[str, Any]) -> SecurityRule:
        protocol = _choice(props.get("protocol"), PROTOCOLS, f"securityRules/{name}.protocol")
        access = _choice(props.get("access"), ("Allow", "Deny"), f"securityRules/{name}.access")
        direction = _choice(props.get("direction"), ("Inbound", "Outbound"), f"securityRules/{name}.direction")
        priority = props.get("priority")
        if not isinstance(priority, int) or isinstance(priority, bool) or not 100 <= priority <= 4096:
            raise errors.invalid_priority(name, priority)
        rule = cls(name, priority, direction, access, protocol,
                   _list_of(props, "sourceAddressPrefix", "sourceAddressPrefixes"),
                   _list_of(props, "sourcePortRange", "sourcePortRanges"),
                   _list_of(props, "destinationAddressPrefix", "destinationAddressPrefixes"),
                   _list_of(props, "destinationPortRange", "destinationPortRanges"),
                   str(props.get("description") or ""))
        for prefix in rule.source_prefixes + rule.destination_prefixes:
            _check_prefix(prefix, name)
        for port in rule.source_ports + rule.destination_ports:
            _check_port(port, name)
        if not rule.source_prefixes or not rule.destination_prefixes:
            raise errors.invalid_value(f"securityRules/{name} address prefix", "", "a prefix, tag or *")
        if not rule.source_ports or not rule.destination_ports:
            raise errors.invalid_value(f"securityRules/{name} port range", "", "a port, a range or *")
        return rule

    def to_arm(self, nsg: NetworkSecurityGroup, *, default: bool = False) -> dict[str, Any]:
        kind = "defaultSecurityRules" if default else "securityRules"
        props: dict[str, Any] = {"provisioningState": "Succeeded"}
        if self.description:
            props["description"] = self.description
        props["protocol"] = self.protocol
        for key, values in (("sourcePortRange", self.source_ports), ("destinationPortRange", self.destination_ports),
                            ("sourceAddressPrefix", self.source_prefixes),
                            ("destinationAddressPrefix", self.destination_prefixes)):
            plural = key.replace("Range", "Ranges").replace("Prefix", "Prefixes")
            if len(values) == 1:
                props[key], props[plural] = values[0], []
            else:
                props[plural] = list(values)
        props.update({"access": self.access, "priority": self.priority, "direction": self.direction})
        return with_etag({"name": self.name, "id": f"{nsg.id}/{kind}/{self.name}",
                          "type": f"{NS}/networkSecurityGroups/{kind}", "properties": props})


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise errors.invalid_value(what, value, ", ".join(allowed))


def _check_prefix(prefix: str, rule: str) -> None:
    if prefix.lower() in ("*", "any", "internet", "virtualnetwork") or tag_prefixes(prefix):
        return
    try:
        network(prefix)
    except ValueError:
        raise errors.invalid_value(f"securityRules/{rule} address prefix", prefix,
                                   "a CIDR, an IP address, * or a service tag") from None


def _check_port(port: str, rule: str) -> None:
    text = port.strip()
    if text == "*":
        return
    low, _, high = text.partition("-")
    try:
        values = [int(low)] + ([int(high)] if high else [])
    except ValueError:
        raise errors.invalid_value(f"securityRules/{rule} port range", port, "0-65535 or *") from None
    if any(not 0 <= v <= 65535 for v in values) or (high and int(high) < int(low)):
        raise errors.invalid_value(f"securityRules/{rule} port range", port, "0-65535 or *")


_DEFAULT_SECURITY_RULES = [
    SecurityRule(r.name, r.priority, r.direction, r.access, r.protocol, r.source_prefixes, r.source_ports,
                 r.destination_prefixes, r.destination_ports,
                 {"AllowVnetInBound": "Allow inbound traffic from all VMs in VNET",
                  "AllowAzureLoadBalancerInBound": "Allow inbound traffic from azure load balancer",
                  "DenyAllInBound": "Deny all inbound traffic",
                  "AllowVnetOutBound": "Allow outbound traffic from all VMs to all VMs in VNET",
                  "AllowInternetOutBound": "Allow outbound traffic from all VMs to Internet",
                  "DenyAllOutBound": "Deny all outbound traffic"}[r.name])
    for r in DEFAULT_RULES
]


@dataclass
class NetworkSecurityGroup:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    rules: dict[str, SecurityRule] = field(default_factory=dict)  # by lower-case name
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _rid(self.subscription_id, self.resource_group, "networkSecurityGroups", self.name)

    @property
    def guid(self) -> str:
        return _guid(self.id)

    def sorted_rules(self) -> list[SecurityRule]:
        return sorted(self.rules.values(), key=lambda r: (r.direction, r.priority))

    def views(self) -> list[Rule]:
        return [r.view() for r in self.rules.values()] + list(DEFAULT_RULES)

    def to_arm(self, backend: NetworkBackend) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": "Succeeded", "resourceGuid": self.guid,
            "securityRules": [r.to_arm(self) for r in self.sorted_rules()],
            "defaultSecurityRules": [r.to_arm(self, default=True) for r in _DEFAULT_SECURITY_RULES],
        }
        nics = [{"id": n.id} for n in backend.nics_sorted() if n.nsg_id and n.nsg_id.lower() == self.id.lower()]
        subnets = [{"id": s.id} for _, s in backend.subnets() if s.nsg_id and s.nsg_id.lower() == self.id.lower()]
        if nics:
            props["networkInterfaces"] = nics
        if subnets:
            props["subnets"] = subnets
        body: dict[str, Any] = {"name": self.name, "id": self.id,
                                "type": f"{NS}/networkSecurityGroups", "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        body["properties"] = props
        return with_etag(body)


@dataclass
class Route:
    name: str
    address_prefix: str
    next_hop_type: str
    next_hop_ip: str | None = None

    @classmethod
    def parse(cls, name: str, props: dict[str, Any]) -> Route:
        prefix = str(props.get("addressPrefix") or "")
        if not tag_prefixes(prefix):
            try:
                network(prefix)
            except ValueError:
                raise errors.invalid_value(f"routes/{name}.addressPrefix", prefix,
                                           "a CIDR or a service tag") from None
        hop = _choice(props.get("nextHopType"), NEXT_HOP_TYPES, f"routes/{name}.nextHopType")
        ip = props.get("nextHopIpAddress")
        if hop == "VirtualAppliance" and not ip:
            raise errors.invalid_value(f"routes/{name}.nextHopIpAddress", ip, "an IP address for VirtualAppliance")
        return cls(name, prefix, hop, str(ip) if ip else None)

    def to_arm(self, table: RouteTable) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": "Succeeded", "addressPrefix": self.address_prefix,
                                 "nextHopType": self.next_hop_type}
        if self.next_hop_ip:
            props["nextHopIpAddress"] = self.next_hop_ip
        props["hasBgpOverride"] = False
        return with_etag({"name": self.name, "id": f"{table.id}/routes/{self.name}",
                          "type": f"{NS}/routeTables/routes", "properties": props})

    def entry(self, table: RouteTable) -> RouteEntry:
        tag = self.address_prefix if tag_prefixes(self.address_prefix) else None
        prefixes = tag_prefixes(self.address_prefix) or (str(network(self.address_prefix)),)
        return RouteEntry(self.name, "User", "Active", tuple(prefixes), self.next_hop_type,
                          (self.next_hop_ip,) if self.next_hop_ip else (), table.id, tag)


@dataclass
class RouteTable:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    routes: dict[str, Route] = field(default_factory=dict)
    disable_bgp_route_propagation: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _rid(self.subscription_id, self.resource_group, "routeTables", self.name)

    @property
    def guid(self) -> str:
        return _guid(self.id)

    def to_arm(self, backend: NetworkBackend) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": "Succeeded", "resourceGuid": self.guid,
                                 "disableBgpRoutePropagation": self.disable_bgp_route_propagation,
                                 "routes": [r.to_arm(self) for r in sorted(self.routes.values(),
                                                                          key=lambda r: r.name.lower())]}
        subnets = [{"id": s.id} for _, s in backend.subnets()
                   if s.route_table_id and s.route_table_id.lower() == self.id.lower()]
        if subnets:
            props["subnets"] = subnets
        body: dict[str, Any] = {"name": self.name, "id": self.id, "type": f"{NS}/routeTables",
                                "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        body["properties"] = props
        return with_etag(body)


@dataclass
class Subnet:
    vnet_id: str
    name: str
    address_prefix: str
    nsg_id: str | None = None
    route_table_id: str | None = None
    service_endpoints: tuple[str, ...] = ()  # e.g. Microsoft.Storage

    @property
    def id(self) -> str:
        return f"{self.vnet_id}/subnets/{self.name}"

    def to_arm(self, vnet: VirtualNetwork, backend: NetworkBackend) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": "Succeeded", "addressPrefix": self.address_prefix}
        if self.nsg_id:
            props["networkSecurityGroup"] = {"id": self.nsg_id}
        if self.route_table_id:
            props["routeTable"] = {"id": self.route_table_id}
        if self.service_endpoints:
            props["serviceEndpoints"] = [{"provisioningState": "Succeeded", "service": s, "locations": [vnet.location]}
                                         for s in self.service_endpoints]
        configs = [{"id": f"{n.id}/ipConfigurations/ipconfig1"} for n in backend.nics_sorted()
                   if n.subnet_id.lower() == self.id.lower()]
        if configs:
            props["ipConfigurations"] = configs
        props["privateEndpointNetworkPolicies"] = "Disabled"
        props["privateLinkServiceNetworkPolicies"] = "Enabled"
        return with_etag({"name": self.name, "id": self.id, "type": f"{NS}/virtualNetworks/subnets",
                          "properties": props})


@dataclass
class VirtualNetwork:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    address_prefixes: tuple[str, ...] = ("10.0.0.0/16",)
    dns_servers: tuple[str, ...] = ()
    subnets: dict[str, Subnet] = field(default_factory=dict)
    # The sandbox's model of what the custom DNS servers do: whether they resolve the storage
    # endpoints (*.blob.core.windows.net). Azure cannot see it; the guest finds out.
    dns_resolves_storage: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _rid(self.subscription_id, self.resource_group, "virtualNetworks", self.name)

    @property
    def guid(self) -> str:
        return _guid(self.id)

    def to_arm(self, backend: NetworkBackend) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": "Succeeded", "resourceGuid": self.guid,
                                 "addressSpace": {"addressPrefixes": list(self.address_prefixes)}}
        if self.dns_servers:
            props["dhcpOptions"] = {"dnsServers": list(self.dns_servers)}
        props["subnets"] = [s.to_arm(self, backend) for s in sorted(self.subnets.values(), key=lambda s: s.name.lower())]
        props["virtualNetworkPeerings"] = []
        props["enableDdosProtection"] = False
        body: dict[str, Any] = {"name": self.name, "id": self.id,
                                "type": f"{NS}/virtualNetworks", "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        body["properties"] = props
        return with_etag(body)


@dataclass
class NetworkInterface:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    subnet_id: str
    private_ip: str
    nsg_id: str | None = None
    dns_servers: tuple[str, ...] = ()
    mac: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return _rid(self.subscription_id, self.resource_group, "networkInterfaces", self.name)

    @property
    def guid(self) -> str:
        return _guid(self.id)

    def to_arm(self, backend: NetworkBackend) -> dict[str, Any]:
        vm = backend.vm_of(self)
        subnet = backend.find_subnet(self.subnet_id)
        applied = self.dns_servers or (subnet[0].dns_servers if subnet else ())
        props: dict[str, Any] = {
            "provisioningState": "Succeeded", "resourceGuid": self.guid,
            "ipConfigurations": [{"name": "ipconfig1", "id": f"{self.id}/ipConfigurations/ipconfig1",
                                  "type": f"{NS}/networkInterfaces/ipConfigurations",
                                  "properties": {"provisioningState": "Succeeded",
                                                 "privateIPAddress": self.private_ip,
                                                 "privateIPAllocationMethod": "Dynamic",
                                                 "subnet": {"id": self.subnet_id}, "primary": True,
                                                 "privateIPAddressVersion": "IPv4"}}],
            "dnsSettings": {"dnsServers": list(self.dns_servers), "appliedDnsServers": list(applied),
                            "internalDomainNameSuffix": f"{self.guid[:8]}.bx.internal.cloudapp.net"},
            "macAddress": self.mac, "enableAcceleratedNetworking": False, "enableIPForwarding": False,
            "primary": True, "nicType": "Standard",
        }
        if self.nsg_id:
            props["networkSecurityGroup"] = {"id": self.nsg_id}
        if vm is not None:
            props["virtualMachine"] = {"id": vm.id}
        body: dict[str, Any] = {"name": self.name, "id": self.id,
                                "type": f"{NS}/networkInterfaces", "location": self.location}
        if self.tags:
            body["tags"] = dict(self.tags)
        body["properties"] = props
        return with_etag(body)


@dataclass
class NetworkWatcher:
    subscription_id: str
    resource_group: str
    name: str
    location: str

    @property
    def id(self) -> str:
        return _rid(self.subscription_id, self.resource_group, "networkWatchers", self.name)

    def to_arm(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "etag": f'W/"{_guid(self.id)}"', "type": f"{NS}/networkWatchers",
                "location": self.location, "properties": {"provisioningState": "Succeeded"}}


@dataclass(frozen=True)
class PathBlock:
    """Why a NIC's outbound HTTPS to its region's storage does not get through (the backup physics)."""

    reason: str  # nsg | route | dns
    detail: str


class NetworkBackend:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox
        self.vnets: dict[str, VirtualNetwork] = {}
        self.nsgs: dict[str, NetworkSecurityGroup] = {}
        self.route_tables: dict[str, RouteTable] = {}
        self.nics: dict[str, NetworkInterface] = {}
        self.watchers: dict[str, NetworkWatcher] = {}

    # ---- lookups ---------------------------------------------------------------------------
    def _get(self, table: dict[str, Any], kind: str, sub: str, group: str, name: str) -> Any:
        found = table.get(_rid(sub, group, kind, name).lower())
        if found is None:
            raise errors.not_found(kind, name, group)
        return found

    def get_nsg(self, sub: str, group: str, name: str) -> NetworkSecurityGroup:
        return self._get(self.nsgs, "networkSecurityGroups", sub, group, name)  # type: ignore[no-any-return]

    def get_route_table(self, sub: str, group: str, name: str) -> RouteTable:
        return self._get(self.route_tables, "routeTables", sub, group, name)  # type: ignore[no-any-return]

    def get_vnet(self, sub: str, group: str, name: str) -> VirtualNetwork:
        return self._get(self.vnets, "virtualNetworks", sub, group, name)  # type: ignore[no-any-return]

    def get_nic(self, sub: str, group: str, name: str) -> NetworkInterface:
        return self._get(self.nics, "networkInterfaces", sub, group, name)  # type: ignore[no-any-return]

    def get_watcher(self, sub: str, group: str, name: str) -> NetworkWatcher:
        return self._get(self.watchers, "networkWatchers", sub, group, name)  # type: ignore[no-any-return]

    def nics_sorted(self) -> list[NetworkInterface]:
        return sorted(self.nics.values(), key=lambda n: n.id.lower())

    def subnets(self) -> list[tuple[VirtualNetwork, Subnet]]:
        return [(v, s) for v in self.vnets.values() for s in v.subnets.values()]

    def find_subnet(self, subnet_id: str) -> tuple[VirtualNetwork, Subnet] | None:
        vnet_id, _, name = subnet_id.rpartition("/subnets/")
        vnet = self.vnets.get(vnet_id.lower())
        if vnet is None:
            return None
        subnet = vnet.subnets.get(name.lower())
        return (vnet, subnet) if subnet else None

    def listed(self, table: dict[str, Any], sub: str, group: str | None) -> list[Any]:
        prefix = f"/subscriptions/{sub}/".lower() + (f"resourcegroups/{group}/".lower() if group else "")
        return sorted((r for k, r in table.items() if k.startswith(prefix)), key=lambda r: r.id.lower())

    def vm_of(self, nic: NetworkInterface) -> VirtualMachine | None:
        for vm in self._sb.compute.vms.values():
            if any(i.lower() == nic.id.lower() for i in vm.nic_ids):
                return vm
        return None

    def vm_nics(self, vm: VirtualMachine) -> list[NetworkInterface]:
        return [self.nics[i.lower()] for i in vm.nic_ids if i.lower() in self.nics]

    # ---- writes ----------------------------------------------------------------------------
    def put_nsg(self, sub: str, group: str, name: str, location: str, props: dict[str, Any],
                tags: dict[str, str] | None = None) -> tuple[NetworkSecurityGroup, bool]:
        rules: dict[str, SecurityRule] = {}
        for raw in props.get("securityRules") or []:
            rule = SecurityRule.parse(str(raw.get("name") or ""), raw.get("properties") or {})
            self._check_conflicts(rules.values(), rule)
            rules[rule.name.lower()] = rule
        key = _rid(sub, group, "networkSecurityGroups", name).lower()
        existing = self.nsgs.get(key)
        if existing is not None:
            existing.rules, existing.tags = rules, dict(tags or existing.tags)
            return existing, False
        nsg = NetworkSecurityGroup(sub, group, name, location, rules, dict(tags or {}))
        self.nsgs[key] = nsg
        return nsg, True

    @staticmethod
    def _check_conflicts(rules: Any, rule: SecurityRule) -> None:
        for other in rules:
            if other.name.lower() != rule.name.lower() and other.priority == rule.priority \
                    and other.direction == rule.direction:
                raise errors.rule_conflict(rule.name, other.name)

    def put_rule(self, nsg: NetworkSecurityGroup, name: str, props: dict[str, Any]) -> tuple[SecurityRule, bool]:
        rule = SecurityRule.parse(name, props)
        self._check_conflicts(nsg.rules.values(), rule)
        created = name.lower() not in nsg.rules
        nsg.rules[name.lower()] = rule
        return rule, created

    def delete_rule(self, nsg: NetworkSecurityGroup, name: str) -> bool:
        return nsg.rules.pop(name.lower(), None) is not None

    def delete_nsg(self, nsg: NetworkSecurityGroup) -> None:
        for nic in self.nics.values():
            if nic.nsg_id and nic.nsg_id.lower() == nsg.id.lower():
                raise errors.in_use("Network security group", nsg.id, nic.id)
        for _, subnet in self.subnets():
            if subnet.nsg_id and subnet.nsg_id.lower() == nsg.id.lower():
                raise errors.in_use("Network security group", nsg.id, subnet.id)
        del self.nsgs[nsg.id.lower()]

    def put_route_table(self, sub: str, group: str, name: str, location: str, props: dict[str, Any],
                        tags: dict[str, str] | None = None) -> tuple[RouteTable, bool]:
        routes = {}
        for raw in props.get("routes") or []:
            route = Route.parse(str(raw.get("name") or ""), raw.get("properties") or {})
            routes[route.name.lower()] = route
        key = _rid(sub, group, "routeTables", name).lower()
        existing = self.route_tables.get(key)
        disable = bool(props.get("disableBgpRoutePropagation", False))
        if existing is not None:
            existing.routes, existing.disable_bgp_route_propagation = routes, disable
            return existing, False
        table = RouteTable(sub, group, name, location, routes, disable, dict(tags or {}))
        self.route_tables[key] = table
        return table, True

    def put_route(self, table: RouteTable, name: str, props: dict[str, Any]) -> tuple[Route, bool]:
        route = Route.parse(name, props)
        created = name.lower() not in table.routes
        table.routes[name.lower()] = route
        return route, created

    def delete_route_table(self, table: RouteTable) -> None:
        for _, subnet in self.subnets():
            if subnet.route_table_id and subnet.route_table_id.lower() == table.id.lower():
                raise errors.in_use("Route table", table.id, subnet.id)
        del self.route_tables[table.id.lower()]

    def _reference(self, ref: Any, table: dict[str, Any], what: str) -> str | None:
        if not ref:
            return None
        rid = str(ref.get("id") if isinstance(ref, dict) else ref)
        found = table.get(rid.lower())
        if found is None:
            raise errors.invalid_reference(what, rid)
        return str(found.id)

    def put_vnet(self, sub: str, group: str, name: str, location: str, props: dict[str, Any],
                 tags: dict[str, str] | None = None) -> tuple[VirtualNetwork, bool]:
        key = _rid(sub, group, "virtualNetworks", name).lower()
        existing = self.vnets.get(key)
        space = tuple((props.get("addressSpace") or {}).get("addressPrefixes") or ())
        if not space:
            raise errors.invalid_value("addressSpace.addressPrefixes", None, "at least one CIDR")
        vnet = existing or VirtualNetwork(sub, group, name, location)
        subnets: dict[str, Subnet] = {}
        for raw in props.get("subnets") or []:
            subnet = self._subnet(vnet, str(raw.get("name") or ""), raw.get("properties") or {})
            subnets[subnet.name.lower()] = subnet
        self._check_subnets_in_use(vnet, subnets)
        vnet.address_prefixes = tuple(str(p) for p in space)
        vnet.dns_servers = tuple(str(s) for s in (props.get("dhcpOptions") or {}).get("dnsServers") or ())
        vnet.subnets = subnets
        if tags is not None:
            vnet.tags = dict(tags)
        self.vnets[key] = vnet
        return vnet, existing is None

    def _check_subnets_in_use(self, vnet: VirtualNetwork, keep: dict[str, Subnet]) -> None:
        for name, subnet in vnet.subnets.items():
            if name not in keep:
                user = next((n for n in self.nics.values() if n.subnet_id.lower() == subnet.id.lower()), None)
                if user is not None:
                    raise errors.in_use("Subnet", subnet.name, f"{user.id}/ipConfigurations/ipconfig1")

    def _subnet(self, vnet: VirtualNetwork, name: str, props: dict[str, Any]) -> Subnet:
        prefix = str(props.get("addressPrefix") or "")
        try:
            network(prefix)
        except ValueError:
            raise errors.invalid_value(f"subnets/{name}.addressPrefix", prefix, "a CIDR") from None
        endpoints = tuple(str(e.get("service")) for e in props.get("serviceEndpoints") or [] if e.get("service"))
        return Subnet(vnet.id, name, prefix, self._reference(props.get("networkSecurityGroup"), self.nsgs,
                                                             "Network security group"),
                      self._reference(props.get("routeTable"), self.route_tables, "Route table"), endpoints)

    def put_subnet(self, vnet: VirtualNetwork, name: str, props: dict[str, Any]) -> tuple[Subnet, bool]:
        subnet = self._subnet(vnet, name, props)
        created = name.lower() not in vnet.subnets
        vnet.subnets[name.lower()] = subnet
        return subnet, created

    def put_nic(self, sub: str, group: str, name: str, location: str, props: dict[str, Any],
                tags: dict[str, str] | None = None) -> tuple[NetworkInterface, bool]:
        configs = props.get("ipConfigurations") or []
        if not configs:
            raise errors.invalid_value("ipConfigurations", None, "one IP configuration")
        config = configs[0].get("properties") or {}
        subnet_id = str((config.get("subnet") or {}).get("id") or "")
        found = self.find_subnet(subnet_id)
        if found is None:
            raise errors.invalid_reference("Subnet", subnet_id)
        key = _rid(sub, group, "networkInterfaces", name).lower()
        existing = self.nics.get(key)
        ip = str(config.get("privateIPAddress") or (existing.private_ip if existing else "")) \
            or self.next_address(found[1])
        nsg_id = self._reference(props.get("networkSecurityGroup"), self.nsgs, "Network security group")
        dns = tuple(str(s) for s in (props.get("dnsSettings") or {}).get("dnsServers") or ())
        if existing is not None:
            existing.subnet_id, existing.private_ip, existing.nsg_id, existing.dns_servers = \
                found[1].id, ip, nsg_id, dns
            if tags is not None:
                existing.tags = dict(tags)
            return existing, False
        nic = NetworkInterface(sub, group, name, location, found[1].id, ip, nsg_id, dns,
                               mac=_mac(_rid(sub, group, "networkInterfaces", name)), tags=dict(tags or {}))
        self.nics[key] = nic
        return nic, True

    def next_address(self, subnet: Subnet) -> str:
        """The next free address of a subnet (Azure keeps .0-.3 and the last one)."""
        taken = {n.private_ip for n in self.nics.values() if n.subnet_id.lower() == subnet.id.lower()}
        net = network(subnet.address_prefix)
        for offset, host in enumerate(net.hosts()):
            if offset >= 3 and str(host) not in taken:
                return str(host)
        raise errors.invalid_value(f"subnets/{subnet.name}", subnet.address_prefix, "a subnet with free addresses")

    def put_watcher(self, sub: str, group: str, name: str, location: str) -> tuple[NetworkWatcher, bool]:
        key = _rid(sub, group, "networkWatchers", name).lower()
        if key in self.watchers:
            return self.watchers[key], False
        watcher = NetworkWatcher(sub, group, name, location)
        self.watchers[key] = watcher
        return watcher, True

    # ---- the path --------------------------------------------------------------------------
    def associations(self, nic: NetworkInterface) -> list[tuple[str, NetworkSecurityGroup]]:
        """The NSGs a NIC's outbound traffic passes, in order: the NIC's, then its subnet's."""
        out: list[tuple[str, NetworkSecurityGroup]] = []
        if nic.nsg_id and nic.nsg_id.lower() in self.nsgs:
            out.append(("networkInterface", self.nsgs[nic.nsg_id.lower()]))
        found = self.find_subnet(nic.subnet_id)
        if found and found[1].nsg_id and found[1].nsg_id.lower() in self.nsgs:
            out.append(("subnet", self.nsgs[found[1].nsg_id.lower()]))
        return out

    def vnet_space(self, nic: NetworkInterface) -> tuple[str, ...]:
        found = self.find_subnet(nic.subnet_id)
        return found[0].address_prefixes if found else ()

    def routes(self, nic: NetworkInterface) -> list[RouteEntry]:
        found = self.find_subnet(nic.subnet_id)
        user: list[RouteEntry] = []
        if found and found[1].route_table_id and found[1].route_table_id.lower() in self.route_tables:
            table = self.route_tables[found[1].route_table_id.lower()]
            user = [r.entry(table) for r in sorted(table.routes.values(), key=lambda r: r.name.lower())]
        return effective_routes(self.vnet_space(nic), user)

    def verify_flow(self, nic: NetworkInterface, *, direction: str, protocol: str, local_ip: str, local_port: int,
                    remote: ipaddress.IPv4Network, remote_port: int) -> Verdict:
        flow = {"direction": direction, "protocol": protocol, "local": network(local_ip), "remote": remote,
                "remote_port": remote_port, "local_port": local_port, "vnet_space": self.vnet_space(nic)}
        associations = self.associations(nic)
        if direction.lower() == "inbound":
            associations = list(reversed(associations))
        last: Verdict | None = None
        for _, nsg in associations:
            rule = first_match(nsg.views(), **flow)
            last = Verdict(rule.access if rule else "Deny", rule, nsg.id)
            if last.access == "Deny":
                return last
        return last or Verdict("Allow", None, None)

    def hop(self, nic: NetworkInterface, destination: ipaddress.IPv4Network) -> Hop:
        return next_hop(self.routes(nic), destination)

    def storage_path_block(self, vm: VirtualMachine) -> PathBlock | None:
        """Whether the VM's primary NIC can open TCP 443 to every prefix of its region's Storage tag
        (the snapshot extension writes to the service's storage in the VM's region)."""
        nics = self.vm_nics(vm)
        if not nics:
            return None
        nic = nics[0]
        tag = region_tag_name(vm.location)
        for prefix in tag_prefixes(tag) or ():
            dest = network(prefix)
            verdict = self.verify_flow(nic, direction="Outbound", protocol="Tcp", local_ip=nic.private_ip,
                                       local_port=EPHEMERAL_PORT, remote=dest, remote_port=443)
            if verdict.access == "Deny":
                name = verdict.rule.name if verdict.rule else "?"
                return PathBlock("nsg", f"rule {name} of {verdict.nsg_id} denies TCP 443 to {tag}")
            hop = self.hop(nic, dest)
            if hop.next_hop_type in ("None", "VirtualAppliance"):
                return PathBlock("route", f"route to {prefix} has next hop {hop.next_hop_type}"
                                          + (f" {hop.next_hop_ip}" if hop.next_hop_ip else ""))
        found = self.find_subnet(nic.subnet_id)
        if found and (nic.dns_servers or found[0].dns_servers) and not found[0].dns_resolves_storage:
            return PathBlock("dns", "the custom DNS servers do not resolve the storage endpoints")
        return None

    # ---- snapshots -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def rows(table: dict[str, Any]) -> list[dict[str, Any]]:
            return [r.to_arm(self) if not isinstance(r, NetworkWatcher) else r.to_arm()
                    for r in sorted(table.values(), key=lambda r: r.id.lower())]

        return {"virtualNetworks": rows(self.vnets), "networkSecurityGroups": rows(self.nsgs),
                "routeTables": rows(self.route_tables), "networkInterfaces": rows(self.nics),
                "networkWatchers": rows(self.watchers)}
