"""Wire format of Microsoft.Network: virtual networks and subnets, network interfaces (with their
effective security rules and routes, long-running POSTs that answer only while the VM runs), network
security groups and their rules, route tables and routes, service tags, Network Watcher ipFlowVerify and
nextHop, and the RP's operation polling URLs.

The Network RP accepts api-versions from 2023 on here (what current SDKs, the CLI and templates send);
an older one gets ARM's NoRegisteredProviderFound."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from ...core.errors import ArmError, bad_request
from ...core.http import SandboxRequest, SandboxResponse, empty_response, json_response
from ...core.paging import page
from . import errors
from .models import NS, NetworkInterface, NetworkSecurityGroup, RouteTable, VirtualNetwork
from .tags import network, service_tags, tag_prefixes

if TYPE_CHECKING:
    from ...core.operations import Operation
    from ...core.router import Router
    from ...core.sandbox import Sandbox

__all__ = ["register", "MIN_API_VERSION"]

MIN_API_VERSION = "2023-02-01"
_API = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
_NSG = _RG + "/networkSecurityGroups/{nsgName}"
_RULE = _NSG + "/securityRules/{ruleName}"
_RT = _RG + "/routeTables/{routeTableName}"
_ROUTE = _RT + "/routes/{routeName}"
_VNET = _RG + "/virtualNetworks/{vnetName}"
_SUBNET = _VNET + "/subnets/{subnetName}"
_NIC = _RG + "/networkInterfaces/{nicName}"
_NW = _RG + "/networkWatchers/{watcherName}"
_LOC = _SUB + "/providers/Microsoft.Network/locations/{location}"


def _check_api(req: SandboxRequest, resource_type: str) -> None:
    version = str(req.query.get("api-version") or "")
    if not _API.match(version) or version[:10] < MIN_API_VERSION:
        raise errors.unsupported_api_version(version, resource_type, "eastus",
                                             f"{MIN_API_VERSION}, 2023-04-01, ..., 2024-05-01, 2025-05-01, 2026-03-01")


def _body(req: SandboxRequest) -> dict[str, Any]:
    try:
        raw = req.json() or {}
    except ValueError:
        raise bad_request("The request content was invalid and could not be deserialized.",
                          "InvalidRequestContent") from None
    if not isinstance(raw, dict):
        raise bad_request("The request content was invalid and could not be deserialized.", "InvalidRequestContent")
    return raw


def _location(sb: Sandbox, p: dict[str, str], body: dict[str, Any]) -> str:
    location = body.get("location")
    if location:
        return str(location).replace(" ", "").lower()
    return sb.resources.require_group(p["subscriptionId"], p["resourceGroupName"]).location


def _async(sb: Sandbox, req: SandboxRequest, sub: str, location: str, op: Operation, *,
           location_header: bool = False) -> dict[str, str]:
    base = f"{req.base_url}/subscriptions/{sub}/providers/{NS}/locations/{location}"
    api = req.query.get("api-version") or ""
    headers = {"Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={api}",
               "x-ms-request-id": op.id}
    if location_header:
        headers["Location"] = f"{base}/operationResults/{op.id}?api-version={api}"
    if sb.clock.rate > 0:
        headers["Retry-After"] = sb.retry_after_header(sb.config.retry_after_seconds)
    return headers


def _written(sb: Sandbox, req: SandboxRequest, p: dict[str, str], location: str, body: dict[str, Any],
             created: bool) -> SandboxResponse:
    """PUT answers as the Network RP does: 201/200 with the resource and an operation to poll."""
    op = sb.operations.begin(0)
    return json_response(201 if created else 200, body, _async(sb, req, p["subscriptionId"], location, op))


def _deleted(sb: Sandbox, req: SandboxRequest, p: dict[str, str], location: str, existed: bool) -> SandboxResponse:
    if not existed:
        return empty_response(204)
    op = sb.operations.begin(0)
    return empty_response(202, _async(sb, req, p["subscriptionId"], location, op, location_header=True))


def _listing(sb: Sandbox, req: SandboxRequest, items: list[dict[str, Any]]) -> SandboxResponse:
    return json_response(200, page(req, items, sb.config.page_size))


def _group_of(p: dict[str, str]) -> str | None:
    return p.get("resourceGroupName")


def _child(children: dict[str, Any], kind: str, name: str) -> Any:
    """A child resource (rule, route, subnet) by name, or the RP's 404 for it."""
    found = children.get(name.lower())
    if found is None:
        raise errors.child_not_found(kind, name)
    return found


