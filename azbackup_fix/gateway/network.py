"""Reads and the one write of the network path (azure-mgmt-network, the optional extra ``network``).

:func:`read_network_path` gathers a :class:`~azbackup_fix.models.network.NetworkPath` for one VM:
its primary NIC, the VNet's DNS servers, the region's Storage service tag, the NIC's effective security
rules and routes (long-running POSTs, only while the VM runs) and, when the region has a Network
Watcher, its ipFlowVerify/nextHop verdicts for one storage address. Lists many VMs share (service tags
per region, watchers, VNets) and each NIC's effective rules and routes are cached on the gateway.

Without the extra, the path comes back ``unavailable=EXTRA_MISSING`` with what to install."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import PermissionDeniedError
from ..ids import ResourceId, normalize_region
from ..models.network import (
    EffectiveNsg,
    EffectiveRoute,
    EffectiveRule,
    FlowVerdict,
    NetworkInterfaceInfo,
    NetworkPath,
    NextHop,
    PathUnavailable,
)
from ..sdk_imports import SDK_IMPORT_LOCK
from .arm_errors import arm_call

if TYPE_CHECKING:
    from ..models import VirtualMachine
    from .gateway import Gateway

__all__ = ["EXTRA_HINT", "GatewayNetwork", "network_available", "read_network_path", "put_security_rule", "get_security_rule",
           "delete_security_rule", "NETWORK_API_VERSION"]

EXTRA_HINT = "pip install 'azbackup-fix[network]' (azure-mgmt-network)"
NETWORK_API_VERSION = "2026-03-01"  # azure-mgmt-network 33's default; the sandbox accepts 2023 onward
_CLIENT_LOCK = threading.Lock()


def network_available() -> bool:
    try:
        with SDK_IMPORT_LOCK:  # sdk_imports.py
            import azure.mgmt.network  # noqa: F401
    except ImportError:
        return False
    return True


def _client(gateway: Gateway) -> Any:
    """The gateway's NetworkManagementClient, made on first use with the same pipeline settings."""
    with _CLIENT_LOCK:
        client = getattr(gateway, "_network_client", None)
        if client is None:
            with SDK_IMPORT_LOCK:  # sdk_imports.py
                from azure.mgmt.network import NetworkManagementClient

            client = NetworkManagementClient(gateway._credential, gateway.subscription_id,
                                             **gateway.client_kwargs())
            gateway._network_client = client
            gateway._extra_clients.append(client)
        return client


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """Attribute path through SDK models (msrest or typespec ones alike)."""
    for name in names:
        if obj is None:
            return default
        obj = getattr(obj, name, None)
    return default if obj is None else obj


def _text(obj: Any, *names: str, default: str = "") -> str:
    """A string field; the SDK's enums (``SecurityRuleAccess.DENY``) as the wire value (``Deny``)."""
    value = _get(obj, *names)
    if value is None:
        return default
    return str(getattr(value, "value", value))


