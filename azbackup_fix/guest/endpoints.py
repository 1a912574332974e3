"""Which endpoints a guest probe tests TCP reachability of, besides 168.63.129.16 on 80 and 32526.

Guide 000 needs the region's storage on 443, but Azure publishes no one "regional storage" host to try.
So the probe uses what the VM itself has: its boot-diagnostics storage account's blob endpoint when one
is set; else an endpoint the user gives (``guest_storage_endpoint``, CLI ``--guest-storage-endpoint``);
else the storage check is not run, and the report says so (never healthy)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import InvalidInputError
from ..models import VirtualMachine

__all__ = ["ENDPOINTS_PARAMETER", "parse_endpoint", "probe_endpoints"]

ENDPOINTS_PARAMETER = "ENDPOINTS"  # the Run Command parameter: Linux gets it as $ENDPOINTS, PowerShell as -ENDPOINTS
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def parse_endpoint(text: str) -> str:
    """``HOST[:PORT]`` or an https:// URL as ``host:port`` (443 by default); InvalidInputError otherwise."""
    raw = text.strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    try:
        port = parts.port if parts.port is not None else 443
    except ValueError:
        port = 0
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not _HOST.match(host) or not 0 < port < 65536:
        raise InvalidInputError(f"a storage endpoint must be HOST[:PORT] (e.g. myaccount.blob.core.windows.net), "
                                f"got '{text}'")
    return f"{host.lower()}:{port}"


def probe_endpoints(vm: VirtualMachine, given: str | None) -> tuple[tuple[str, ...], str]:
    """(the ``host:port`` endpoints to test, where they come from: "boot diagnostics", "given" or "")."""
    uri = vm.boot_diagnostics_storage_uri
    if uri:
        try:
            return (parse_endpoint(uri),), "boot diagnostics"
        except InvalidInputError:
            pass  # a URI we cannot read is no endpoint to test; fall through to the given one
    if given:
        return (parse_endpoint(given),), "given"
    return (), ""