# ---- network security groups and rules ---------------------------------------------------------------
def _nsg(sb: Sandbox, p: dict[str, str]) -> NetworkSecurityGroup:
    return sb.network.get_nsg(p["subscriptionId"], p["resourceGroupName"], p["nsgName"])


def _get_nsg(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups")
    return json_response(200, _nsg(sb, p).to_arm(sb.network))


def _list_nsgs(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups")
    return _listing(sb, req, [n.to_arm(sb.network) for n in sb.network.listed(sb.network.nsgs, p["subscriptionId"],
                                                                                _group_of(p))])


def _put_nsg(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups")
    body = _body(req)
    location = _location(sb, p, body)
    nsg, created = sb.network.put_nsg(p["subscriptionId"], p["resourceGroupName"], p["nsgName"], location,
                                      body.get("properties") or {}, body.get("tags"))
    return _written(sb, req, p, nsg.location, nsg.to_arm(sb.network), created)


def _delete_nsg(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups")
    try:
        nsg = _nsg(sb, p)
    except ArmError:
        return empty_response(204)
    sb.network.delete_nsg(nsg)
    return _deleted(sb, req, p, nsg.location, True)


def _get_rule(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups/securityRules")
    nsg = _nsg(sb, p)
    return json_response(200, _child(nsg.rules, "securityRules", p["ruleName"]).to_arm(nsg))


def _list_rules(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups/securityRules")
    nsg = _nsg(sb, p)
    return _listing(sb, req, [r.to_arm(nsg) for r in nsg.sorted_rules()])


def _put_rule(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups/securityRules")
    nsg = _nsg(sb, p)
    rule, created = sb.network.put_rule(nsg, p["ruleName"], _body(req).get("properties") or {})
    return _written(sb, req, p, nsg.location, rule.to_arm(nsg), created)


def _delete_rule(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkSecurityGroups/securityRules")
    nsg = _nsg(sb, p)
    return _deleted(sb, req, p, nsg.location, sb.network.delete_rule(nsg, p["ruleName"]))


# ---- route tables and routes ---------------------------------------------------------------------
def _rt(sb: Sandbox, p: dict[str, str]) -> RouteTable:
    return sb.network.get_route_table(p["subscriptionId"], p["resourceGroupName"], p["routeTableName"])


def _get_rt(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables")
    return json_response(200, _rt(sb, p).to_arm(sb.network))


def _list_rts(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables")
    return _listing(sb, req, [t.to_arm(sb.network) for t in sb.network.listed(sb.network.route_tables,
                                                                                p["subscriptionId"], _group_of(p))])


def _put_rt(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables")
    body = _body(req)
    table, created = sb.network.put_route_table(p["subscriptionId"], p["resourceGroupName"], p["routeTableName"],
                                                _location(sb, p, body), body.get("properties") or {},
                                                body.get("tags"))
    return _written(sb, req, p, table.location, table.to_arm(sb.network), created)


def _delete_rt(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables")
    try:
        table = _rt(sb, p)
    except ArmError:
        return empty_response(204)
    sb.network.delete_route_table(table)
    return _deleted(sb, req, p, table.location, True)


def _get_route(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables/routes")
    table = _rt(sb, p)
    return json_response(200, _child(table.routes, "routes", p["routeName"]).to_arm(table))


def _put_route(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables/routes")
    table = _rt(sb, p)
    route, created = sb.network.put_route(table, p["routeName"], _body(req).get("properties") or {})
    return _written(sb, req, p, table.location, route.to_arm(table), created)


def _delete_route(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "routeTables/routes")
    table = _rt(sb, p)
    existed = table.routes.pop(p["routeName"].lower(), None) is not None
    return _deleted(sb, req, p, table.location, existed)


# ---- virtual networks and subnets ----------------------------------------------------------------
def _vnet(sb: Sandbox, p: dict[str, str]) -> VirtualNetwork:
    return sb.network.get_vnet(p["subscriptionId"], p["resourceGroupName"], p["vnetName"])


def _get_vnet(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "virtualNetworks")
    return json_response(200, _vnet(sb, p).to_arm(sb.network))


def _list_vnets(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "virtualNetworks")
    return _listing(sb, req, [v.to_arm(sb.network) for v in sb.network.listed(sb.network.vnets, p["subscriptionId"],
                                                                                _group_of(p))])


def _put_vnet(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "virtualNetworks")
    body = _body(req)
    vnet, created = sb.network.put_vnet(p["subscriptionId"], p["resourceGroupName"], p["vnetName"],
                                        _location(sb, p, body), body.get("properties") or {}, body.get("tags"))
    return _written(sb, req, p, vnet.location, vnet.to_arm(sb.network), created)


def _get_subnet(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "virtualNetworks/subnets")
    vnet = _vnet(sb, p)
    return json_response(200, _child(vnet.subnets, "subnets", p["subnetName"]).to_arm(vnet, sb.network))


def _put_subnet(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "virtualNetworks/subnets")
    vnet = _vnet(sb, p)
    subnet, created = sb.network.put_subnet(vnet, p["subnetName"], _body(req).get("properties") or {})
    return _written(sb, req, p, vnet.location, subnet.to_arm(vnet, sb.network), created)


# ---- network interfaces ------------------------------------------------------------------------
def _nic(sb: Sandbox, p: dict[str, str]) -> NetworkInterface:
    return sb.network.get_nic(p["subscriptionId"], p["resourceGroupName"], p["nicName"])


def _get_nic(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkInterfaces")
    return json_response(200, _nic(sb, p).to_arm(sb.network))


def _list_nics(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkInterfaces")
    return _listing(sb, req, [n.to_arm(sb.network) for n in sb.network.listed(sb.network.nics, p["subscriptionId"],
                                                                                _group_of(p))])


def _put_nic(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkInterfaces")
    body = _body(req)
    nic, created = sb.network.put_nic(p["subscriptionId"], p["resourceGroupName"], p["nicName"],
                                      _location(sb, p, body), body.get("properties") or {}, body.get("tags"))
    return _written(sb, req, p, nic.location, nic.to_arm(sb.network), created)


def _running_nic(sb: Sandbox, p: dict[str, str]) -> NetworkInterface:
    nic = _nic(sb, p)
    vm = sb.network.vm_of(nic)
    if vm is None or not vm.running:
        raise errors.not_running(nic.name)
    return nic


def _post_result(sb: Sandbox, req: SandboxRequest, p: dict[str, str], location: str,
                 result: dict[str, Any]) -> SandboxResponse:
    """A long-running POST: 202 with both polling URLs; the result is served at the Location URL."""
    op = sb.operations.begin(0, lambda _op: {"result": result})
    return empty_response(202, _async(sb, req, p["subscriptionId"], location, op, location_header=True))


def _effective_nsgs(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkInterfaces")
    nic = _running_nic(sb, p)
    space = sb.network.vnet_space(nic)
    groups = []
    for level, nsg in sb.network.associations(nic):
        association: dict[str, Any] = {"networkInterface": {"id": nic.id}} if level == "networkInterface" else {
            "subnet": {"id": nic.subnet_id}}
        rules = [_effective_rule(r, space) for r in sorted(nsg.views(), key=lambda r: (r.direction, r.priority))]
        tag_map = {t: list(tag_prefixes(t) or ()) for r in nsg.views()
                   for t in r.source_prefixes + r.destination_prefixes if tag_prefixes(t)}
        groups.append({"networkSecurityGroup": {"id": nsg.id}, "association": association,
                       "effectiveSecurityRules": rules, "tagMap": tag_map})
    return _post_result(sb, req, p, nic.location, {"value": groups})


def _effective_rule(rule: Any, space: tuple[str, ...]) -> dict[str, Any]:
    def expanded(prefixes: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for prefix in prefixes:
            if prefix.lower() == "virtualnetwork":
                out += list(space)
            elif tag_prefixes(prefix):
                out += list(tag_prefixes(prefix) or ())
        return out

    body: dict[str, Any] = {"name": rule.qualified_name, "protocol": "All" if rule.protocol == "*" else rule.protocol,
                            "sourcePortRanges": [_port(x) for x in rule.source_ports],
                            "destinationPortRanges": [_port(x) for x in rule.destination_ports],
                            "sourceAddressPrefixes": list(rule.source_prefixes),
                            "destinationAddressPrefixes": list(rule.destination_prefixes)}
    for key, prefixes in (("expandedSourceAddressPrefix", rule.source_prefixes),
                          ("expandedDestinationAddressPrefix", rule.destination_prefixes)):
        values = expanded(prefixes)
        if values:
            body[key] = values
    body.update({"access": rule.access, "priority": rule.priority, "direction": rule.direction})
    return body


def _port(text: str) -> str:
    text = text.strip()
    if text == "*":
        return "0-65535"
    return text if "-" in text else f"{text}-{text}"


def _effective_routes(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkInterfaces")
    nic = _running_nic(sb, p)
    routes = []
    for route in sb.network.routes(nic):
        entry: dict[str, Any] = {"disableBgpRoutePropagation": False, "source": route.source,
                                 "state": route.state, "addressPrefix": list(route.address_prefixes),
                                 "nextHopIpAddress": list(route.next_hop_ip), "nextHopType": route.next_hop_type}
        if route.name:
            entry = {"name": route.name, **entry}
        if route.tag:
            entry["destinationServiceTags"] = [{"id": route.tag}]
        routes.append(entry)
    return _post_result(sb, req, p, nic.location, {"value": routes})


# ---- network watchers ----------------------------------------------------------------------------
def _list_watchers(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkWatchers")
    items = [w.to_arm() for w in sb.network.listed(sb.network.watchers, p["subscriptionId"], _group_of(p))]
    return json_response(200, {"value": items})  # the RP returns all watchers at once, no nextLink


def _get_watcher(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkWatchers")
    return json_response(200, sb.network.get_watcher(p["subscriptionId"], p["resourceGroupName"],
                                                     p["watcherName"]).to_arm())


def _put_watcher(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkWatchers")
    body = _body(req)
    location = _location(sb, p, body)
    for other in sb.network.watchers.values():
        if other.location == location and other.subscription_id.lower() == p["subscriptionId"].lower() \
                and other.name.lower() != p["watcherName"].lower():
            raise bad_request(f"Cannot create more than 1 network watchers for this subscription in this region "
                              f"({location}).", "NetworkWatcherCountLimitReached")
    watcher, created = sb.network.put_watcher(p["subscriptionId"], p["resourceGroupName"], p["watcherName"], location)
    return json_response(201 if created else 200, watcher.to_arm())


def _target_nic(sb: Sandbox, body: dict[str, Any]) -> NetworkInterface:
    """The NIC a Network Watcher request is about: targetNicResourceId, else the VM's primary NIC."""
    target = str(body.get("targetResourceId") or "")
    vm = next((v for v in sb.compute.vms.values() if v.id.lower() == target.lower()), None)
    if vm is None:
        raise bad_request(f"Target resource '{target}' was not found or is not a virtual machine.",
                          "InvalidTargetResourceId")
    nic_id = str(body.get("targetNicResourceId") or (vm.nic_ids[0] if vm.nic_ids else ""))
    nic = sb.network.nics.get(nic_id.lower())
    if nic is None:
        raise bad_request(f"Network interface '{nic_id}' was not found.", "InvalidTargetNicResourceId")
    if not vm.running:
        raise bad_request(f"Virtual machine '{vm.name}' is not running.", "VmNotRunning")
    return nic


def _address(body: dict[str, Any], key: str) -> ipaddress.IPv4Network:
    try:
        return network(str(body.get(key) or ""))
    except ValueError:
        raise bad_request(f"The value of {key} '{body.get(key)}' is not a valid IP address.",
                          "InvalidIpAddress") from None


def _ip_flow_verify(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkWatchers")
    watcher = sb.network.get_watcher(p["subscriptionId"], p["resourceGroupName"], p["watcherName"])
    body = _body(req)
    nic = _target_nic(sb, body)
    direction = str(body.get("direction") or "")
    protocol = str(body.get("protocol") or "")
    if direction not in ("Inbound", "Outbound") or protocol not in ("TCP", "UDP"):
        raise bad_request("direction must be Inbound or Outbound and protocol TCP or UDP.", "InvalidRequestFormat")
    local = str(body.get("localIPAddress") or nic.private_ip)
    ports = {}
    for key in ("localPort", "remotePort"):
        try:
            ports[key] = int(str(body.get(key) or ""))
        except ValueError:
            raise bad_request(f"The value of {key} must be a single port.", "InvalidRequestFormat") from None
    verdict = sb.network.verify_flow(nic, direction=direction, protocol=protocol.title(), local_ip=local,
                                     local_port=ports["localPort"], remote=_address(body, "remoteIPAddress"),
                                     remote_port=ports["remotePort"])
    result = {"access": verdict.access, "ruleName": verdict.rule.qualified_name if verdict.rule else ""}
    return _post_result(sb, req, p, watcher.location, result)


def _next_hop(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "networkWatchers")
    watcher = sb.network.get_watcher(p["subscriptionId"], p["resourceGroupName"], p["watcherName"])
    body = _body(req)
    nic = _target_nic(sb, body)
    hop = sb.network.hop(nic, _address(body, "destinationIPAddress"))
    result: dict[str, Any] = {"nextHopType": hop.next_hop_type,
                              "routeTableId": hop.route.route_table_id if hop.route and hop.route.route_table_id
                              else "System Route"}
    if hop.next_hop_ip:
        result["nextHopIpAddress"] = hop.next_hop_ip
    return _post_result(sb, req, p, watcher.location, result)


# ---- service tags and operations -----------------------------------------------------------------
def _service_tags(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    _check_api(req, "locations/serviceTags")
    location = p["location"].lower()
    return json_response(200, {"name": "Public", "id": f"/subscriptions/{p['subscriptionId']}/providers/{NS}"
                                                         f"/serviceTags/Public",
                               "type": f"{NS}/serviceTags", "changeNumber": "1", "cloud": "Public",
                               "values": service_tags(location)})


def _operation(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    op = sb.operations.get(p["operationId"])
    if not op.done:
        return json_response(200, {"status": "InProgress"},
                             {"Retry-After": sb.retry_after_header(sb.config.retry_after_seconds)})
    body: dict[str, Any] = {"status": op.status}
    if op.error:
        body["error"] = op.error
    return json_response(200, body)


def _operation_result(sb: Sandbox, req: SandboxRequest, p: dict[str, str]) -> SandboxResponse:
    op = sb.operations.get(p["operationId"])
    if not op.done:
        return empty_response(202, {"Location": f"{req.base_url}{req.path}?api-version="
                                                f"{req.query.get('api-version') or ''}"})
    if op.error:
        return json_response(400, {"error": op.error})
    result = (op.properties or {}).get("result")
    return json_response(200, result) if result is not None else empty_response(204)


# ---- registration --------------------------------------------------------------------------------
def register(router: Router) -> None:
    add = router.add
    a = "Microsoft.Network/"
    nsg = a + "networkSecurityGroups/"
    add("GET", _RG + "/networkSecurityGroups", _list_nsgs, operation="NetworkSecurityGroups_List", action=nsg + "read")
    add("GET", _SUB + "/providers/Microsoft.Network/networkSecurityGroups", _list_nsgs,
        operation="NetworkSecurityGroups_ListAll", action=nsg + "read")
    add("GET", _NSG, _get_nsg, operation="NetworkSecurityGroups_Get", action=nsg + "read")
    add("PUT", _NSG, _put_nsg, operation="NetworkSecurityGroups_CreateOrUpdate", action=nsg + "write",
        lock_check="write")
    add("DELETE", _NSG, _delete_nsg, operation="NetworkSecurityGroups_Delete", action=nsg + "delete",
        lock_check="delete")
    add("GET", _NSG + "/securityRules", _list_rules, operation="SecurityRules_List", action=nsg + "securityRules/read")
    add("GET", _RULE, _get_rule, operation="SecurityRules_Get", action=nsg + "securityRules/read")
    add("PUT", _RULE, _put_rule, operation="SecurityRules_CreateOrUpdate", action=nsg + "securityRules/write",
        lock_check="write")
    add("DELETE", _RULE, _delete_rule, operation="SecurityRules_Delete", action=nsg + "securityRules/delete",
        lock_check="delete")

    rt = a + "routeTables/"
    add("GET", _RG + "/routeTables", _list_rts, operation="RouteTables_List", action=rt + "read")
    add("GET", _SUB + "/providers/Microsoft.Network/routeTables", _list_rts, operation="RouteTables_ListAll",
        action=rt + "read")
    add("GET", _RT, _get_rt, operation="RouteTables_Get", action=rt + "read")
    add("PUT", _RT, _put_rt, operation="RouteTables_CreateOrUpdate", action=rt + "write", lock_check="write")
    add("DELETE", _RT, _delete_rt, operation="RouteTables_Delete", action=rt + "delete", lock_check="delete")
    add("GET", _ROUTE, _get_route, operation="Routes_Get", action=rt + "routes/read")
    add("PUT", _ROUTE, _put_route, operation="Routes_CreateOrUpdate", action=rt + "routes/write", lock_check="write")
    add("DELETE", _ROUTE, _delete_route, operation="Routes_Delete", action=rt + "routes/delete", lock_check="delete")

    vnet = a + "virtualNetworks/"
    add("GET", _RG + "/virtualNetworks", _list_vnets, operation="VirtualNetworks_List", action=vnet + "read")
    add("GET", _SUB + "/providers/Microsoft.Network/virtualNetworks", _list_vnets,
        operation="VirtualNetworks_ListAll", action=vnet + "read")
    add("GET", _VNET, _get_vnet, operation="VirtualNetworks_Get", action=vnet + "read")
    add("PUT", _VNET, _put_vnet, operation="VirtualNetworks_CreateOrUpdate", action=vnet + "write",
        lock_check="write")
    add("GET", _SUBNET, _get_subnet, operation="Subnets_Get", action=vnet + "subnets/read")
    add("PUT", _SUBNET, _put_subnet, operation="Subnets_CreateOrUpdate", action=vnet + "subnets/write",
        lock_check="write")

    nic = a + "networkInterfaces/"
    add("GET", _RG + "/networkInterfaces", _list_nics, operation="NetworkInterfaces_List", action=nic + "read")
    add("GET", _SUB + "/providers/Microsoft.Network/networkInterfaces", _list_nics,
        operation="NetworkInterfaces_ListAll", action=nic + "read")
    add("GET", _NIC, _get_nic, operation="NetworkInterfaces_Get", action=nic + "read")
    add("PUT", _NIC, _put_nic, operation="NetworkInterfaces_CreateOrUpdate", action=nic + "write",
        lock_check="write")
    add("POST", _NIC + "/effectiveNetworkSecurityGroups", _effective_nsgs,
        operation="NetworkInterfaces_ListEffectiveNetworkSecurityGroups",
        action=nic + "effectiveNetworkSecurityGroups/action")
    add("POST", _NIC + "/effectiveRouteTable", _effective_routes, operation="NetworkInterfaces_GetEffectiveRouteTable",
        action=nic + "effectiveRouteTable/action")

    nw = a + "networkWatchers/"
    add("GET", _RG + "/networkWatchers", _list_watchers, operation="NetworkWatchers_List", action=nw + "read")
    add("GET", _SUB + "/providers/Microsoft.Network/networkWatchers", _list_watchers,
        operation="NetworkWatchers_ListAll", action=nw + "read")
    add("GET", _NW, _get_watcher, operation="NetworkWatchers_Get", action=nw + "read")
    add("PUT", _NW, _put_watcher, operation="NetworkWatchers_CreateOrUpdate", action=nw + "write", lock_check="write")
    add("POST", _NW + "/ipFlowVerify", _ip_flow_verify, operation="NetworkWatchers_VerifyIPFlow",
        action=nw + "ipFlowVerify/action")
    add("POST", _NW + "/nextHop", _next_hop, operation="NetworkWatchers_GetNextHop", action=nw + "nextHop/action")

    add("GET", _LOC + "/serviceTags", _service_tags, operation="ServiceTags_List",
        action=a + "locations/serviceTags/read")
    add("GET", _LOC + "/operations/{operationId}", _operation, operation="NetworkOperations_Get",
        action=a + "locations/operations/read")
    add("GET", _LOC + "/operationResults/{operationId}", _operation_result, operation="NetworkOperationResults_Get",
        action=a + "locations/operationResults/read")

