"""HTTPS server mode of the sandbox: the same `Sandbox` behind a loopback TLS socket, for other
processes, the CLI demo and clients that cannot take an in-process transport.

HTTPS because azure-core refuses bearer tokens over plain http; the certificate comes from a throwaway
CA made with `trustme` (extra `sandbox`) whose PEM is written to `ca_file` for `connection_verify=` or
`REQUESTS_CA_BUNDLE`. The virtual clock runs at `clock_rate` virtual seconds per real second, so a
20-minute backup job takes 4 real seconds at the default 300."""

from __future__ import annotations

import random
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.control import identity_secret, set_clock_rate
from .core.errors import ArmError
from .core.http import SandboxRequest

if TYPE_CHECKING:
    from .core.sandbox import Sandbox

__all__ = ["SandboxServer", "SandboxServerError", "DEFAULT_CLOCK_RATE", "INSTALL_HINT"]

DEFAULT_CLOCK_RATE = 300.0
INSTALL_HINT = "the sandbox HTTPS server needs trustme: pip install 'azbackup-fix[sandbox]'"
# An idle keep-alive connection is closed after this long, so abandoned clients do not pin threads.
_IDLE_TIMEOUT = 120.0
_HANDSHAKE_TIMEOUT = 10.0
_MAX_BODY = 64 * 1024 * 1024

class SandboxServerError(RuntimeError):
    """The server cannot start (missing extra, port in use, bad host)."""


