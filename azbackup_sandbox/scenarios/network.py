"""The network part of an estate document: virtual networks and subnets, NSGs and their rules, route
tables, Network Watchers, and each VM's NIC (docs/estate-files.md, "Network").

Every VM gets a NIC; a VM that says nothing gets Azure's portal defaults: the group's VNet `<group>-vnet`
(10.0.0.0/16, subnet `default`), an NSG `<vm>-nsg` on the NIC holding only the default rules, and one
Network Watcher per region (`NetworkWatcher_<region>` in `NetworkWatcherRG`). Rules and routes are
checked by the same parser the Network API uses, before anything is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import ArmError
from ..providers.network.models import Route, SecurityRule
from ..providers.network.tags import network as parse_network
from .reader import EstateError, Fields, join_path

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox
    from ..providers.compute.models import VirtualMachine
    from .spec import SubscriptionSpec, VmSpec

__all__ = ["NETWORK_KEYS", "NetworkSpec", "VmNetworkSpec", "parse_network_spec", "parse_vm_network",
           "build_network", "build_vm_network", "build_watchers", "export_network", "export_vm_network", "WATCHER_GROUP"]

WATCHER_GROUP = "NetworkWatcherRG"
_RULE_KEYS = ("name", "priority", "direction", "access", "protocol", "sourceAddressPrefix", "sourceAddressPrefixes",
              "sourcePortRange", "sourcePortRanges", "destinationAddressPrefix", "destinationAddressPrefixes",
              "destinationPortRange", "destinationPortRanges", "description")
NETWORK_KEYS: dict[str, tuple[str, ...]] = {
    "virtualNetwork": ("name", "resourceGroup", "location", "addressPrefixes", "dnsServers", "dnsResolvesStorage",
                       "subnets"),
    "subnet": ("name", "addressPrefix", "networkSecurityGroup", "routeTable", "serviceEndpoints"),
    "networkSecurityGroup": ("name", "resourceGroup", "location", "securityRules"),
    "securityRule": _RULE_KEYS,
    "routeTable": ("name", "resourceGroup", "location", "routes"),
    "route": ("name", "addressPrefix", "nextHopType", "nextHopIpAddress"),
    "networkWatcher": ("name", "resourceGroup", "location"),
    "vmNetwork": ("networkInterface", "virtualNetwork", "subnet", "networkSecurityGroup", "privateIpAddress",
                  "dnsServers"),
}


@dataclass(frozen=True)
class RuleSetSpec:
    """An NSG or a route table: its place and its children as the Network API's `properties`."""

    name: str
    resource_group: str
    location: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubnetSpec:
    name: str
    address_prefix: str
    nsg: str | None  # a reference: NAME or GROUP/NAME
    route_table: str | None
    service_endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class VnetSpec:
    name: str
    resource_group: str
    location: str
    address_prefixes: tuple[str, ...]
    dns_servers: tuple[str, ...]
    dns_resolves_storage: bool
    subnets: tuple[SubnetSpec, ...]


@dataclass(frozen=True)
class NetworkSpec:
    vnets: tuple[VnetSpec, ...] = ()
    nsgs: tuple[RuleSetSpec, ...] = ()
    route_tables: tuple[RuleSetSpec, ...] = ()
    watchers: tuple[RuleSetSpec, ...] | None = None  # None: one per region that has VMs


@dataclass(frozen=True)
class VmNetworkSpec:
    nic: str | None = None  # None: <vm>-nic
    vnet: str | None = None  # None: <group>-vnet
    subnet: str | None = None  # None: the VNet's first subnet
    nsg: str | None = None
    nsg_default: bool = True  # no networkSecurityGroup key: an NSG <vm>-nsg with the default rules
    private_ip: str | None = None
    dns_servers: tuple[str, ...] = ()


# ---- parsing -------------------------------------------------------------------------------------
def _strings(f: Fields, key: str) -> tuple[str, ...]:
    out = []
    for index, value in enumerate(f.items(key)):
        if not isinstance(value, str) or not value:
            raise EstateError(join_path(f.at(key), index), f"expected a non-empty string, got {value!r}")
        out.append(value)
    return tuple(out)


