"""The HTTPS server and the `azbackup-sandbox` command: real sockets, real azure-identity credentials,
a real subprocess. Waits are on readiness signals (the ready line, process exit), never sleeps."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm import Arm, make_pristine

from azbackup_sandbox.core.control import MANAGED_IDENTITY_OBJECT_ID, set_clock_rate
from azbackup_sandbox.core.sandbox import Sandbox
from azbackup_sandbox.server import INSTALL_HINT, SandboxServer, SandboxServerError
from tests.sandbox_cli import read_line

REPO = Path(__file__).resolve().parents[2]
ARM_SCOPE = "https://management.azure.com/.default"
# Environment that would steer azure-identity away from the managed identity under test.
_IDENTITY_ENV = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_TOKEN_CREDENTIALS",
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@pytest.fixture
def server(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    make_pristine(sandbox_server.sandbox)
    sandbox_server.sandbox.load("healthy")
    yield sandbox_server


def _connection(server: SandboxServer) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=server.ca_file)
    return http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)


def _subscription(server: SandboxServer) -> str:
    return server.sandbox.subscription_ids[0]


# ---- managed identity through azure-identity -----------------------------------------------------


@pytest.fixture
def identity_env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    for name in _IDENTITY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
    # azure-identity builds its own transport: trust the sandbox CA through the environment, as a user would.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
    return server


def _list_groups(server: SandboxServer, credential: Any) -> list[str]:
    with ResourceManagementClient(
        credential, _subscription(server), base_url=server.endpoint, connection_verify=server.ca_file
    ) as client:
        return [group.name for group in client.resource_groups.list()]


def test_managed_identity_credential_gets_a_token_and_calls_arm(identity_env: SandboxServer) -> None:
    credential = ManagedIdentityCredential()
    token = credential.get_token(ARM_SCOPE)
    assert token.token in identity_env.sandbox.rbac.tokens
    assert time.time() + 3600 < token.expires_on <= time.time() + 24 * 3600 + 60
    assert credential.get_token(ARM_SCOPE).token == token.token  # cached by MSAL, as in Azure
    assert _list_groups(identity_env, credential)
    log = identity_env.sandbox.requests()
    assert log[-1].operation == "ResourceGroups_List" and log[-1].principal == MANAGED_IDENTITY_OBJECT_ID


def test_managed_identity_user_assigned_by_client_id(identity_env: SandboxServer) -> None:
    credential = ManagedIdentityCredential(client_id="11111111-2222-3333-4444-555555555555")
    token = credential.get_token(ARM_SCOPE)
    assert identity_env.sandbox.rbac.tokens[token.token] == "11111111-2222-3333-4444-555555555555"


def test_default_azure_credential_uses_the_managed_identity(identity_env: SandboxServer) -> None:
    credential = DefaultAzureCredential(
        exclude_environment_credential=True,
        exclude_workload_identity_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_cli_credential=True,
        exclude_developer_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_interactive_browser_credential=True,
    )
    assert _list_groups(identity_env, credential)
    assert identity_env.sandbox.requests()[-1].principal == MANAGED_IDENTITY_OBJECT_ID


def test_wrong_identity_header_fails_authentication(identity_env: SandboxServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(ARM_SCOPE)
    assert identity_env.sandbox.rbac.tokens == {}


def test_identity_endpoint_answers_401_json_without_the_header(server: SandboxServer) -> None:
    answer = requests.get(server.identity_endpoint, params={"api-version": "2019-08-01",
                                                            "resource": "https://management.azure.com"},
                          verify=server.ca_file, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidIdentityHeader"


# ---- wire behaviour ------------------------------------------------------------------------------


def test_keep_alive_and_content_length(server: SandboxServer) -> None:
    conn = _connection(server)
    try:
        path = f"/subscriptions/{_subscription(server)}/resourcegroups?api-version=2021-04-01"
        for _ in range(3):  # one TCP/TLS connection, three answers
            conn.request("GET", path, headers={"Authorization": "Bearer t"})
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200
            assert int(answer.getheader("Content-Length")) == len(body) > 0
            assert json.loads(body)["value"]
            assert answer.getheader("Connection") is None and not answer.will_close
            assert answer.getheader("x-ms-request-id")
        conn.request("HEAD", f"/subscriptions/{_subscription(server)}/resourcegroups/nope?api-version=2021-04-01",
                     headers={"Authorization": "Bearer t"})
        head = conn.getresponse()
        assert head.status == 404 and head.read() == b""
        conn.request("GET", "/_sandbox/clock")  # the connection survived the bodiless HEAD answer
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_request_body_reaches_the_sandbox(server: SandboxServer) -> None:
    conn = _connection(server)
    try:
        body = json.dumps({"location": "westeurope", "tags": {"team": "backup"}}).encode()
        conn.request("PUT", f"/subscriptions/{_subscription(server)}/resourcegroups/rg-new?api-version=2021-04-01",
                     body=body, headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
        answer = conn.getresponse()
        created = json.loads(answer.read())
        assert answer.status == 201 and created["location"] == "westeurope" and created["tags"] == {"team": "backup"}
    finally:
        conn.close()


def test_dropped_connection_closes_without_an_answer(server: SandboxServer) -> None:
    server.sandbox.faults.add({"operation": "ResourceGroups_List", "drop": True})
    conn = _connection(server)
    try:
        conn.request("GET", f"/subscriptions/{_subscription(server)}/resourcegroups?api-version=2021-04-01",
                     headers={"Authorization": "Bearer t"})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            conn.getresponse()
    finally:
        conn.close()
    assert [r.fault for r in server.sandbox.requests()] == [True]


def test_plain_http_is_not_served(server: SandboxServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/_sandbox/state")
            conn.getresponse()
    finally:
        conn.close()
    # ... and the server keeps serving HTTPS afterwards.
    assert requests.get(server.endpoint + "/_sandbox/clock", verify=server.ca_file, timeout=10).ok


def test_a_silent_client_does_not_block_others(server: SandboxServer) -> None:
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)  # never says hello
    try:
        assert requests.get(server.endpoint + "/_sandbox/clock", verify=server.ca_file, timeout=10).ok
    finally:
        idle.close()


def test_latency_is_real_and_concurrent_requests_overlap(server: SandboxServer) -> None:
    server.sandbox.config.update({"latency_ms": (150, 150)})
    sub = _subscription(server)
    url = server.endpoint + "/subscriptions/" + sub + "?api-version=2022-12-01"
    headers = {"Authorization": "Bearer t"}
    answer = requests.get(url, headers=headers, verify=server.ca_file, timeout=10)
    assert answer.ok and answer.elapsed.total_seconds() >= 0.15  # the configured latency is really waited
    server.sandbox.config.update({"latency_ms": (0, 0)})
    # Overlap, shown by order rather than by time: one answer is held back (a latency fault, applied after
    # the request was served and logged); a second request, sent while the first is still held, is answered
    # first. A server that answers one request at a time could only answer it after the held one.
    # (A latency fault is a real wait only while the clock runs; on a frozen clock it moves the clock.)
    server.sandbox.faults.add({"operation": "Subscriptions_Get", "latency_ms": 5000, "times": 1})
    set_clock_rate(server.sandbox, 1.0)
    done: list[str] = []
    try:
        held = threading.Thread(target=lambda: done.append(
            str(requests.get(url, headers=headers, verify=server.ca_file, timeout=30).status_code)))
        held.start()
        assert server.sandbox.wait_for_request("GET", f"^/subscriptions/{sub}$", timeout=20) is not None
        groups = requests.get(f"{server.endpoint}/subscriptions/{sub}/resourcegroups?api-version=2022-09-01",
                              headers=headers, verify=server.ca_file, timeout=30)
        assert groups.ok and done == []  # answered while the first request was still held
        held.join(timeout=30)
    finally:
        set_clock_rate(server.sandbox, 0.0)
    assert done == ["200"]


def test_running_clock_scales_retry_after_and_lros_finish_in_real_seconds() -> None:
    # Server mode proper: the clock runs at `rate` virtual seconds per real second and Retry-After is
    # announced in real seconds (whole ones: the compute SDK parses it with int()), so a client
    # honouring it, with the SDK's default polling settings, waits far less than the virtual duration.
    from azure.mgmt.compute import ComputeManagementClient

    from azbackup_fix import SandboxCredential

    sandbox = Sandbox(scenario="healthy")
    with SandboxServer(sandbox, clock_rate=300) as running:
        first = requests.get(running.endpoint + "/_sandbox/clock", verify=running.ca_file, timeout=10).json()
        assert first["rate"] == 300
        sandbox.faults.add({"operation": "Subscriptions_Get", "status": 429, "retry_after": 600})
        answer = requests.get(f"{running.endpoint}/subscriptions/{sandbox.subscription_ids[0]}",
                              params={"api-version": "2022-12-01"}, headers={"Authorization": "Bearer t"},
                              verify=running.ca_file, timeout=10)
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"  # 600 s / 300
        vm_id = sandbox.snapshot()["resources"]["backup"]["protectedItems"][0]["vmId"]
        # The LRO's Retry-After is announced in real seconds too, so the SDK polls after 1 s, not 30 s.
        restart = requests.post(f"{running.endpoint}{vm_id}/restart", params={"api-version": "2024-07-01"},
                                headers={"Authorization": "Bearer t"}, verify=running.ca_file, timeout=10)
        assert restart.status_code == 202 and restart.headers["Retry-After"] == "1"
        second = [i["vmId"] for i in sandbox.snapshot()["resources"]["backup"]["protectedItems"]][1]
        with ComputeManagementClient(SandboxCredential(), sandbox.subscription_ids[0],
                                     base_url=running.endpoint, connection_verify=running.ca_file) as client:
            client.virtual_machines.begin_restart(second.split("/")[4], second.split("/")[-1]).result()
            assert client.virtual_machines.instance_view(second.split("/")[4], second.split("/")[-1]).statuses
        later = requests.get(running.endpoint + "/_sandbox/clock", verify=running.ca_file, timeout=10).json()
        assert later["now"] > first["now"]
    assert not running.running


def test_unknown_arm_route_over_https(server: SandboxServer) -> None:
    answer = requests.get(f"{server.endpoint}/subscriptions/{_subscription(server)}/providers/Microsoft.Nope/x",
                          params={"api-version": "2020-01-01"}, headers={"Authorization": "Bearer t"},
                          verify=server.ca_file, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "InvalidResourceType"
    assert "GET /subscriptions/" in answer.json()["error"]["message"]


# ---- lifecycle -----------------------------------------------------------------------------------


def test_server_properties_and_ca_file(tmp_path: Path) -> None:
    ca_file = tmp_path / "nested" / "ca.pem"
    server = SandboxServer(Sandbox(), ca_file=ca_file)
    with pytest.raises(SandboxServerError):
        _ = server.endpoint
    with server:
        assert server.endpoint == f"https://127.0.0.1:{server.port}" and server.port > 0
        assert server.ca_file == str(ca_file) and "BEGIN CERTIFICATE" in ca_file.read_text()
        assert server.identity_endpoint == server.endpoint + "/_sandbox/identity"
        assert len(server.identity_header) >= 32
        assert requests.get(f"https://localhost:{server.port}/_sandbox/clock", verify=str(ca_file), timeout=10).ok
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_stop_releases_idle_keep_alive_connections() -> None:
    server = SandboxServer(Sandbox()).start()
    conn = _connection(server)
    conn.request("GET", "/_sandbox/clock")
    assert conn.getresponse().read()
    server.stop()  # must not hang on the idle connection's handler thread
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/_sandbox/clock")
        conn.getresponse()
    conn.close()


def test_missing_trustme_is_a_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # what `import trustme` sees when it is not installed
    with pytest.raises(SandboxServerError) as caught:
        SandboxServer(Sandbox()).start()
    assert str(caught.value) == INSTALL_HINT and "pip install 'azbackup-fix[sandbox]'" in str(caught.value)


def test_port_in_use_is_reported(sandbox_server: SandboxServer) -> None:
    with pytest.raises(SandboxServerError, match="cannot listen"):
        SandboxServer(Sandbox(), port=sandbox_server.port).start()


# ---- the azbackup-sandbox command ------------------------------------------------------------------


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "azbackup_sandbox.cli", *args], capture_output=True,
                          text=True, env=_cli_env(), timeout=timeout)


def test_cli_serve_prints_the_ready_line_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "azbackup_sandbox.cli", "serve", "--scenario", "healthy",
         "--ready-file", str(ready_file), "--clock-rate", "600", "--rbac"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env(),
    )
    try:
        line = read_line(proc, timeout=60)
        ready = json.loads(line)
        assert set(ready) == {"endpoint", "ca_file", "identity_endpoint", "identity_header", "subscription_ids"}
        assert json.loads(ready_file.read_text()) == ready
        assert ready["endpoint"].startswith("https://127.0.0.1:")
        assert ready["identity_endpoint"] == ready["endpoint"] + "/_sandbox/identity"
        assert len(ready["subscription_ids"]) == 1
        state = requests.get(ready["endpoint"] + "/_sandbox/state", verify=ready["ca_file"], timeout=10).json()
        assert state["scenario"] == "healthy"
        clock = requests.get(ready["endpoint"] + "/_sandbox/clock", verify=ready["ca_file"], timeout=10).json()
        assert clock["rate"] == 600
        config = requests.get(ready["endpoint"] + "/_sandbox/config", verify=ready["ca_file"], timeout=10).json()
        assert config["rbac"] is True and config["throttling"] is False
        token = requests.get(ready["identity_endpoint"],
                             params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                             headers={"X-IDENTITY-HEADER": ready["identity_header"]},
                             verify=ready["ca_file"], timeout=10).json()["access_token"]
        denied = requests.get(f"{ready['endpoint']}/subscriptions/{ready['subscription_ids'][0]}/resourcegroups",
                              params={"api-version": "2021-04-01"}, headers={"Authorization": f"Bearer {token}"},
                              verify=ready["ca_file"], timeout=10)
        assert denied.status_code == 403  # --rbac: the managed identity has no role yet
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "" and err == ""  # exactly one stdout line (read above), quiet stderr
    assert not ready_file.exists()


def test_cli_serve_sigint_exits_0() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "azbackup_sandbox.cli", "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env())
    try:
        ready = json.loads(read_line(proc, timeout=60))
        assert ready["subscription_ids"] == []
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_cli_scenarios_lists_one_line_each() -> None:
    result = _cli("scenarios")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert "healthy" in names and "fleet" in names
    assert all(len(line.split(None, 1)) == 2 for line in lines)  # a name and a description


def test_cli_state_prints_a_scenario_estate() -> None:
    result = _cli("state", "--scenario", "healthy")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["scenario"] == "healthy"


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "http"],
        ["serve", "--latency-ms", "9,3"],
        ["serve", "--clock-rate", "-1"],
        ["serve", "--scenario", "no-such-estate"],
        ["teleport"],
        [],
        ["requests"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("azbackup-sandbox: error:")


# ---- one behaviour, two transports ------------------------------------------------------------------


def _backup_script(arm: Arm) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
    from azure.mgmt.recoveryservicesbackup.models import BackupRequestResource, IaasVMBackupRequest

    arm.load("healthy")
    item = arm.snapshot()["resources"]["backup"]["protectedItems"][0]["id"]
    parts = item.split("/")
    group, vault, container, name = parts[4], parts[8], parts[12], parts[14]
    with arm.client(RecoveryServicesBackupClient) as client:
        client.backups.trigger(vault, group, "Azure", container, name,
                               BackupRequestResource(properties=IaasVMBackupRequest()))
        running = [job.name for job in client.backup_jobs.list(vault, group)
                   if job.properties.status == "InProgress"]
        assert running
        arm.advance(3 * 3600)
        assert client.job_details.get(vault, group, running[0]).properties.status != "InProgress"
    return arm.snapshot(), arm.requests()


def test_inprocess_and_https_reach_identical_state(sandbox_server: SandboxServer) -> None:
    # The same SDK calls through the in-process transport and over HTTPS leave byte-identical estates
    # and request logs: the server adds transport, not behaviour.
    make_pristine(sandbox_server.sandbox)
    over_https = _backup_script(Arm("https", sandbox_server.sandbox, sandbox_server))
    in_process = _backup_script(Arm("inprocess", Sandbox()))
    assert json.dumps(over_https[0], sort_keys=True) == json.dumps(in_process[0], sort_keys=True)
    # Sequence numbers keep counting across resets of the long-lived server sandbox; the rest must match.
    def strip(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in record.items() if k not in ("seq", "received_at", "answered_at")}
                for record in log]

    assert strip(over_https[1]) == strip(in_process[1])


def test_latency_fault_waits_in_server_mode_and_advances_the_virtual_clock_in_process(
    server: SandboxServer,
) -> None:
    url = server.endpoint + "/subscriptions/" + _subscription(server) + "?api-version=2022-12-01"
    server.sandbox.faults.add({"operation": "Subscriptions_Get", "latency_ms": 200, "times": 1})
    set_clock_rate(server.sandbox, 10.0)
    try:
        start = time.perf_counter()
        answer = requests.get(url, headers={"Authorization": "Bearer t"}, verify=server.ca_file, timeout=10)
        waited = time.perf_counter() - start
    finally:
        set_clock_rate(server.sandbox, 0.0)
    assert answer.status_code == 200 and waited >= 0.2  # a lower bound only: the fault's delay happened

    sandbox = Sandbox(scenario="healthy")
    before = sandbox.clock.now()
    sandbox.faults.add({"operation": "Subscriptions_Get", "latency_ms": 1500})
    from azbackup_sandbox.core.http import SandboxRequest

    sub = sandbox.subscription_ids[0]
    reply = sandbox.handle(SandboxRequest("GET", f"https://x/subscriptions/{sub}?api-version=1",
                                          {"Authorization": "Bearer t"}))
    assert reply.status == 200 and (sandbox.clock.now() - before).total_seconds() == 1.5


def test_wait_for_request_wakes_when_a_matching_request_is_logged() -> None:
    from azbackup_sandbox.core.http import SandboxRequest

    sandbox = Sandbox(scenario="healthy")
    sub = sandbox.subscription_ids[0]
    assert sandbox.wait_for_request("GET", r"/subscriptions/[^/]+$", timeout=0) is None
    found: list[Any] = []
    waiter = threading.Thread(
        target=lambda: found.append(sandbox.wait_for_request("get", r"/subscriptions/[^/]+$", timeout=30)))
    waiter.start()
    sandbox.handle(SandboxRequest("GET", f"https://x/subscriptions/{sub}?api-version=1",
                                  {"Authorization": "Bearer t"}))
    waiter.join(timeout=30)
    assert not waiter.is_alive() and found[0] is not None and found[0].status == 200
