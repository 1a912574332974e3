"""The network path to the region's storage (guide 002, "The VM has no internet access"), judged from what
Azure shows: the NSG rule or route that cuts outbound HTTPS to ``Storage.<region>``, custom DNS servers,
and what Azure cannot show (168.63.129.16 is not subject to NSGs or user-defined routes; a VM that is not
running has no effective rules). Read only for VMs whose failed job points at the path."""

from __future__ import annotations

from ..models import Finding, Severity, VmObservation
from ..models.network import WIRESERVER, NetworkPath, PathUnavailable
from .catalogue import finding_from_entry
from .evidence import ev, ev_list
from .network_path import RULE_PREFIX, PathVerdict, evaluate_path
from .options import DEFAULT_OPTIONS, CheckOptions

__all__ = ["check_network_path", "NETWORK_FINDING_CODES"]

NETWORK_FINDING_CODES = ("StorageOutboundDenied", "StorageRoutedToAppliance", "StorageOutboundOpenedByFix",
                         "CustomDnsServers",
                         "NetworkPathOpenCheckGuest", "NetworkPathNotVisible", "NetworkPathUnreadable")

_GUEST_PATH_STEPS = (
    f"Inside the guest: allow {WIRESERVER} on ports 80, 443 and 32526 in the guest firewall and bypass any "
    "proxy for it (Azure's host address is never subject to NSGs or routes, so nothing in Azure blocks it)",
    "Inside the guest: keep DHCP enabled on the primary NIC (a static address configuration loses the route "
    f"to {WIRESERVER})",
    "Inside the guest: make sure a proxy, if one is used, lets the VM reach *.blob.core.windows.net over HTTPS",
)


def _nic_evidence(path: NetworkPath) -> list:
    nic = path.nic
    out = [ev("storage tag", path.storage_tag)]
    if nic is not None:
        out[:0] = [ev("network interface", nic.id), ev("private ip", nic.private_ip)]
    return out


def _watcher_evidence(path: NetworkPath) -> list:
    out = []
    if path.flow is not None:
        out.append(ev("network watcher ip flow", f"{path.flow.access} by {path.flow.rule_name or '-'} "
                                                 f"(TCP 443 to {path.flow.remote_ip})"))
    if path.next_hop is not None:
        hop = path.next_hop
        out.append(ev("network watcher next hop", f"{hop.next_hop_type}"
                                                   + (f" {hop.next_hop_ip}" if hop.next_hop_ip else "")
                                                   + f" ({hop.route_table_id or 'System Route'})"))
    if path.watcher_id is None and path.readable:
        out.append(ev("network watcher", f"none in {path.region}: the verdict is from the effective rules alone"))
    return out


def _denied(path: NetworkPath, verdict: PathVerdict) -> Finding:
    rule, nsg = verdict.rule, verdict.nsg
    assert rule is not None and nsg is not None
    level = "NIC" if nsg.level.casefold() == "networkinterface" else "subnet"
    evidence = [*_nic_evidence(path), ev("storage prefix", verdict.destination),
                ev("nsg", nsg.nsg_id), ev("nsg level", level), ev("denying rule", rule.short_name),
                ev("rule priority", rule.priority),
                ev_list("rule destination", rule.destination_prefixes), *_watcher_evidence(path)]
    return finding_from_entry(
        "StorageOutboundDenied", severity=Severity.ERROR,
        title=(f"NSG {nsg.name} ({level}) rule {rule.short_name} (priority {rule.priority}) denies outbound "
               f"HTTPS to {path.storage_tag}; the snapshot extension cannot reach the region's storage"),
        evidence=evidence)


