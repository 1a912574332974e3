"""Issue 18 item 8: authentication and TLS failures in one line with the cause and what to check, their
own exit code (6), azure-identity's log silenced unless --debug; `diagnose --vm BAD -o json` prints a
JSON error object, not `null`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from azbackup_fix.cli import exit_codes
from azbackup_fix.cli.main import main
from azbackup_sandbox import Sandbox, SandboxServer
from tests.gateway.sandbox_arm import writes
from tests.operator_run.helpers import VM, cli

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"  # trusts public CAs, not the sandbox's


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(scenario="healthy"), clock_rate=0.0) as running:
        yield running


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _diagnose(server: SandboxServer, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["diagnose", "--arm-endpoint", server.endpoint, "--vm", VM, *extra], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _identity_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("azure.identity") and r.levelno >= logging.WARNING]


def test_a_wrong_identity_header_is_one_line_naming_what_to_check(
        server: SandboxServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _env(monkeypatch, REQUESTS_CA_BUNDLE=server.ca_file, IDENTITY_ENDPOINT=server.identity_endpoint,
         IDENTITY_HEADER="not-the-header")
    server.sandbox.clear_requests()
    code, out, err = _diagnose(server)
    assert code == exit_codes.AUTHENTICATION == 6 and out == ""
    assert err.count("\n") == 1 and "authentication failed" in err and "IDENTITY_HEADER" in err, err
    assert "X-IDENTITY-HEADER" in err  # the cause, as the identity endpoint said it
    assert _identity_records(caplog) == []  # azure-identity's own log is silenced
    assert writes(server.sandbox.requests()) == []


def test_an_untrusted_certificate_names_requests_ca_bundle(
        server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, REQUESTS_CA_BUNDLE=SYSTEM_CA, IDENTITY_ENDPOINT=server.identity_endpoint,
         IDENTITY_HEADER=server.identity_header)
    code, out, err = _diagnose(server)
    assert code == 6 and out == "" and err.count("\n") == 1
    assert "certificate" in err and "REQUESTS_CA_BUNDLE" in err, err


def test_no_credential_at_all_says_az_login(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, REQUESTS_CA_BUNDLE=server.ca_file)
    monkeypatch.setenv("PATH", "/nonexistent")  # no Azure CLI, no PowerShell
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = _diagnose(server)
    assert code == 6 and err.count("\n") == 1 and "az login" in err, err


def test_debug_keeps_the_identity_log(server: SandboxServer, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    _env(monkeypatch, REQUESTS_CA_BUNDLE=server.ca_file, IDENTITY_ENDPOINT=server.identity_endpoint,
         IDENTITY_HEADER="not-the-header")
    code, _, err = _diagnose(server, "--debug")
    assert code == 6 and _identity_records(caplog), err
    assert logging.getLogger("azure.identity").getEffectiveLevel() < logging.CRITICAL  # restored after the run


@pytest.mark.parametrize("bad", ["BAD", VM.replace("vm-app-01", "vm-app-99")])
def test_diagnose_bad_vm_json_is_an_error_object(bad: str) -> None:
    code, out, _ = cli("diagnose", "--sandbox", "healthy", "--vm", bad, "--output", "json")
    doc = json.loads(out)
    assert code == 2 and isinstance(doc, dict), out
    assert doc["schema"] == "azbackup-fix/error/v1" and doc["exit_code"] == 2
    (error,) = doc["errors"]
    assert error["exit_code"] == 2 and error["message"] and error["type"]
