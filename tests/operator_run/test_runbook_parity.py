"""Issue 18 item 11: the runbook takes the CLI's targets and rails (``--max-targets``,
``--check-permissions ROLE_FILE``), prints each error once on the error stream, and silences
azure-identity's log unless ``--debug``. Through ``runbook.main`` against the HTTPS sandbox."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix import runbook
from azbackup_fix.preflight import role_definition
from azbackup_sandbox import SandboxServer
from tests.gateway.sandbox_arm import writes
from tests.operator_run.helpers import OTHER, SUB, VM


def _run(server: SandboxServer, tmp_path: Path, scenario: str, *args: str) -> tuple[int, dict[str, Any], str, str]:
    server.sandbox.load(scenario)
    server.sandbox.clear_requests()
    out, err = io.StringIO(), io.StringIO()
    code = runbook.main(["--subscription", SUB, "--arm-endpoint", server.endpoint,
                         "--journal", str(tmp_path / "j.sqlite"), *args], stdout=out, stderr=err)
    doc = json.loads(out.getvalue().splitlines()[-1])
    assert doc["exit_code"] == code
    return code, doc, out.getvalue(), err.getvalue()


def _no_error_on_stdout(out: str) -> None:
    assert not [line for line in out.splitlines() if line.startswith("ERROR:")], out


def test_max_targets_refuses_before_any_change(server: SandboxServer, identity: None, tmp_path: Path) -> None:
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "apply", "--vm", VM, "--vm", OTHER,
                               "--max-targets", "1")
    assert code == 3, (out, err)
    assert err.splitlines() == ["ERROR: 2 targets exceed the limit of 1 (--max-targets)"]
    _no_error_on_stdout(out)
    assert writes(server.sandbox.requests()) == []
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "plan", "--vm", VM, "--vm", OTHER,
                               "--max-targets", "2")
    assert code == 4 and len(doc["runs"]) == 2, (out, err)


def test_max_targets_below_one_is_bad_input(server: SandboxServer, identity: None, tmp_path: Path) -> None:
    code, _, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "plan", "--vm", VM, "--max-targets", "0")
    assert code == 2 and len(err.splitlines()) == 1 and "--max-targets" in err, (out, err)


def test_check_permissions_names_what_the_role_lacks_before_any_change(server: SandboxServer, identity: None,
                                                                        tmp_path: Path) -> None:
    reader = tmp_path / "reader.json"
    reader.write_text(json.dumps({"Name": "Reader", "Actions": ["*/read"], "NotActions": []}), encoding="utf-8")
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "apply", "--vm", VM,
                               "--check-permissions", str(reader))
    assert code == 3, (out, err)
    (line,) = err.splitlines()
    assert line.startswith("ERROR: permissions:") and "Microsoft.Authorization/locks/delete" in line
    assert "Microsoft.Authorization/locks/delete" in doc["preflight"]["missing"]
    _no_error_on_stdout(out)
    assert writes(server.sandbox.requests()) == [] and doc["runs"] == []

    operator = tmp_path / "operator.json"
    operator.write_text(json.dumps(role_definition()), encoding="utf-8")
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "plan", "--vm", VM,
                               "--check-permissions", str(operator))
    assert code == 4 and err == "" and "VERBOSE: permissions: all" in out, (out, err)


@pytest.mark.parametrize("args", [["--mode", "diagnose"], ["--mode", "scan"]])
def test_check_permissions_outside_plan_and_apply_is_bad_input(server: SandboxServer, identity: None,
                                                               tmp_path: Path, args: list[str]) -> None:
    role = tmp_path / "role.json"
    role.write_text(json.dumps(role_definition()), encoding="utf-8")
    code, _, out, err = _run(server, tmp_path, "rp-limit-locked", *args, "--check-permissions", str(role))
    assert code == 2 and len(err.splitlines()) == 1 and "--check-permissions" in err, (out, err)


def test_each_error_once_on_the_error_stream(server: SandboxServer, identity: None, tmp_path: Path) -> None:
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "plan", "--vm", "not-an-id")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ERROR: "), (out, err)
    _no_error_on_stdout(out)
    missing = VM.replace("vm-app-01", "vm-nope")
    code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "diagnose", "--vm", missing)
    assert code == 2 and len(err.splitlines()) == 1 and "vm-nope" in err, (out, err)
    _no_error_on_stdout(out)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("debug", [False, True])
def test_identity_log_is_silenced_unless_debug(server: SandboxServer, identity: None, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, debug: bool) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")  # the identity endpoint refuses the token request
    logger = logging.getLogger("azure.identity")
    handler = _Records()
    logger.addHandler(handler)
    try:
        code, doc, out, err = _run(server, tmp_path, "rp-limit-locked", "--mode", "diagnose", "--vm", VM,
                                   *(["--debug"] if debug else []))
    finally:
        logger.removeHandler(handler)
    assert code == 6, (out, err)
    assert len(err.splitlines()) == 1 and err.startswith("ERROR: "), err
    _no_error_on_stdout(out)
    warned = [r for r in handler.records if r.levelno >= logging.WARNING]
    assert bool(warned) is debug, [r.getMessage() for r in handler.records]