def _cidr(f: Fields, key: str, value: str, path: str | None = None) -> str:
    try:
        parse_network(value)
    except ValueError:
        raise EstateError(path or f.at(key), f"expected a CIDR such as 10.0.0.0/24, got {value!r}") from None
    return value


def _place(f: Fields, default_location: str, groups: Any) -> tuple[str, str, str]:
    name, group = f.text("name"), f.text("resourceGroup")
    location = f.text("location", None) or groups.location(group) or default_location
    groups.imply(group, location)
    return name, group, location


def _from_api(path: str, parse: Any, name: str, props: dict[str, Any]) -> None:
    try:
        parse(name, props)
    except ArmError as exc:
        raise EstateError(path, f"expected a valid {'rule' if parse is SecurityRule.parse else 'route'}: "
                                f"{exc.message}") from None


def parse_network_spec(f: Fields, groups: Any, default_location: str) -> NetworkSpec:
    nsgs = []
    for index, raw in enumerate(f.items("networkSecurityGroups")):
        path = join_path(f.at("networkSecurityGroups"), index)
        n = Fields(raw, path, NETWORK_KEYS["networkSecurityGroup"])
        name, group, location = _place(n, default_location, groups)
        rules, seen = [], set()
        for rindex, raw_rule in enumerate(n.items("securityRules")):
            rpath = join_path(n.at("securityRules"), rindex)
            r = Fields(raw_rule, rpath, NETWORK_KEYS["securityRule"])
            props = {k: r.raw(k) for k in _RULE_KEYS if k != "name" and r.has(k)}
            rule_name = r.text("name")
            _from_api(rpath, SecurityRule.parse, rule_name, props)
            key = (str(props.get("direction", "")).lower(), props.get("priority"))
            if key in seen:
                raise EstateError(rpath, f"expected a priority not used by another {key[0]} rule, got {key[1]}")
            seen.add(key)
            rules.append({"name": rule_name, "properties": props})
        nsgs.append(RuleSetSpec(name, group, location, {"securityRules": rules}))
    tables = []
    for index, raw in enumerate(f.items("routeTables")):
        path = join_path(f.at("routeTables"), index)
        t = Fields(raw, path, NETWORK_KEYS["routeTable"])
        name, group, location = _place(t, default_location, groups)
        routes = []
        for rindex, raw_route in enumerate(t.items("routes")):
            rpath = join_path(t.at("routes"), rindex)
            r = Fields(raw_route, rpath, NETWORK_KEYS["route"])
            props = {k: r.raw(k) for k in ("addressPrefix", "nextHopType", "nextHopIpAddress") if r.has(k)}
            route_name = r.text("name")
            _from_api(rpath, Route.parse, route_name, props)
            routes.append({"name": route_name, "properties": props})
        tables.append(RuleSetSpec(name, group, location, {"routes": routes}))
    vnets = []
    for index, raw in enumerate(f.items("virtualNetworks")):
        path = join_path(f.at("virtualNetworks"), index)
        v = Fields(raw, path, NETWORK_KEYS["virtualNetwork"])
        name, group, location = _place(v, default_location, groups)
        prefixes = tuple(_cidr(v, "addressPrefixes", p, join_path(v.at("addressPrefixes"), i))
                         for i, p in enumerate(_strings(v, "addressPrefixes"))) or ("10.0.0.0/16",)
        subnets = []
        for sindex, raw_subnet in enumerate(v.items("subnets")):
            spath = join_path(v.at("subnets"), sindex)
            s = Fields(raw_subnet, spath, NETWORK_KEYS["subnet"])
            prefix = _cidr(s, "addressPrefix", s.text("addressPrefix"))
            if not any(parse_network(prefix).subnet_of(parse_network(p)) for p in prefixes):
                raise EstateError(s.at("addressPrefix"), f"expected a prefix inside {', '.join(prefixes)}, got {prefix}")
            subnets.append(SubnetSpec(s.text("name"), prefix, _ref(s, "networkSecurityGroup", nsgs),
                                      _ref(s, "routeTable", tables), _strings(s, "serviceEndpoints")))
        if not subnets:
            subnets.append(SubnetSpec("default", _first_subnet(prefixes[0]), None, None))
        vnets.append(VnetSpec(name, group, location, prefixes, _strings(v, "dnsServers"),
                              v.flag("dnsResolvesStorage", True), tuple(subnets)))
    watchers: tuple[RuleSetSpec, ...] | None = None
    if f.has("networkWatchers"):
        found = []
        for index, raw in enumerate(f.items("networkWatchers")):
            w = Fields(raw, join_path(f.at("networkWatchers"), index), NETWORK_KEYS["networkWatcher"])
            found.append(RuleSetSpec(*_place(w, default_location, groups)))
        watchers = tuple(found)
    return NetworkSpec(tuple(vnets), tuple(nsgs), tuple(tables), watchers)


