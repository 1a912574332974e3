"""Outbound TCP 443 from a NIC to its region's storage, judged from what Azure reports: pure functions
over :mod:`azbackup_fix.models.network`.

Security rules: the NIC's NSG first, then the subnet's (outbound order); within one NSG the lowest
priority number that matches decides. A Deny that touches any of the region's storage prefixes cuts
the path (the snapshot extension needs them all); an Allow must cover the prefix. Routes: the longest
prefix of the active routes wins, a user route over a system one on a tie; a next hop of
VirtualAppliance or None is a path the backup cannot count on."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from ..models.network import EffectiveNsg, EffectiveRoute, EffectiveRule, NetworkPath

__all__ = ["PathVerdict", "evaluate_path", "deciding_rule", "route_for", "free_priority", "allow_rule_name",
           "allow_rule_properties", "RULE_PREFIX", "SOURCE_PORT"]

RULE_PREFIX = "azbackup-fix-allow-storage-443"  # the added rule's name starts with it: recognisable
SOURCE_PORT = 50000  # an ephemeral source port, as the guest's connection would use
_PRIVATE = tuple(ipaddress.ip_network(p) for p in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
_BROKEN_HOPS = ("virtualappliance", "none")

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PathVerdict:
    """Whether outbound 443 to every storage prefix gets out, and if not, the first thing that stops it."""

    open: bool
    destination: str | None = None  # the storage prefix found cut
    nsg: EffectiveNsg | None = None
    rule: EffectiveRule | None = None  # the denying rule (in ``nsg``)
    route: EffectiveRoute | None = None  # the route that sends it nowhere useful
    allowed_by: tuple[EffectiveRule, ...] = ()  # open: the rules that let it through, NSG by NSG

    @property
    def opened_by_fix(self) -> bool:
        """Open because of a rule allow-storage-outbound added (recognised by its name)."""
        return self.open and any(r.short_name.casefold().startswith(RULE_PREFIX) for r in self.allowed_by)

    @property
    def cut_by_rule(self) -> bool:
        return self.rule is not None

    @property
    def cut_by_route(self) -> bool:
        return self.route is not None and self.rule is None


def _net(text: str) -> Net | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _public(target: Net, *, touching: bool) -> bool:
    if touching:  # a deny on Internet reaches any part of the target outside private space
        return not any(target.version == p.version and target.subnet_of(p) for p in _PRIVATE)  # type: ignore[arg-type]
    return not any(target.version == p.version and target.overlaps(p) for p in _PRIVATE)


def _prefix_matches(prefix: str, expanded: tuple[str, ...], target: Net, storage_tag: str, *, deny: bool) -> bool:
    text = prefix.strip()
    folded = text.casefold()
    if folded in ("*", "any", "0.0.0.0/0", "0.0.0.0/0,0.0.0.0/0"):
        return True
    if folded == "internet":
        return _public(target, touching=deny)
    if folded == "virtualnetwork":
        nets = [n for n in (_net(e) for e in expanded) if n is not None]
        return _contains(nets, target, deny=deny)
    net = _net(text)
    if net is not None:
        return _contains([net], target, deny=deny)
    # A service tag: its expansion when ARM gave one, else by name.
    nets = [n for n in (_net(e) for e in expanded) if n is not None]
    if nets:
        return _contains(nets, target, deny=deny)
    return folded in ("storage", storage_tag.casefold()) or (deny and folded == "azurecloud")


def _contains(nets: Iterable[Net], target: Net, *, deny: bool) -> bool:
    for net in nets:
        if net.version != target.version:
            continue
        if target.overlaps(net) if deny else target.subnet_of(net):  # type: ignore[arg-type]
            return True
    return False


def _port_in(ranges: Iterable[str], port: int) -> bool:
    for text in ranges:
        text = text.strip()
        if text in ("*", ""):
            return True
        low, _, high = text.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _matches(rule: EffectiveRule, source_ip: str, target: Net, storage_tag: str) -> bool:
    if rule.direction.casefold() != "outbound":
        return False
    if rule.protocol.casefold() not in ("all", "*", "tcp"):
        return False
    deny = rule.access.casefold() == "deny"
    source = _net(source_ip) if source_ip else None
    if source is None:
        return False
    return (any(_prefix_matches(p, rule.expanded_source, source, storage_tag, deny=deny) for p in rule.source_prefixes)
            and any(_prefix_matches(p, rule.expanded_destination, target, storage_tag, deny=deny)
                    for p in rule.destination_prefixes)
            and _port_in(rule.source_ports, SOURCE_PORT) and _port_in(rule.destination_ports, 443))


def deciding_rule(nsg: EffectiveNsg, source_ip: str, target: Net, storage_tag: str) -> EffectiveRule | None:
    """The rule of ``nsg`` that decides outbound TCP 443 from ``source_ip`` to ``target``."""
    for rule in sorted(nsg.rules, key=lambda r: r.priority):
        if _matches(rule, source_ip, target, storage_tag):
            return rule
    return None


def route_for(routes: Iterable[EffectiveRoute], target: Net) -> EffectiveRoute | None:
    best: tuple[int, int, EffectiveRoute] | None = None
    for route in routes:
        if route.state.casefold() != "active":
            continue
        for prefix in route.address_prefixes:
            net = _net(prefix)
            if net is None or net.version != target.version or not target.subnet_of(net):  # type: ignore[arg-type]
                continue
            key = (net.prefixlen, 1 if route.source.casefold() == "user" else 0)
            if best is None or key > best[:2]:
                best = (key[0], key[1], route)
    return best[2] if best else None


def _outbound_order(nsgs: Iterable[EffectiveNsg]) -> list[EffectiveNsg]:
    return sorted(nsgs, key=lambda n: 0 if n.level.casefold() == "networkinterface" else 1)


def evaluate_path(path: NetworkPath) -> PathVerdict:
    """The verdict for outbound TCP 443 from the NIC's address to each prefix of ``path.storage_tag``."""
    source = path.nic.private_ip if path.nic is not None else None
    targets = [n for n in (_net(p) for p in path.storage_prefixes) if n is not None]
    if not source or not targets:
        return PathVerdict(True)
    allowed: dict[str, EffectiveRule] = {}
    for target in targets:
        for nsg in _outbound_order(path.effective_nsgs):
            rule = deciding_rule(nsg, source, target, path.storage_tag)
            if rule is not None and rule.access.casefold() == "deny":
                return PathVerdict(False, str(target), nsg, rule)
            if rule is not None:
                allowed.setdefault(rule.name, rule)
        route = route_for(path.effective_routes, target)
        if route is not None and route.next_hop_type.casefold() in _BROKEN_HOPS:
            return PathVerdict(False, str(target), route=route)
    return PathVerdict(True, allowed_by=tuple(allowed.values()))


def free_priority(nsg: EffectiveNsg, before: int) -> int | None:
    """The highest outbound priority below ``before`` (and from 100) that no rule of ``nsg`` uses: the new
    rule sits right ahead of the denying one and changes nothing else's order."""
    used = {r.priority for r in nsg.rules if r.direction.casefold() == "outbound" and not r.is_default}
    for priority in range(min(before, 4097) - 1, 99, -1):
        if priority not in used:
            return priority
    return None


def allow_rule_name(nic_name: str) -> str:
    return f"{RULE_PREFIX}-{nic_name}"[:80]


def allow_rule_properties(source_ip: str, storage_tag: str, priority: int) -> dict[str, object]:
    """The rule's `properties` as the Network API takes them (also what the journal keeps)."""
    return {
        "description": "Added by azbackup-fix: Azure Backup's snapshot extension needs outbound HTTPS to the "
                       "region's storage (guide: allow access to Azure Storage with NSG service tags).",
        "protocol": "Tcp", "sourceAddressPrefix": source_ip, "sourcePortRange": "*",
        "destinationAddressPrefix": storage_tag, "destinationPortRange": "443", "access": "Allow",
        "priority": priority, "direction": "Outbound",
    }
