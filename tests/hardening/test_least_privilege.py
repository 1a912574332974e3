"""Least privilege with the sandbox's RBAC enforced (issue 7, item 4).

* Under the shipped operator role every playbook of the matrix succeeds (no 403 at all).
* Under Reader, ``apply --check-permissions`` refuses before any write is sent: exit 3, the
  missing actions named, zero write requests (and no 403: nothing was even tried).
* Under the operator role minus one action that the case's clean run uses, the preflight names
  exactly that action, and an apply without preflight fails on ARM's 403 with a report naming
  exactly that action (exit 3), the locks back as before.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main
from azbackup_fix.journal import Journal
from azbackup_fix.preflight import Permissions, check, operator_actions, required_actions
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import MANAGED_IDENTITY_OBJECT_ID, subscription_ids
from azbackup_sandbox.core.rbac import DEFAULT_PRINCIPAL
from tests.gateway.sandbox_arm import BROKEN, VM_RG, Target, writes
from tests.hardening.faultmatrix import CASES, Case

REPO = Path(__file__).resolve().parents[2]
ROLE_FILE = REPO / "examples/rbac/azbackup-fix-operator.json"
COVERAGE = REPO / "azbackup_sandbox/COVERAGE.md"
WRITING = [c for c in CASES if c.playbook != "inspect-vm"]
# Reader plus backupStatus (Reader alone diagnoses too, through the vaults' items: test_reader_diagnose.py).
READER_WHO_CAN_DIAGNOSE = ("*/read", "Microsoft.RecoveryServices/locations/backupStatus/action")
# Reachable through the CLI's default routing (the others need playbook options the CLI takes from a file).
CLI_FLAGS = {"rp-limit-locked": [], "rp-limit-custom-rg": [], "vmsnapshot-windows": [], "vmsnapshot-linux": [],
             "backup-in-progress": ["--allow-disruptive"], "protection-stopped": ["--allow-protection-changes"],
             "vm-deleted": ["--allow-protection-changes"]}


def _route_actions() -> dict[str, str]:
    """Operation id -> RBAC action, from the sandbox's generated route table."""
    row = re.compile(r"^\| [A-Z]+ \| `[^`]+` \| (\w+) \| `([^`]+)` \|")
    return {m.group(1): m.group(2) for line in COVERAGE.read_text().splitlines() if (m := row.match(line))}


def _enforced(case: Case, actions: tuple[str, ...] | list[str]) -> Sandbox:
    sandbox = Sandbox(scenario=case.scenario)
    sandbox.config.rbac = sandbox.rbac.enforce = True
    sandbox.rbac.assign(DEFAULT_PRINCIPAL, actions=tuple(actions))
    return sandbox


def _write_actions_used(case: Case, tmp: Path) -> list[str]:
    """The RBAC actions of the write requests a clean apply of ``case`` sends."""
    sandbox = Sandbox(scenario=case.scenario)
    target = Target(sandbox)
    sandbox.clear_requests()
    with target.remediator(journal_path=str(tmp / "clean.sqlite")) as fix:
        assert fix.run(target.vm(), apply=True, **case.run).exit_code == 0
    by_op = _route_actions()
    return sorted({by_op[r.operation] for r in writes(sandbox.requests())})