def _first_subnet(prefix: str) -> str:
    net = parse_network(prefix)
    return str(next(net.subnets(new_prefix=max(net.prefixlen, 24))))


def _ref(f: Fields, key: str, declared: list[RuleSetSpec]) -> str | None:
    value = f.text(key, None)
    if value is None:
        return None
    if _find(value, declared) is None:
        names = ", ".join(d.name for d in declared) or "none declared"
        raise EstateError(f.at(key), f"expected one of this subscription's {key}s ({names}), got '{value}'")
    return value


def _find(ref: str, declared: Any) -> Any:
    group, _, name = ref.rpartition("/")
    found = [d for d in declared if d.name.lower() == name.lower()
             and (not group or d.resource_group.lower() == group.lower())]
    return found[0] if len(found) == 1 else None


def parse_vm_network(raw: Any, path: str, spec: NetworkSpec) -> VmNetworkSpec:
    if raw is None:
        return VmNetworkSpec()
    f = Fields(raw, path, NETWORK_KEYS["vmNetwork"])
    vnet = f.text("virtualNetwork", None)
    if vnet is not None and _find(vnet, spec.vnets) is None:
        raise EstateError(f.at("virtualNetwork"), f"expected one of this subscription's virtualNetworks, got '{vnet}'")
    subnet = f.text("subnet", None)
    if subnet is not None and vnet is not None:
        if not any(s.name.lower() == subnet.lower() for s in _find(vnet, spec.vnets).subnets):
            raise EstateError(f.at("subnet"), f"expected a subnet of {vnet}, got '{subnet}'")
    nsg = None
    if f.has("networkSecurityGroup") and f.raw("networkSecurityGroup") is not None:
        nsg = _ref(f, "networkSecurityGroup", list(spec.nsgs))
    ip = f.text("privateIpAddress", None)
    if ip is not None:
        _cidr(f, "privateIpAddress", ip)
    return VmNetworkSpec(f.text("networkInterface", None), vnet, subnet, nsg,
                         not f.has("networkSecurityGroup"), ip, _strings(f, "dnsServers"))


# ---- building ------------------------------------------------------------------------------------
def build_network(sandbox: Sandbox, sub: SubscriptionSpec) -> None:
    """The subscription's declared NSGs, route tables and VNets (before its VMs' NICs)."""
    sid, net = sub.subscription_id, sub.network
    for nsg in net.nsgs:
        sandbox.network.put_nsg(sid, nsg.resource_group, nsg.name, nsg.location, nsg.properties)
    for table in net.route_tables:
        sandbox.network.put_route_table(sid, table.resource_group, table.name, table.location, table.properties)
    for vnet in net.vnets:
        subnets = []
        for s in vnet.subnets:
            props: dict[str, Any] = {"addressPrefix": s.address_prefix,
                                     "serviceEndpoints": [{"service": e} for e in s.service_endpoints]}
            if s.nsg:
                props["networkSecurityGroup"] = {"id": _id(sid, "networkSecurityGroups", _find(s.nsg, net.nsgs))}
            if s.route_table:
                props["routeTable"] = {"id": _id(sid, "routeTables", _find(s.route_table, net.route_tables))}
            subnets.append({"name": s.name, "properties": props})
        made, _ = sandbox.network.put_vnet(sid, vnet.resource_group, vnet.name, vnet.location, {
            "addressSpace": {"addressPrefixes": list(vnet.address_prefixes)},
            "dhcpOptions": {"dnsServers": list(vnet.dns_servers)}, "subnets": subnets})
        made.dns_resolves_storage = vnet.dns_resolves_storage