def _routed(path: NetworkPath, verdict: PathVerdict) -> Finding:
    route = verdict.route
    assert route is not None
    hop = route.next_hop_type + (f" {', '.join(route.next_hop_ips)}" if route.next_hop_ips else "")
    where = f"route {route.name}" if route.name else f"{route.source.lower()} route"
    evidence = [*_nic_evidence(path), ev("storage prefix", verdict.destination), ev("route", route.name or "-"),
                ev_list("route prefix", route.address_prefixes), ev("route source", route.source),
                ev("next hop", hop), *_watcher_evidence(path)]
    options = (
        f"Allow outbound HTTPS to {path.storage_tag} on the appliance {', '.join(route.next_hop_ips) or ''} "
        "(the firewall's rules, not Azure's)".replace("  ", " "),
        f"Or add a route for the service tag {path.storage_tag} with next hop Internet to the subnet's route table "
        "(longest prefix wins over 0.0.0.0/0)",
        "Or enable a Microsoft.Storage service endpoint on the subnet",
    )
    return finding_from_entry(
        "StorageRoutedToAppliance", severity=Severity.ERROR,
        title=(f"{where} sends traffic for {verdict.destination} ({path.storage_tag}) to {hop}; "
               "nothing here changes routing: see the options"),
        evidence=evidence, guest_steps=options)


def _unreadable(path: NetworkPath) -> Finding:
    if path.unavailable is PathUnavailable.NOT_RUNNING:
        return finding_from_entry(
            "NetworkPathNotVisible", severity=Severity.WARNING,
            title=("The VM is not running, so Azure has no effective security rules or routes for it: the path "
                   "to storage can only be judged while it runs (not guessed)"),
            evidence=[*_nic_evidence(path), ev("reason", path.detail)])
    hint = path.detail or (path.unavailable.value if path.unavailable else "")
    return finding_from_entry(
        "NetworkPathUnreadable", severity=Severity.WARNING,
        title=f"The network path to {path.storage_tag} was not read: {hint}",
        evidence=[ev("reason", path.unavailable.value if path.unavailable else None), ev("detail", path.detail)])


def check_network_path(obs: VmObservation, options: CheckOptions = DEFAULT_OPTIONS) -> tuple[Finding, ...]:
    del options
    path = obs.network
    if path is None or obs.vm is None:
        return ()
    if not path.readable:
        return (_unreadable(path),)
    verdict = evaluate_path(path)
    if verdict.cut_by_rule:
        return (_denied(path, verdict),)
    if verdict.cut_by_route:
        return (_routed(path, verdict),)
    if verdict.opened_by_fix:
        ours = next(r for r in verdict.allowed_by if r.short_name.casefold().startswith(RULE_PREFIX))
        # The last failure came from the NSG, which our journaled rule has opened since: a backup proves it
        # (a run whose verification backup failed picks up here).
        return (finding_from_entry(
            "StorageOutboundOpenedByFix", severity=Severity.WARNING,
            title=(f"Outbound HTTPS to {path.storage_tag} is now allowed by {ours.short_name} (priority "
                   f"{ours.priority}, added by azbackup-fix); a backup verifies the fix"),
            evidence=[*_nic_evidence(path), ev("allowing rule", ours.short_name), ev("rule priority", ours.priority),
                      *_watcher_evidence(path)]),)
    findings = []
    dns = path.custom_dns
    if dns:
        findings.append(finding_from_entry(
            "CustomDnsServers", severity=Severity.WARNING,
            title=(f"The VM resolves names with custom DNS servers {', '.join(dns)}; Azure cannot see whether they "
                   "resolve the storage endpoints"),
            evidence=[*_nic_evidence(path), ev_list("dns servers", dns)],
            guest_steps=("Inside the guest: resolve <account>.blob.core.windows.net with the configured DNS servers; "
                         "if it fails, forward to Azure DNS (168.63.129.16) or use Azure-provided DNS on the VNet",)))
    agent = obs.vm.agent
    findings.append(finding_from_entry(
        "NetworkPathOpenCheckGuest", severity=Severity.WARNING,
        title=(f"Outbound HTTPS from the NIC to {path.storage_tag} is open in Azure (NSG rules and routes); "
               f"{WIRESERVER} is not subject to NSGs or routes either, so the cause is inside the guest"
               + (" (the agent is not ready)" if not agent.is_ready else "")),
        evidence=[*_nic_evidence(path), ev("effective nsgs", len(path.effective_nsgs)),
                  ev("agent status", agent.status or "not reported"), *_watcher_evidence(path)],
        guest_steps=_GUEST_PATH_STEPS))
    return tuple(findings)