def _make_tls(hosts: list[str]) -> tuple[Any, ssl.SSLContext]:
    try:
        import trustme
    except ImportError:  # optional extra: say how to get it instead of a traceback
        raise SandboxServerError(INSTALL_HINT) from None
    ca = trustme.CA(organization_name="azbackup-sandbox")
    cert = ca.issue_cert(*dict.fromkeys(hosts))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return ca, context


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests session reuses connections
    server: _TLSServer
    timeout = _IDLE_TIMEOUT

    def _serve(self) -> None:
        owner = self.server.owner
        sandbox = owner.sandbox
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True  # the stream position is unknown: answer and hang up
            error = ArmError(400, "InvalidRequest", str(exc)).to_response()
            self._send(error.status, error.headers, error.body)
            return
        received_at = time.monotonic()
        low, high = sandbox.config.latency_ms
        if high > 0:
            # Real latency, outside the sandbox lock, so concurrent clients overlap as with real ARM.
            owner._stopping.wait(owner.rng.uniform(low, high) / 1000.0)
        host = self.headers.get("Host") or owner.authority
        target = self.path if self.path.startswith("/") else "/" + self.path.split("/", 3)[-1]
        request = SandboxRequest(
            method=self.command,
            url=f"https://{host}{target}",
            headers={k: v for k, v in self.headers.items()},
            body=body,
            received_at=received_at,
        )
        try:
            response = sandbox.handle(request)
        except Exception as exc:  # a provider bug must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            response = ArmError(
                500, "InternalServerError", f"The sandbox failed on {self.command} {request.path}: {exc!r}"
            ).to_response()
        if response.delay_seconds > 0:
            owner._stopping.wait(response.delay_seconds)  # an injected latency fault, outside the lock
        if response.drop_connection:
            self.close_connection = True
            self._abort()
            return
        self._send(response.status, response.headers, response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > _MAX_BODY:
            raise ValueError(f"Content-Length {length} is out of range")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.log_request(status)
        # send_response_only: the provider's own Server header (Microsoft-HTTPAPI/2.0, IIS) goes out as is.
        self.send_response_only(status)
        if not any(name.lower() == "date" for name in headers):
            self.send_header("Date", self.date_time_string())
        if not any(name.lower() == "server" for name in headers):
            self.send_header("Server", "azbackup-sandbox")
        for name, value in headers.items():
            lowered = name.lower()
            if lowered not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if status not in (204, 304):
            # HEAD announces the length a GET would have had, as ARM does; the body itself is omitted.
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Head and body in one write: one TLS record and one send instead of two (the server's largest
        # per-request cost after the provider itself).
        self._headers_buffer.append(b"\r\n")
        if not no_body and body:
            self._headers_buffer.append(body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []
        self.wfile.flush()

    def _abort(self) -> None:
        # Injected fault: close the TCP connection without a byte of answer (no TLS close_notify either).
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write(f"sandbox {self.address_string()} {format % args}\n")


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: SandboxServer, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.owner = owner
        self.context = context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves getfqdn(host), a reverse DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake here, in the connection's own thread: a slow or plain-http client must not stall
        # the accept loop. A failed handshake (e.g. plain http) just closes the socket.
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            # Headers and body go out in two writes: without NODELAY, Nagle holds the body until the
            # client's delayed ACK (~40 ms), a latency ARM does not have.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            if self.owner.verbose:
                sys.stderr.write(f"sandbox {client_address[0]} TLS handshake failed: {exc}\n")
            return
        self.owner._track(tls, True)
        try:
            tls.settimeout(_IDLE_TIMEOUT)
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ValueError):
            pass  # client went away mid-request, or stop() closed the socket under us
        finally:
            self.owner._track(tls, False)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.owner.verbose:
            super().handle_error(request, client_address)


class SandboxServer:
    """Serve a `Sandbox` over HTTPS on a loopback port.

    >>> with SandboxServer(sandbox) as server:           # doctest: +SKIP
    ...     client = ComputeManagementClient(cred, sub, base_url=server.endpoint,
    ...                                      connection_verify=server.ca_file)
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ca_file: str | Path | None = None,
        clock_rate: float | None = DEFAULT_CLOCK_RATE,
        verbose: bool = False,
    ) -> None:
        if sandbox is None:
            from .core.sandbox import Sandbox

            sandbox = Sandbox()
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self.clock_rate = clock_rate
        self.verbose = verbose
        self.rng = random.Random()  # latency draws; not the sandbox's seeded rng, which state uses
        self._ca_file_arg = Path(ca_file) if ca_file else None
        self._ca_file: Path | None = None
        self._tempdir: str | None = None
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[Any] = set()
        self._conns_lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Bind, listen and serve in a background thread; returns once connections are accepted."""
        if self._server is not None:
            raise SandboxServerError("the server is already running")
        local = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        ca, context = _make_tls([self.host or "127.0.0.1", local, "127.0.0.1", "localhost", "::1"])
        try:
            server = _TLSServer(self, (self.host, self.port), context)
        except OSError as exc:
            raise SandboxServerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        if self._ca_file_arg is not None:
            self._ca_file_arg.parent.mkdir(parents=True, exist_ok=True)
            path = self._ca_file_arg
        else:
            self._tempdir = tempfile.mkdtemp(prefix="azbackup-sandbox-")
            path = Path(self._tempdir) / "ca.pem"
        ca.cert_pem.write_to_path(str(path))
        self._ca_file = path
        self.port = server.server_address[1]
        self._local_host = local
        if self.clock_rate is not None:
            set_clock_rate(self.sandbox, self.clock_rate)
        self._stopping.clear()
        self._server = server
        # What an Automation job's process gets, as Automation gives its jobs a managed identity.
        self.sandbox.job_environment = {"IDENTITY_ENDPOINT": self.identity_endpoint,
                                        "IDENTITY_HEADER": self.identity_header,
                                        "REQUESTS_CA_BUNDLE": str(path)}
        # The socket is listening already (bound in the constructor): clients may connect from here on.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="azbackup-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.sandbox.job_environment = None
        self.sandbox.automation.close()  # no job's process outlives the server it talks to
        server.shutdown()
        server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:  # wake handler threads parked on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
            self._ca_file = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _track(self, conn: Any, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    # ---- what clients need -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def authority(self) -> str:
        host = self._local_host if self._server is not None else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The ARM base URL: pass as `base_url=` to any azure-mgmt client."""
        self._require_running()
        return f"https://{self.authority}"

    @property
    def ca_file(self) -> str:
        """PEM of the CA that signed the server certificate: `connection_verify=` / REQUESTS_CA_BUNDLE."""
        self._require_running()
        assert self._ca_file is not None
        return str(self._ca_file)

    @property
    def identity_endpoint(self) -> str:
        """IDENTITY_ENDPOINT for azure-identity's managed identity (App Service / Automation flavour)."""
        return f"{self.endpoint}/_sandbox/identity"

    @property
    def identity_header(self) -> str:
        """IDENTITY_HEADER: the secret the identity endpoint expects in X-IDENTITY-HEADER."""
        return identity_secret(self.sandbox)

    def _require_running(self) -> None:
        if self._server is None:
            raise SandboxServerError("the server is not running; call start() first")