def build_vm_network(sandbox: Sandbox, sub: SubscriptionSpec, spec: VmSpec, vm: VirtualMachine) -> None:
    sid, net, vnet_spec = sub.subscription_id, sub.network, spec.network
    backend = sandbox.network
    if vnet_spec.vnet is not None:
        declared = _find(vnet_spec.vnet, net.vnets)
        vnet = backend.get_vnet(sid, declared.resource_group, declared.name)
    else:
        vnet = backend.vnets.get(_vnet_id(sid, vm.resource_group, f"{vm.resource_group}-vnet").lower())
        if vnet is None:
            vnet, _ = backend.put_vnet(sid, vm.resource_group, f"{vm.resource_group}-vnet", vm.location, {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]})
    subnet = (vnet.subnets.get(vnet_spec.subnet.lower()) if vnet_spec.subnet
              else sorted(vnet.subnets.values(), key=lambda s: s.name.lower())[0])
    nsg_id = None
    if vnet_spec.nsg is not None:
        nsg_id = _id(sid, "networkSecurityGroups", _find(vnet_spec.nsg, net.nsgs))
    elif vnet_spec.nsg_default:
        name = f"{vm.name}-nsg"
        if name.lower() in _names_in(backend.nsgs, sid, vm.resource_group):
            nsg_id = backend.get_nsg(sid, vm.resource_group, name).id
        else:
            nsg_id = backend.put_nsg(sid, vm.resource_group, name, vm.location, {})[0].id
    config: dict[str, Any] = {"subnet": {"id": subnet.id}}
    if vnet_spec.private_ip:
        config["privateIPAddress"] = vnet_spec.private_ip
    props: dict[str, Any] = {"ipConfigurations": [{"name": "ipconfig1", "properties": config}],
                             "dnsSettings": {"dnsServers": list(vnet_spec.dns_servers)}}
    if nsg_id:
        props["networkSecurityGroup"] = {"id": nsg_id}
    nic, _ = backend.put_nic(sid, vm.resource_group, vnet_spec.nic or f"{vm.name}-nic", vm.location, props)
    vm.nic_ids = [nic.id]


def build_watchers(sandbox: Sandbox, sub: SubscriptionSpec) -> None:
    sid = sub.subscription_id
    if sub.network.watchers is not None:
        for w in sub.network.watchers:
            sandbox.network.put_watcher(sid, w.resource_group, w.name, w.location)
        return
    regions = sorted({vm.location for vm in sub.vms if not vm.deleted})
    if regions and sandbox.resources.find_group(sid, WATCHER_GROUP) is None:
        sandbox.resources.add_group(sid, WATCHER_GROUP, regions[0])
    for region in regions:
        sandbox.network.put_watcher(sid, WATCHER_GROUP, f"NetworkWatcher_{region}", region)


def _vnet_id(sid: str, group: str, name: str) -> str:
    return f"/subscriptions/{sid}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}"


def _id(sid: str, kind: str, spec: RuleSetSpec) -> str:
    return f"/subscriptions/{sid}/resourceGroups/{spec.resource_group}/providers/Microsoft.Network/{kind}/{spec.name}"


def _names_in(table: dict[str, Any], sid: str, group: str) -> set[str]:
    prefix = f"/subscriptions/{sid}/resourcegroups/{group}/".lower()
    return {r.name.lower() for k, r in table.items() if k.startswith(prefix)}


# ---- exporting -----------------------------------------------------------------------------------
def _ref_text(resource: Any, all_of_kind: list[Any]) -> str:
    same = [r for r in all_of_kind if r.name.lower() == resource.name.lower()]
    return resource.name if len(same) == 1 else f"{resource.resource_group}/{resource.name}"


