"""Service tags and the address ranges the sandbox gives them.

Real prefixes change weekly (the serviceTags API's changeNumber); the sandbox keeps a small, stable,
public, non-overlapping set per region so rules written against a tag or against a CIDR from the
listing behave the same. `Storage` is the union of every `Storage.<Region>`."""

from __future__ import annotations

import ipaddress
from functools import cache

__all__ = ["REGIONS", "region_tag_name", "tag_prefixes", "service_tags", "PRIVATE_RANGES", "WIRESERVER",
           "is_tag"]

# region -> (display casing of the tag suffix, one /16 in a public block for its storage accounts)
REGIONS: dict[str, tuple[str, str]] = {
    "eastus": ("EastUS", "20.60.0.0/16"),
    "eastus2": ("EastUS2", "20.61.0.0/16"),
    "westus": ("WestUS", "20.62.0.0/16"),
    "westus2": ("WestUS2", "20.63.0.0/16"),
    "centralus": ("CentralUS", "20.64.0.0/16"),
    "northeurope": ("NorthEurope", "20.65.0.0/16"),
    "westeurope": ("WestEurope", "20.66.0.0/16"),
    "uksouth": ("UKSouth", "20.67.0.0/16"),
    "swedencentral": ("SwedenCentral", "20.68.0.0/16"),
    "southeastasia": ("SoutheastAsia", "20.69.0.0/16"),
    "eastasia": ("EastAsia", "20.70.0.0/16"),
    "japaneast": ("JapanEast", "20.71.0.0/16"),
    "australiaeast": ("AustraliaEast", "20.72.0.0/16"),
    "chinanorth3": ("ChinaNorth3", "20.73.0.0/16"),
    "chinaeast2": ("ChinaEast2", "20.74.0.0/16"),
    "westus3": ("WestUS3", "20.75.0.0/16"),
}
# Azure's host address (DHCP, DNS, health probes, the agent's wire server): never subject to NSGs or UDRs.
WIRESERVER = "168.63.129.16"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
_OTHER_TAGS = {
    "AzureLoadBalancer": ("168.63.129.16/32",),
    "AzureCloud": ("20.0.0.0/8", "40.64.0.0/10", "52.0.0.0/8"),
}


def _region_prefix(region: str) -> str:
    known = REGIONS.get(region.lower())
    if known:
        return known[1]
    # An unlisted region still gets a stable public /16 of its own (20.128.0.0 and up).
    index = sum(ord(c) for c in region.lower()) % 100
    return f"20.{128 + index}.0.0/16"


def region_tag_name(region: str) -> str:
    known = REGIONS.get(region.lower())
    return f"Storage.{known[0] if known else region.lower()}"


@cache
def tag_prefixes(tag: str) -> tuple[str, ...] | None:
    """The prefixes of a service tag (case-insensitive), or None when `tag` is not one."""
    lowered = tag.lower()
    if lowered == "storage":
        return tuple(_region_prefix(r) for r in REGIONS)
    if lowered.startswith("storage."):
        region = lowered.split(".", 1)[1]
        return (_region_prefix(region),)
    for name, prefixes in _OTHER_TAGS.items():
        if name.lower() == lowered:
            return prefixes
    return None


def is_tag(text: str) -> bool:
    lowered = text.lower()
    return lowered in ("internet", "virtualnetwork", "*", "any") or tag_prefixes(text) is not None


def service_tags(location: str) -> list[dict[str, object]]:
    """The `values` of GET .../locations/{location}/serviceTags: the global and regional Storage tags."""
    values: list[dict[str, object]] = [{
        "name": "Storage", "id": "Storage",
        "properties": {"changeNumber": "1", "region": "", "systemService": "AzureStorage",
                       "addressPrefixes": list(tag_prefixes("Storage") or ()), "networkFeatures":
                       ["API", "NSG", "UDR", "FW"]},
    }]
    for region in sorted(REGIONS):
        name = region_tag_name(region)
        values.append({"name": name, "id": name, "properties": {
            "changeNumber": "1", "region": region, "systemService": "AzureStorage",
            "addressPrefixes": list(tag_prefixes(name) or ()), "networkFeatures": ["API", "NSG", "UDR", "FW"]}})
    for name, prefixes in _OTHER_TAGS.items():
        values.append({"name": name, "id": name, "properties": {
            "changeNumber": "1", "region": "", "systemService": name, "addressPrefixes": list(prefixes),
            "networkFeatures": ["API", "NSG"]}})
    return values


def network(text: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(text, strict=False)  # type: ignore[return-value]
