"""The network path from a VM's NIC to Azure Storage, as read from Azure (azure-mgmt-network).

Read only for VMs whose failed backup points at the path (ExtensionSnapshotFailedNoNetwork and the
agent codes): the NIC, the effective security rules of the NSGs on NIC and subnet and the effective
routes (both answer only while the VM runs), the region's Storage service tag, the DNS servers, and
Network Watcher's verdicts when a watcher exists in the region."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "EffectiveNsg",
    "EffectiveRoute",
    "EffectiveRule",
    "FlowVerdict",
    "NetworkInterfaceInfo",
    "NetworkPath",
    "NextHop",
    "PathUnavailable",
    "WIRESERVER",
]

# Azure's host address (DHCP, DNS, the agent's wire server, health probes): NSGs and user-defined routes
# never apply to it, so nothing read from Azure can show that the guest cannot reach it.
WIRESERVER = "168.63.129.16"


class PathUnavailable(str, Enum):
    """Why the path could not be read from Azure."""

    NOT_RUNNING = "vm-not-running"  # no effective rules or routes exist for a VM that is not running
    EXTRA_MISSING = "extra-missing"  # azure-mgmt-network is not installed
    DENIED = "permission-denied"
    NO_NIC = "no-nic"


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    name: str  # as ARM names it: securityRules/NAME or defaultSecurityRules/NAME
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | All | ...
    source_prefixes: tuple[str, ...] = ("*",)
    source_ports: tuple[str, ...] = ("0-65535",)
    destination_prefixes: tuple[str, ...] = ("*",)
    destination_ports: tuple[str, ...] = ("0-65535",)
    expanded_source: tuple[str, ...] = ()  # service tags and VirtualNetwork as CIDRs
    expanded_destination: tuple[str, ...] = ()

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def is_default(self) -> bool:
        return self.name.casefold().startswith("defaultsecurityrules/")


@dataclass(frozen=True, slots=True)
class EffectiveNsg:
    nsg_id: str
    level: str  # "networkInterface" | "subnet"
    rules: tuple[EffectiveRule, ...] = ()

    @property
    def name(self) -> str:
        return self.nsg_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class EffectiveRoute:
    name: str | None
    source: str  # Default | User | VirtualNetworkGateway
    state: str  # Active | Invalid
    address_prefixes: tuple[str, ...]
    next_hop_type: str  # VnetLocal | Internet | VirtualAppliance | VirtualNetworkGateway | None
    next_hop_ips: tuple[str, ...] = ()
    service_tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkInterfaceInfo:
    id: str
    name: str
    private_ip: str | None
    subnet_id: str | None
    nsg_id: str | None
    dns_servers: tuple[str, ...] = ()  # the NIC's own
    applied_dns_servers: tuple[str, ...] = ()

    @property
    def vnet_id(self) -> str | None:
        if not self.subnet_id or "/subnets/" not in self.subnet_id.casefold():
            return None
        return self.subnet_id[: self.subnet_id.casefold().rindex("/subnets/")]


@dataclass(frozen=True, slots=True)
class FlowVerdict:
    """Network Watcher ipFlowVerify for outbound TCP 443 to one storage address."""

    access: str
    rule_name: str
    remote_ip: str


@dataclass(frozen=True, slots=True)
class NextHop:
    next_hop_type: str
    next_hop_ip: str | None
    route_table_id: str | None
    destination_ip: str


@dataclass(frozen=True, slots=True)
class NetworkPath:
    """Everything read about one VM's way to its region's storage; ``unavailable`` says why parts are missing."""

    region: str
    storage_tag: str  # Storage.<Region> as the serviceTags listing spells it
    storage_prefixes: tuple[str, ...] = ()
    nic: NetworkInterfaceInfo | None = None
    vnet_dns_servers: tuple[str, ...] = ()
    effective_nsgs: tuple[EffectiveNsg, ...] = ()
    effective_routes: tuple[EffectiveRoute, ...] = ()
    watcher_id: str | None = None
    flow: FlowVerdict | None = None
    next_hop: NextHop | None = None
    unavailable: PathUnavailable | None = None
    detail: str | None = None  # the message behind ``unavailable``

    @property
    def readable(self) -> bool:
        return self.unavailable is None

    @property
    def custom_dns(self) -> tuple[str, ...]:
        """The DNS servers the NIC uses when they are not Azure-provided DNS."""
        if self.nic is not None and self.nic.dns_servers:
            return self.nic.dns_servers
        return self.vnet_dns_servers