def export_network(sandbox: Sandbox, sid: str) -> dict[str, Any]:
    backend = sandbox.network
    nsgs = backend.listed(backend.nsgs, sid, None)
    tables = backend.listed(backend.route_tables, sid, None)
    out: dict[str, Any] = {}
    out["networkSecurityGroups"] = [
        {"name": n.name, "resourceGroup": n.resource_group, "location": n.location,
         **({"securityRules": [_export_rule(r) for r in n.sorted_rules()]} if n.rules else {})}
        for n in nsgs]
    out["routeTables"] = [
        {"name": t.name, "resourceGroup": t.resource_group, "location": t.location,
         **({"routes": [{k: v for k, v in {"name": r.name, "addressPrefix": r.address_prefix,
                                           "nextHopType": r.next_hop_type, "nextHopIpAddress": r.next_hop_ip}.items()
                         if v is not None} for r in sorted(t.routes.values(), key=lambda r: r.name.lower())]}
            if t.routes else {})}
        for t in tables]
    vnets = []
    for v in backend.listed(backend.vnets, sid, None):
        body: dict[str, Any] = {"name": v.name, "resourceGroup": v.resource_group, "location": v.location,
                                "addressPrefixes": list(v.address_prefixes)}
        if v.dns_servers:
            body["dnsServers"] = list(v.dns_servers)
        if not v.dns_resolves_storage:
            body["dnsResolvesStorage"] = False
        subnets = []
        for s in sorted(v.subnets.values(), key=lambda s: s.name.lower()):
            sb: dict[str, Any] = {"name": s.name, "addressPrefix": s.address_prefix}
            if s.nsg_id:
                sb["networkSecurityGroup"] = _ref_text(backend.nsgs[s.nsg_id.lower()], nsgs)
            if s.route_table_id:
                sb["routeTable"] = _ref_text(backend.route_tables[s.route_table_id.lower()], tables)
            if s.service_endpoints:
                sb["serviceEndpoints"] = list(s.service_endpoints)
            subnets.append(sb)
        body["subnets"] = subnets
        vnets.append(body)
    out["virtualNetworks"] = vnets
    out["networkWatchers"] = [{"name": w.name, "resourceGroup": w.resource_group, "location": w.location}
                              for w in backend.listed(backend.watchers, sid, None)]
    return out


def _export_rule(rule: SecurityRule) -> dict[str, Any]:
    body: dict[str, Any] = {"name": rule.name, "priority": rule.priority, "direction": rule.direction,
                            "access": rule.access, "protocol": rule.protocol}
    for single, values in (("sourceAddressPrefix", rule.source_prefixes), ("sourcePortRange", rule.source_ports),
                           ("destinationAddressPrefix", rule.destination_prefixes),
                           ("destinationPortRange", rule.destination_ports)):
        if len(values) == 1:
            body[single] = values[0]
        else:
            body[single.replace("Range", "Ranges").replace("Prefix", "Prefixes")] = list(values)
    if rule.description:
        body["description"] = rule.description
    return body


def export_vm_network(sandbox: Sandbox, vm: VirtualMachine) -> dict[str, Any] | None:
    backend = sandbox.network
    nics = backend.vm_nics(vm)
    if not nics:
        return None
    nic = nics[0]
    found = backend.find_subnet(nic.subnet_id)
    if found is None:
        return None
    vnet, subnet = found
    sid = vm.subscription_id
    body: dict[str, Any] = {"networkInterface": nic.name,
                            "virtualNetwork": _ref_text(vnet, backend.listed(backend.vnets, sid, None)),
                            "subnet": subnet.name}
    body["networkSecurityGroup"] = (_ref_text(backend.nsgs[nic.nsg_id.lower()], backend.listed(backend.nsgs, sid, None))
                                    if nic.nsg_id else None)
    body["privateIpAddress"] = nic.private_ip
    if nic.dns_servers:
        body["dnsServers"] = list(nic.dns_servers)
    return body
