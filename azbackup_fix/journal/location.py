"""Where a journal lives: a local file, or a container (and prefix) in Azure Blob Storage.

Accepted URLs (https only; no query string: the journal authenticates with azure-identity, not a SAS)::

    https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]      and every cloud's suffix
    https://ACCOUNT.blob.core.chinacloudapi.cn/CONTAINER           (.usgovcloudapi.net, Azure Stack's ...)
    https://HOST:PORT/ACCOUNT/CONTAINER[/PREFIX]                   path style: Azurite, Azure Stack

Anything else that looks like a URL is refused with one line: a journal named ``https://...`` must never
become a local folder called ``https:``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InvalidInputError

__all__ = ["BlobLocation", "is_url", "parse_location"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters at least: C:\journal is a path
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ACCOUNT_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.(?P<suffix>[a-z0-9-]+(\.[a-z0-9-]+)+)$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._~=-]+$")

_FORMS = "https://ACCOUNT.blob.<suffix>/CONTAINER[/PREFIX] or https://HOST:PORT/ACCOUNT/CONTAINER[/PREFIX]"


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """A blob journal: ``account_url`` for the SDK, the container, and a prefix ('' or ending in '/')."""

    account_url: str
    account: str
    container: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{self.account_url}/{self.container}" + (f"/{self.prefix.rstrip('/')}" if self.prefix else "")

    def __str__(self) -> str:
        return self.url


def is_url(spec: str) -> bool:
    """Does ``spec`` look like a URL (and so must be a supported one) rather than a file path?"""
    return bool(_SCHEME.match(spec.strip())) and ("://" in spec or spec.lower().startswith(("http:", "https:")))


def _refuse(spec: str, why: str) -> InvalidInputError:
    # Never echo a query string: it may be a SAS, whose signature is a secret.
    return InvalidInputError(f"journal '{spec.split('?')[0]}': {why}")


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_location(spec: str) -> str | BlobLocation:
    """A file path (returned as given) or a :class:`BlobLocation`; an unsupported URL is refused."""
    if not is_url(spec):
        return spec
    text = spec.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _refuse(text, f"not a valid URL ({exc})") from None
    if parts.scheme.lower() != "https":
        raise _refuse(text, f"only https:// Blob Storage URLs are journals ({_FORMS}); "
                            "Storage refuses bearer tokens over plain http")
    if parts.query or parts.fragment or "?" in text:
        raise _refuse(text, "no query string or SAS: the journal signs in with azure-identity "
                            "(role Storage Blob Data Contributor on the container)")
    if parts.username or parts.password:
        raise _refuse(text, "no user name or password in the URL")
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    match = _ACCOUNT_HOST.match(host)
    if match:
        account = match.group("account")
        netloc = host + (f":{port}" if port else "")
        account_url = f"https://{netloc}"
    elif port or _is_ip_or_localhost(host):
        if not segments:
            raise _refuse(text, f"a path-style URL names the account and the container ({_FORMS})")
        account = segments.pop(0)
        if not _ACCOUNT.match(account):
            raise _refuse(text, f"'{account}' is not a storage account name (3-24 lowercase letters and digits)")
        account_url = f"https://{host if ':' not in host else f'[{host}]'}{f':{port}' if port else ''}/{account}"
    else:
        raise _refuse(text, f"not a Blob Storage URL ({_FORMS})")
    if not segments:
        raise _refuse(text, f"no container in the URL ({_FORMS})")
    container = segments.pop(0)
    if not _CONTAINER.match(container):
        raise _refuse(text, f"'{container}' is not a container name (3-63 lowercase letters, digits and "
                            "single hyphens)")
    for part in segments:
        if part in (".", "..") or not _PREFIX_PART.match(part):
            raise _refuse(text, f"prefix part '{part}' is not allowed (letters, digits, '.', '_', '~', '=', '-')")
    prefix = "".join(f"{part}/" for part in segments)
    return BlobLocation(account_url=account_url, account=account, container=container, prefix=prefix)