def _strings(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _id_parts(resource_id: str) -> tuple[str, str]:
    parsed = ResourceId.parse(resource_id)
    return parsed.resource_group or "", parsed.name


# ---- wire -> models --------------------------------------------------------------------------------
def _nic_from(model: Any) -> NetworkInterfaceInfo:
    configs = list(_get(model, "ip_configurations", default=[]) or [])
    primary = next((c for c in configs if _get(c, "primary")), configs[0] if configs else None)
    return NetworkInterfaceInfo(
        id=str(_get(model, "id")), name=str(_get(model, "name")),
        private_ip=_get(primary, "private_ip_address"), subnet_id=_get(primary, "subnet", "id"),
        nsg_id=_get(model, "network_security_group", "id"),
        dns_servers=_strings(_get(model, "dns_settings", "dns_servers")),
        applied_dns_servers=_strings(_get(model, "dns_settings", "applied_dns_servers")),
    )


def _rule_from(model: Any) -> EffectiveRule:
    def both(single: str, plural: str) -> tuple[str, ...]:
        values = _strings(_get(model, plural))
        return values or _strings(_get(model, single)) or ("*",)

    return EffectiveRule(
        name=_text(model, "name"), priority=int(_get(model, "priority", default=65500)),
        direction=_text(model, "direction"), access=_text(model, "access"),
        protocol=_text(model, "protocol", default="All"),
        source_prefixes=both("source_address_prefix", "source_address_prefixes"),
        source_ports=both("source_port_range", "source_port_ranges"),
        destination_prefixes=both("destination_address_prefix", "destination_address_prefixes"),
        destination_ports=both("destination_port_range", "destination_port_ranges"),
        expanded_source=_strings(_get(model, "expanded_source_address_prefix")),
        expanded_destination=_strings(_get(model, "expanded_destination_address_prefix")),
    )


def _nsgs_from(result: Any) -> tuple[EffectiveNsg, ...]:
    out = []
    for group in _get(result, "value", default=[]) or []:
        level = "networkInterface" if _get(group, "association", "network_interface") is not None else "subnet"
        rules = tuple(_rule_from(r) for r in _get(group, "effective_security_rules", default=[]) or [])
        out.append(EffectiveNsg(_text(group, "network_security_group", "id"), level, rules))
    return tuple(out)


def _routes_from(result: Any) -> tuple[EffectiveRoute, ...]:
    return tuple(
        EffectiveRoute(name=_get(r, "name"), source=_text(r, "source"),
                       state=_text(r, "state", default="Active"),
                       address_prefixes=_strings(_get(r, "address_prefix")),
                       next_hop_type=_text(r, "next_hop_type"),
                       next_hop_ips=_strings(_get(r, "next_hop_ip_address")),
                       service_tags=tuple(_text(t, "id") for t in
                                          _get(r, "destination_service_tags", default=[]) or []))
        for r in _get(result, "value", default=[]) or [])


# ---- cached reads ----------------------------------------------------------------------------------
def _storage_tag(gateway: Gateway, region: str) -> tuple[str, tuple[str, ...]]:
    """The regional Storage tag as the service spells it (Storage.EastUS) and its prefixes; one list per region."""

    def read() -> tuple[str, tuple[str, ...]]:
        with arm_call(f"service tags of {region}"):
            listing = _client(gateway).service_tags.list(region)
        # azure-mgmt-network 28+ renamed `values` (a list) to `values_property`.
        values = _get(listing, "values_property")
        if values is None or callable(values):
            values = _get(listing, "values", default=[])
        for tag in values if not callable(values) else []:
            props = _get(tag, "properties")
            if (_text(props, "system_service").casefold() == "azurestorage"
                    and normalize_region(_text(props, "region")) == region):
                return str(_get(tag, "name")), _strings(_get(props, "address_prefixes"))
        return f"Storage.{region}", ()

    return gateway._cached(("network-service-tags", region), read)


def _vnet_dns(gateway: Gateway, vnet_id: str) -> tuple[str, ...]:
    def read() -> tuple[str, ...]:
        group, name = _id_parts(vnet_id)
        with arm_call(f"virtual network {vnet_id}"):
            vnet = _client(gateway).virtual_networks.get(group, name)
        return _strings(_get(vnet, "dhcp_options", "dns_servers"))

    return gateway._cached(("network-vnet-dns", vnet_id), read)


def _watcher(gateway: Gateway, region: str) -> str | None:
    def read() -> tuple[tuple[str, str], ...]:
        with arm_call("network watchers"):
            return tuple((normalize_region(_text(w, "location")), str(_get(w, "id")))
                         for w in _client(gateway).network_watchers.list_all())

    return next((wid for loc, wid in gateway._cached(("network-watchers",), read) if loc == region), None)


def _effective(gateway: Gateway, nic: NetworkInterfaceInfo, pool: Any) -> tuple[Any, Any]:
    """Both long-running POSTs (started together), each once per NIC for the gateway's lifetime (a fleet
    asks each NIC once; an NSG change forgets them, :meth:`GatewayNetwork.invalidate_network`): their futures."""
    group, name = _id_parts(nic.id)

    def rules() -> tuple[EffectiveNsg, ...]:
        with arm_call(f"effective security rules of {nic.id}"):
            return _nsgs_from(_client(gateway).network_interfaces.begin_list_effective_network_security_groups(
                group, name).result())

    def routes() -> tuple[EffectiveRoute, ...]:
        with arm_call(f"effective routes of {nic.id}"):
            return _routes_from(_client(gateway).network_interfaces.begin_get_effective_route_table(
                group, name).result())

    return (pool.submit(gateway._cached, ("network-effective", nic.id, "rules"), rules),
            pool.submit(gateway._cached, ("network-effective", nic.id, "routes"), routes))


def _confirm(gateway: Gateway, watcher_id: str, vm: VirtualMachine, nic: NetworkInterfaceInfo,
             prefixes: tuple[str, ...], pool: Any) -> Callable[[], tuple[FlowVerdict | None, NextHop | None]]:
    """Network Watcher's own verdict for one storage address (the first host of the first prefix): its two
    long-running POSTs are independent and started together; returns what waits for both."""
    with SDK_IMPORT_LOCK:  # sdk_imports.py
        from azure.mgmt.network.models import NextHopParameters, VerificationIPFlowParameters

    if not prefixes or not nic.private_ip:
        return lambda: (None, None)
    remote = str(next(ipaddress.ip_network(prefixes[0], strict=False).hosts()))
    group, name = _id_parts(watcher_id)
    client = _client(gateway)

    def flow() -> Any:
        with arm_call(f"Network Watcher ipFlowVerify for {vm.ref.name}"):
            return client.network_watchers.begin_verify_ip_flow(group, name, VerificationIPFlowParameters(
                target_resource_id=vm.ref.id, target_nic_resource_id=nic.id, direction="Outbound", protocol="TCP",
                local_port="50000", remote_port="443", local_ip_address=nic.private_ip,
                remote_ip_address=remote)).result()

    def hop() -> Any:
        with arm_call(f"Network Watcher nextHop for {vm.ref.name}"):
            return client.network_watchers.begin_get_next_hop(group, name, NextHopParameters(
                target_resource_id=vm.ref.id, target_nic_resource_id=nic.id, source_ip_address=nic.private_ip,
                destination_ip_address=remote)).result()

    # Cached as the effective lists are: the same question, asked again in one run, has the same answer
    # until an NSG change (which forgets both).
    key = (vm.ref.id, nic.id, remote)
    verdict = pool.submit(gateway._cached, ("network-verdict-flow", *key), flow)
    next_hop = pool.submit(gateway._cached, ("network-verdict-hop", *key), hop)

    def finish() -> tuple[FlowVerdict | None, NextHop | None]:
        verdict_, next_hop_ = verdict.result(), next_hop.result()
        return (FlowVerdict(_text(verdict_, "access"), _text(verdict_, "rule_name"), remote),
                NextHop(_text(next_hop_, "next_hop_type"), _get(next_hop_, "next_hop_ip_address"),
                        _get(next_hop_, "route_table_id"), remote))

    return finish


def _nic(gateway: Gateway, nic_id: str) -> NetworkInterfaceInfo:
    def read() -> NetworkInterfaceInfo:
        group, name = _id_parts(nic_id)
        with arm_call(f"network interface {nic_id}"):
            return _nic_from(_client(gateway).network_interfaces.get(group, name))

    return gateway._cached(("network-nic", nic_id), read)


def read_network_path(gateway: Gateway, vm: VirtualMachine, pool: Any = None) -> NetworkPath:
    """The path from ``vm``'s primary NIC to its region's storage, as far as Azure shows it.

    ``pool`` (an executor, e.g. :func:`~azbackup_fix.gateway.observe_vm`'s) runs the independent reads
    together: the service tags, the NIC and the watchers first; then the VNet, both effective lists and
    both Network Watcher verdicts. Without one, each read runs in turn in the caller's thread."""
    from .observation import inline_executor

    pool = pool if pool is not None else inline_executor()
    region = normalize_region(vm.location)
    if not network_available():
        return NetworkPath(region, f"Storage.{region}", unavailable=PathUnavailable.EXTRA_MISSING, detail=EXTRA_HINT)
    try:
        tag_read = pool.submit(_storage_tag, gateway, region)
        if not vm.nic_ids:
            tag, prefixes = tag_read.result()
            return NetworkPath(region, tag, prefixes, unavailable=PathUnavailable.NO_NIC,
                               detail="the VM model names no network interface")
        nic_read = pool.submit(_nic, gateway, vm.nic_ids[0])
        # Effective lists exist only while the VM runs; the watcher is wanted only then.
        watcher_read = pool.submit(_watcher, gateway, region) if vm.is_running else None
        tag, prefixes = tag_read.result()
        nic = nic_read.result()
        dns_read = pool.submit(_vnet_dns, gateway, nic.vnet_id) if nic.vnet_id else None
        if not vm.is_running:
            base = NetworkPath(region, tag, prefixes, nic, dns_read.result() if dns_read is not None else ())
            return _replace(base, unavailable=PathUnavailable.NOT_RUNNING,
                            detail=f"the VM is {vm.power_state or 'not running'}: Azure computes effective "
                                   "rules and routes only while it runs")
        assert watcher_read is not None
        nsgs, routes = _effective(gateway, nic, pool)
        watcher = watcher_read.result()
        confirmed = _confirm(gateway, watcher, vm, nic, prefixes, pool) if watcher else None
        # Answers taken in the order the reads were asked one by one: a denied effective-rules POST is
        # what the diagnosis names, whichever denial came back first.
        effective_nsgs, effective_routes = nsgs.result(), routes.result()
        flow, hop = confirmed() if confirmed is not None else (None, None)
        dns = dns_read.result() if dns_read is not None else ()
        return NetworkPath(region, tag, prefixes, nic, dns, effective_nsgs=effective_nsgs,
                           effective_routes=effective_routes, watcher_id=watcher, flow=flow, next_hop=hop)
    except PermissionDeniedError as exc:
        # Reader lacks the effective-rules POST actions: say what was not read. Any other failure is the
        # diagnosis's own (it fails, naming the ARM error), as for every other read.
        return NetworkPath(region, f"Storage.{region}", unavailable=PathUnavailable.DENIED, detail=str(exc))


def _replace(path: NetworkPath, **changes: Any) -> NetworkPath:
    from dataclasses import replace

    return replace(path, **changes)


# ---- the write -------------------------------------------------------------------------------------
def get_security_rule(gateway: Gateway, nsg_id: str, name: str) -> dict[str, Any] | None:
    """The rule's properties as ARM holds them, or None when it does not exist."""
    from ..errors import NotFoundError

    group, nsg = _id_parts(nsg_id)
    try:
        with arm_call(f"security rule {name} of {nsg_id}"):
            rule = _client(gateway).security_rules.get(group, nsg, name)
    except NotFoundError:
        return None
    return {"priority": _get(rule, "priority"), "access": _text(rule, "access"),
            "direction": _text(rule, "direction"), "protocol": _text(rule, "protocol"), "sourceAddressPrefix": _get(rule, "source_address_prefix"),
            "destinationAddressPrefix": _get(rule, "destination_address_prefix"),
            "destinationPortRange": _get(rule, "destination_port_range")}


def put_security_rule(gateway: Gateway, nsg_id: str, name: str, properties: dict[str, Any]) -> str:
    """PUT one rule into the NSG (nothing else in it changes); returns the rule's id."""
    with SDK_IMPORT_LOCK:  # sdk_imports.py
        from azure.mgmt.network.models import SecurityRule

    group, nsg = _id_parts(nsg_id)
    body = SecurityRule(
        description=properties.get("description"), protocol=properties["protocol"],
        source_address_prefix=properties["sourceAddressPrefix"], source_port_range=properties["sourcePortRange"],
        destination_address_prefix=properties["destinationAddressPrefix"],
        destination_port_range=properties["destinationPortRange"], access=properties["access"],
        priority=properties["priority"], direction=properties["direction"])
    with arm_call(f"security rule {name} of {nsg_id}"):
        made = _client(gateway).security_rules.begin_create_or_update(group, nsg, name, body).result()
    gateway.invalidate_network(nsg_id)
    return str(_get(made, "id", default=f"{nsg_id}/securityRules/{name}"))


def delete_security_rule(gateway: Gateway, nsg_id: str, name: str) -> None:
    group, nsg = _id_parts(nsg_id)
    with arm_call(f"security rule {name} of {nsg_id}"):
        _client(gateway).security_rules.begin_delete(group, nsg, name).result()
    gateway.invalidate_network(nsg_id)


class GatewayNetwork:
    """The network methods of :class:`~azbackup_fix.gateway.Gateway` (a mixin: the client is made on first use)."""

    def network_path(self, vm: VirtualMachine, pool: Any = None) -> NetworkPath:
        return read_network_path(self, vm, pool)  # type: ignore[arg-type]

    def get_security_rule(self, nsg_id: str, name: str) -> dict[str, Any] | None:
        return get_security_rule(self, nsg_id, name)  # type: ignore[arg-type]

    def put_security_rule(self, nsg_id: str, name: str, properties: dict[str, Any]) -> str:
        return put_security_rule(self, nsg_id, name, properties)  # type: ignore[arg-type]

    def delete_security_rule(self, nsg_id: str, name: str) -> None:
        delete_security_rule(self, nsg_id, name)  # type: ignore[arg-type]

    def invalidate_network(self, nsg_id: str | None = None) -> None:
        """Forget what a change to NSG ``nsg_id`` (any NSG when ``None``) can change: the effective rules of
        each NIC it applies to (at NIC or subnet level) and Network Watcher's flow verdicts for those NICs.
        A security rule changes neither a NIC, its routes nor the next hop, nor service tags or DNS."""
        cache: dict[tuple[str, ...], Any] = self._cache  # type: ignore[attr-defined]
        with self._cache_lock:  # type: ignore[attr-defined]
            folded = nsg_id.casefold() if nsg_id else None
            nics = {k[1] for k, v in cache.items() if len(k) == 3 and k[0] == "network-effective" and k[2] == "rules"
                    and (folded is None or any(n.nsg_id.casefold() == folded for n in v))}
            for key in [k for k in cache if k and (
                    (k[0] == "network-effective" and len(k) == 3 and k[2] == "rules" and k[1] in nics)
                    or (k[0] == "network-verdict-flow" and (folded is None or k[2] in nics)))]:
                del cache[key]