@pytest.mark.parametrize("case", WRITING, ids=[c.name for c in WRITING])
def test_operator_role_suffices_and_each_used_write_action_is_named_when_missing(case: Case, tmp_path: Path) -> None:
    role = json.loads(ROLE_FILE.read_text(encoding="utf-8"))["Actions"] if ROLE_FILE.exists() else operator_actions()
    sandbox = _enforced(case, role)
    target = Target(sandbox)
    with target.remediator(journal_path=str(tmp_path / "ok.sqlite")) as fix:
        report = fix.run(target.vm(), apply=True, **case.run)
    assert report.exit_code == 0 and not [r for r in sandbox.requests() if r.status == 403], report.to_dict()

    used = _write_actions_used(case, tmp_path)
    assert used
    playbooks = sorted({case.playbook, *(p.playbook for p in report.playbooks)})
    for n, action in enumerate(used):
        lacking = [a for a in role if a != action]
        # The preflight names exactly the one missing action.
        needs = {pb: required_actions([pb]) for pb in playbooks}
        result = check(needs, Permissions.from_document({"Actions": lacking}))
        assert result.missing_actions == (action,), (action, result.to_dict())
        # Without the preflight, ARM's 403 is reported naming exactly that action; locks come back.
        sandbox = _enforced(case, lacking)
        locks_before = sandbox.locks.to_dict()
        target = Target(sandbox)
        with target.remediator(journal_path=str(tmp_path / f"lack-{n}.sqlite")) as fix:
            report = fix.run(target.vm(), apply=True, **case.run)
        named = {m for s in report.steps if s.status.is_failure
                 for m in re.findall(r"missing '([^']+)'", s.reason or "")}
        assert named == {action}, (action, report.to_dict())
        assert report.exit_code == 3
        assert all(s.error_code == "AuthorizationFailed" and s.request_id for s in report.steps
                   if s.status.is_failure), report.to_dict()
        # A lock that could not be put back (locks/write missing) stays pending for `recover`.
        with Journal(tmp_path / f"lack-{n}.sqlite") as journal:
            pending = [p.lock.ref.id for p in journal.pending_locks()]
        assert sorted([lk["id"] for lk in sandbox.locks.to_dict()] + pending) == \
            sorted(lk["id"] for lk in locks_before)
        assert not pending or action == "Microsoft.Authorization/locks/write"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.mark.parametrize("name", sorted(CLI_FLAGS))
def test_reader_is_refused_by_the_preflight_before_any_write(server: SandboxServer, name: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c.name == name)
    for key, value in {"AZBACKUP_ARM_ENDPOINT": server.endpoint, "REQUESTS_CA_BUNDLE": server.ca_file,
                       "IDENTITY_ENDPOINT": server.identity_endpoint, "IDENTITY_HEADER": server.identity_header,
                       "AZBACKUP_JOURNAL": str(tmp_path / "j.sqlite")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AZBACKUP_SUBSCRIPTION", raising=False)
    sandbox = server.sandbox
    sandbox.load(case.scenario)
    with sandbox.lock:
        sandbox.rbac.principals.clear()
        sandbox.config.rbac = sandbox.rbac.enforce = True
        sandbox.rbac.assign(MANAGED_IDENTITY_OBJECT_ID, actions=READER_WHO_CAN_DIAGNOSE)
    reader = tmp_path / "reader.json"
    reader.write_text(json.dumps({"Name": "Reader+backupStatus", "Actions": list(READER_WHO_CAN_DIAGNOSE),
                                  "NotActions": []}), encoding="utf-8")
    vm = f"/subscriptions/{subscription_ids(sandbox)[0]}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/" \
         f"virtualMachines/{BROKEN}"
    try:
        out, err = io.StringIO(), io.StringIO()
        code = main(["apply", "--yes", "--vm", vm, "--check-permissions", str(reader), "--output", "json",
                     *CLI_FLAGS[name]], stdout=out, stderr=err)
    finally:
        with sandbox.lock:
            sandbox.config.rbac = sandbox.rbac.enforce = False
    assert code == 3, (out.getvalue(), err.getvalue())
    text = out.getvalue()
    assert "nothing was changed" in text or "missing" in text, (text, err.getvalue())
    missing = [a for a in required_actions([case.playbook])
               if not a.endswith("/read") and a not in READER_WHO_CAN_DIAGNOSE]
    assert missing and all(a in text for a in missing), (missing, text)
    assert writes(sandbox.requests()) == []
    assert not [r for r in sandbox.requests() if r.status == 403]  # nothing was even tried
