"""Azurite (Microsoft's Azure Storage emulator, npm ``azurite``, installed here by ``npm ci --prefix
tests/azurite``) started and stopped by the tests themselves: Blob service only, on loopback, over HTTPS
with a certificate from a trustme CA, with ``--oauth basic`` (bearer tokens checked for audience, issuer
and lifetime, as Storage does; no RBAC), no telemetry, data in a folder of its own that survives a restart.

Tokens come from the sandbox's managed-identity endpoint (:class:`IdentityEndpointCredential`), as an
Automation job's do."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import trustme
from azure.core.credentials import AccessToken

__all__ = ["AZURITE", "MISSING", "AzuriteServer", "IdentityEndpointCredential"]

HERE = Path(__file__).parent
AZURITE = HERE / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"  # Azurite's built-in account
STORAGE_AUDIENCE = "https://storage.azure.com"

# CI must run these tests (its Makefile installs Azurite); a developer machine without npm skips them.
MISSING = "node is not installed" if shutil.which("node") is None else (
    None if AZURITE.exists() else "Azurite is not installed: run 'npm ci --prefix tests/azurite'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Every line Azurite prints, then '' at its exit (a thread: lines may arrive several at once)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put("")


class AzuriteServer:
    """One Azurite Blob service; :meth:`restart` stops it and starts it again on the same port and data."""

    def __init__(self, workdir: Path, *, extra_ca: str | None = None) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert_file = workdir / "azurite-cert.pem"
        self.key_file = workdir / "azurite-key.pem"
        cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        cert.private_key_pem.write_to_path(str(self.key_file))
        # One bundle that trusts both Azurite and the sandbox: what REQUESTS_CA_BUNDLE names for a worker.
        self.ca_file = str(workdir / "ca-bundle.pem")
        bundle = self.ca.cert_pem.bytes() + (Path(extra_ca).read_bytes() if extra_ca else b"")
        Path(self.ca_file).write_bytes(bundle)
        self.port = _free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def account_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"

    def container_url(self, container: str, prefix: str = "") -> str:
        return f"{self.account_url}/{container}" + (f"/{prefix}" if prefix else "")

    def start(self) -> AzuriteServer:
        command = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                   "--location", str(self.data), "--cert", str(self.cert_file), "--key", str(self.key_file),
                   "--oauth", "basic", "--silent", "--disableTelemetry"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=self.workdir, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc, lines), daemon=True).start()
        seen = []
        while True:  # Azurite prints "... successfully listens on https://HOST:PORT" when ready
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise RuntimeError("Azurite did not start within 60 s: " + "".join(seen)) from None
            if not line:
                raise RuntimeError("Azurite exited: " + "".join(seen))
            seen.append(line)
            if "successfully listens on" in line:
                return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)  # Azurite saves its metadata database on SIGTERM
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> AzuriteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class IdentityEndpointCredential:
    """A managed identity as App Service / Automation exposes it: GET ``IDENTITY_ENDPOINT?resource=...`` with
    the ``X-IDENTITY-HEADER``; ``audience`` overrides the resource asked for (a token Storage must refuse)."""

    def __init__(self, endpoint: str, header: str, ca_file: str, *, audience: str | None = None) -> None:
        self.endpoint = endpoint
        self.header = header
        self.context = ssl.create_default_context(cafile=ca_file)
        self.audience = audience
        self.requests = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        resource = self.audience or scopes[0].removesuffix("/.default")
        query = urllib.parse.urlencode({"api-version": "2019-08-01", "resource": resource})
        request = urllib.request.Request(f"{self.endpoint}?{query}", headers={"X-IDENTITY-HEADER": self.header})
        with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
            body = json.loads(response.read())
        self.requests += 1
        return AccessToken(body["access_token"], int(body["expires_on"]))

    def close(self) -> None:
        return None

