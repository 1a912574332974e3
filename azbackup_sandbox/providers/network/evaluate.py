"""How traffic leaves a NIC: NSG rules in priority order (NIC's NSG, then the subnet's, for outbound)
and longest-prefix routing over system and user routes. Pure functions: the effective-rules and
effective-routes answers, Network Watcher's ipFlowVerify/nextHop and the backup physics all call these,
so they can never disagree."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .tags import PRIVATE_RANGES, network, tag_prefixes

__all__ = ["Rule", "RouteEntry", "Verdict", "Hop", "DEFAULT_RULES", "expand", "rule_matches", "first_match",
           "system_routes", "effective_routes", "next_hop", "EPHEMERAL_PORT"]

EPHEMERAL_PORT = 50000  # the source port a flow from the guest uses (any port in the dynamic range)


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | Icmp | Esp | Ah | *
    source_prefixes: tuple[str, ...]
    source_ports: tuple[str, ...]
    destination_prefixes: tuple[str, ...]
    destination_ports: tuple[str, ...]
    default: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{'defaultSecurityRules' if self.default else 'securityRules'}/{self.name}"


def _default(name: str, priority: int, direction: str, access: str, src: str, dst: str) -> Rule:
    return Rule(name, priority, direction, access, "*", (src,), ("*",), (dst,), ("*",), default=True)


DEFAULT_RULES: tuple[Rule, ...] = (
    _default("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    _default("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    _default("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)


def _private(net: ipaddress.IPv4Network) -> bool:
    return any(net.overlaps(network(p)) for p in PRIVATE_RANGES)


def expand(prefix: str, vnet_space: Sequence[str]) -> tuple[str, ...] | None:
    """The CIDRs a rule's address prefix stands for; None for `Internet` (all public space), which
    has no finite listing here."""
    lowered = prefix.strip().lower()
    if lowered in ("*", "any", "0.0.0.0/0"):
        return ("0.0.0.0/0",)
    if lowered == "internet":
        return None
    if lowered == "virtualnetwork":
        return tuple(vnet_space)
    tagged = tag_prefixes(prefix)
    if tagged is not None:
        return tagged
    return (str(network(prefix)),)


def _covers(prefix: str, target: ipaddress.IPv4Network, vnet_space: Sequence[str], *, deny: bool) -> bool:
    """Does `prefix` match traffic to/from `target`? An Allow must cover all of it; a Deny that
    touches any of it cuts part of the path, which is enough to break a backup."""
    cidrs = expand(prefix, vnet_space)
    if cidrs is None:  # Internet: public space
        if deny:
            return not any(target.subnet_of(network(p)) for p in PRIVATE_RANGES)
        return not _private(target)
    nets = [network(c) for c in cidrs]
    if deny:
        return any(target.overlaps(n) for n in nets)
    return any(target.subnet_of(n) for n in nets)


def _port_in(ports: Iterable[str], port: int) -> bool:
    for text in ports:
        text = text.strip()
        if text in ("*", ""):
            return True
        low, _, high = text.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def rule_matches(rule: Rule, *, direction: str, protocol: str, local: ipaddress.IPv4Network,
                 remote: ipaddress.IPv4Network, remote_port: int, local_port: int,
                 vnet_space: Sequence[str]) -> bool:
    if rule.direction.lower() != direction.lower():
        return False
    if rule.protocol != "*" and rule.protocol.lower() != protocol.lower():
        return False
    deny = rule.access.lower() == "deny"
    outbound = direction.lower() == "outbound"
    src, dst = (local, remote) if outbound else (remote, local)
    src_port, dst_port = (local_port, remote_port) if outbound else (remote_port, local_port)
    return (any(_covers(p, src, vnet_space, deny=deny) for p in rule.source_prefixes)
            and any(_covers(p, dst, vnet_space, deny=deny) for p in rule.destination_prefixes)
            and _port_in(rule.source_ports, src_port) and _port_in(rule.destination_ports, dst_port))


def first_match(rules: Iterable[Rule], **flow: object) -> Rule | None:
    """The rule that decides a flow: the lowest priority number that matches (every NSG has a
    DenyAll default, so a full rule set always decides)."""
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule_matches(rule, **flow):  # type: ignore[arg-type]
            return rule
    return None


# ---- routes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteEntry:
    name: str
    source: str  # Default | User
    state: str  # Active | Invalid
    address_prefixes: tuple[str, ...]
    next_hop_type: str  # VnetLocal | Internet | VirtualAppliance | VirtualNetworkGateway | None
    next_hop_ip: tuple[str, ...] = ()
    route_table_id: str | None = None
    tag: str | None = None  # a service-tag route's tag


@dataclass(frozen=True)
class Verdict:
    access: str
    rule: Rule | None
    nsg_id: str | None


@dataclass(frozen=True)
class Hop:
    next_hop_type: str
    next_hop_ip: str | None
    route: RouteEntry | None


def system_routes(vnet_space: Sequence[str]) -> list[RouteEntry]:
    routes = [RouteEntry("", "Default", "Active", (p,), "VnetLocal") for p in vnet_space]
    routes.append(RouteEntry("", "Default", "Active", ("0.0.0.0/0",), "Internet"))
    inside = [network(p) for p in vnet_space]
    for private in PRIVATE_RANGES:
        if not any(network(private).subnet_of(n) for n in inside):
            routes.append(RouteEntry("", "Default", "Active", (private,), "None"))
    return routes


def effective_routes(vnet_space: Sequence[str], user: Sequence[RouteEntry]) -> list[RouteEntry]:
    """System routes, each made Invalid by a user route with the same prefix, then the user routes."""
    user_prefixes = {p for r in user for p in r.address_prefixes}
    merged = [RouteEntry(r.name, r.source, "Invalid" if r.address_prefixes[0] in user_prefixes else "Active",
                         r.address_prefixes, r.next_hop_type, r.next_hop_ip) for r in system_routes(vnet_space)]
    return merged + list(user)


def next_hop(routes: Sequence[RouteEntry], destination: ipaddress.IPv4Network) -> Hop:
    """Longest prefix match over the active routes; on a tie a user route wins over a system one."""
    best: tuple[int, int, RouteEntry] | None = None
    for route in routes:
        if route.state != "Active":
            continue
        for prefix in route.address_prefixes:
            net = network(prefix)
            if destination.subnet_of(net):
                key = (net.prefixlen, 1 if route.source == "User" else 0)
                if best is None or key > best[:2]:
                    best = (key[0], key[1], route)
    if best is None:
        return Hop("None", None, None)
    route = best[2]
    return Hop(route.next_hop_type, route.next_hop_ip[0] if route.next_hop_ip else None, route)
