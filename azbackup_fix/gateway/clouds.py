"""Azure clouds: the ARM endpoint, the token scope and the Entra authority of each."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInputError

__all__ = ["CLOUDS", "Cloud", "get_cloud"]


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    arm_endpoint: str
    credential_scope: str
    authority_host: str


CLOUDS: dict[str, Cloud] = {
    c.name.casefold(): c
    for c in (
        Cloud("AzureCloud", "https://management.azure.com",
              "https://management.azure.com/.default", "https://login.microsoftonline.com"),
        Cloud("AzureChinaCloud", "https://management.chinacloudapi.cn",
              "https://management.chinacloudapi.cn/.default", "https://login.chinacloudapi.cn"),
        Cloud("AzureUSGovernment", "https://management.usgovcloudapi.net",
              "https://management.usgovcloudapi.net/.default", "https://login.microsoftonline.us"),
    )
}


def get_cloud(name: str | Cloud | None) -> Cloud:
    """The cloud named like ``az cloud list`` does (case-insensitive); ``None`` is AzureCloud."""
    if isinstance(name, Cloud):
        return name
    cloud = CLOUDS.get((name or "AzureCloud").strip().casefold())
    if cloud is None:
        known = ", ".join(c.name for c in CLOUDS.values())
        raise InvalidInputError(f"unknown cloud '{name}'; known: {known}")
    return cloud
