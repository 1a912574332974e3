"""The fault matrix (issue 7): cases, fault classes, one faulted run, and the invariants it must keep.

A *case* is a playbook run on a seeded scenario (every playbook and every single-VM scenario is
covered). Its *routes* come from the request log of a clean apply of the same case, so the matrix
follows the code instead of a hand-kept list. A *fault* is a sandbox fault rule (or config change)
put on one route; the faulted apply must end in a correct report and keep the invariants:

* every lock is back as it was, or pending in the journal for ``recover``;
* nothing outside the documented scope was written (snapshot diff: the VM's collections, its
  extensions, its protected item and jobs; locks only while pending);
* no item got two accepted on-demand backup POSTs in one run;
* after the faults are gone, a rerun converges: exit 0, and the run after it writes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azbackup_fix import RunReport, SandboxCredential
from azbackup_fix.errors import AzBackupFixError
from azbackup_fix.journal import Journal
from azbackup_sandbox import Sandbox
from azbackup_sandbox.core.sandbox import RequestRecord
from tests.gateway.sandbox_arm import BROKEN, Target, writes

__all__ = [
    "BEARER",
    "CASES",
    "FAULTS",
    "FULL",
    "Case",
    "Fault",
    "Outcome",
    "check_invariants",
    "clean_routes",
    "matrix",
    "run_faulted",
]

FULL = os.environ.get("AZBACKUP_FULL_FAULT_MATRIX", "") not in ("", "0")
BEARER = "hardening-bearer-7f3c9d2e41"  # a recognisable token: it must never show up in output
TRIGGER_OP = "Backups_Trigger"
_LRO_OPS = frozenset({
    "RestorePointCollections_Delete", "VirtualMachineExtensions_Delete", "VirtualMachines_Reapply",
    "VirtualMachines_Restart", "VirtualMachines_Redeploy", "VirtualMachineExtensions_Update",
    "ProtectedItems_CreateOrUpdate", TRIGGER_OP,
})
# One read route per case in the default matrix: the first one every run sends.
_REPRESENTATIVE_READ = "VirtualMachines_Get"


@dataclass(frozen=True)
class Case:
    """A playbook run on a scenario; ``run`` are the apply keywords (explicit playbooks, permissions)."""

    name: str
    scenario: str
    playbook: str
    run: dict[str, Any] = field(default_factory=dict)
    done: int = 0  # the exit code of a clean run: 0 fixed, 5 report-only (nothing here changes the cause)


_DISRUPT = {"allow_disruptive": True}
CASES: tuple[Case, ...] = (
    Case("rp-limit-locked", "rp-limit-locked", "clear-restore-point-limit"),
    Case("rp-limit-custom-rg", "rp-limit-custom-rg", "clear-restore-point-limit"),
    Case("vmsnapshot-windows", "failed-vmsnapshot-windows", "reinstall-backup-extension"),
    Case("vmsnapshot-linux", "failed-vmsnapshot-linux", "reinstall-backup-extension"),
    Case("agent-not-ready", "agent-not-ready", "recover-vm-provisioning", {
        "playbooks": ["recover-vm-provisioning"], **_DISRUPT,
        "options": {"recover-vm-provisioning": {"restart": True}}}),
    Case("backup-in-progress", "backup-in-progress", "resolve-backup-in-progress", {**_DISRUPT}),
    Case("protection-stopped", "protection-stopped", "resume-protection", {"allow_protection_changes": True}),
    Case("vm-deleted", "vm-deleted", "stop-protection-retain-data", {"allow_protection_changes": True}),
    # With stop-protection beside it: the orphans alone leave a cause that fails every backup (exit 5).
    Case("vm-deleted-orphans", "vm-deleted", "delete-orphaned-restore-points", {
        "allow_protection_changes": True,
        "playbooks": ["stop-protection-retain-data", "delete-orphaned-restore-points"]}),
    Case("healthy-trigger", "healthy", "trigger-backup", {
        "playbooks": ["trigger-backup"], "options": {"trigger-backup": {"force": True}}}),
    Case("guest-defender", "guest-defender-blocking", "fix-guest", {"allow_guest_changes": True}),
    Case("healthy", "healthy", "inspect-vm"),
    Case("vm-deallocated", "vm-deallocated", "inspect-vm"),  # backed up offline: nothing failed
    Case("disk-too-large", "disk-too-large", "inspect-vm", done=5),
    # Issue 12: another failed extension re-run (or removed when asked), a transient state waited out,
    # an agent never installed (nothing changes it), one a redeploy revives.
    Case("failed-extension-rerun", "failed-extension-rerun", "rerun-failed-extension",
         {"allow_extension_changes": True}),
    Case("failed-extension-removed", "failed-extension-persists", "rerun-failed-extension", {
        "allow_extension_changes": True, "options": {"rerun-failed-extension": {"remove": True}}}),
    Case("vm-transitioning", "vm-transitioning", "wait-for-vm-state"),
    Case("agent-not-installed", "agent-not-installed", "inspect-vm", done=5),
    Case("agent-not-ready-redeploy", "agent-not-ready-redeploy", "recover-vm-provisioning", {
        **_DISRUPT, "options": {"recover-vm-provisioning": {"redeploy": True}}}),
    Case("keyvault-access-policy", "keyvault-access-policy", "grant-backup-key-vault-access",
         {"allow_permission_changes": True}),
    Case("keyvault-rbac", "keyvault-rbac", "grant-backup-key-vault-access", {"allow_permission_changes": True}),
    Case("network-nsg", "network-nic-nsg-deny-internet", "allow-storage-outbound", {"allow_network_changes": True}),
    # Issue 14: the full VMSnapshot reinstall on Windows (ARM removal, guest clean-up, backup).
    Case("guest-full-reinstall", "guest-vmsnapshot-stale-plugin", "reinstall-backup-extension-clean",
         {"allow_extension_changes": True, "allow_guest_changes": True}),
)


@dataclass(frozen=True)
class Fault:
    """A fault class: the rule put on a route (``None``: a config change made by ``setup``)."""

    name: str
    rule: Callable[[str, str], dict[str, Any]] | None
    applies: Callable[[str, str], bool] = lambda method, op: True
    transient: bool = True  # the SDK's retry (or our step's) is expected to absorb it
    expect: str = ""  # what the report must name when the run fails
    setup: Callable[[Sandbox], None] | None = None


def _is_write(method: str, op: str) -> bool:
    return method != "GET" and op != "BackupStatus_Get"


def _status(status: int, code: str, **extra: Any) -> Callable[[str, str], dict[str, Any]]:
    return lambda method, op: {"operation": op, "method": method, "status": status, "code": code, **extra}


FAULTS: tuple[Fault, ...] = (
    Fault("429-retry-after-5s", _status(429, "SubscriptionRequestsThrottled", retry_after=5)),
    Fault("429-retry-after-2h", _status(429, "SubscriptionRequestsThrottled", retry_after=7200)),
    Fault("500-once", _status(500, "InternalServerError")),
    Fault("503-always", _status(503, "ServiceUnavailable", times=-1), transient=False, expect="ServiceUnavailable"),
    Fault("dropped-connection", lambda m, op: {"operation": op, "method": m, "drop": True}, transient=False,
          expect="could not reach"),
    Fault("lro-failed", lambda m, op: {"operation": op, "method": m, "latency_ms": 1,
                                       "lro_failure": {"code": "InternalExecutionError",
                                                       "message": "An internal execution error occurred."}},
          applies=lambda m, op: op in _LRO_OPS, transient=False, expect="InternalExecutionError"),
    Fault("409-conflict", _status(409, "Conflict", message="Operation is not allowed: another operation on "
                                  "the resource is in progress."),
          applies=_is_write, transient=False, expect="Conflict"),
)


def _rpc_timeout(sb: Sandbox) -> None:
    sb.config.rpc_delete_batch = 2  # 18 points need 9 attempts: more than the first try and three retries


COLLECTION_TIMEOUT = Fault("collection-delete-timeout", None, applies=lambda m, op: op == "RestorePointCollections_Delete",
                           transient=False, expect="OperationTimedOut", setup=_rpc_timeout)


def _token_expiry(skip: int) -> Fault:
    # From the skip-th request on, ARM refuses the token (the credential's cached token expired):
    # the same 401 the sandbox gives for sb.resources.expired_tokens.
    return Fault(f"token-expires-after-{skip}-requests",
                 lambda m, op: {"status": 401, "code": "ExpiredAuthenticationToken",
                                "message": "The access token expiry UTC time is earlier than current UTC time.",
                                "times": -1, "skip": skip},
                 transient=False, expect="ExpiredAuthenticationToken")


# -- one run ---------------------------------------------------------------------------------------


def _remediator(target: Target, journal: Path, **kw: Any) -> Any:
    # logging_enable: the SDK's network trace at DEBUG too, so the secrets scan sees the worst case.
    return target.remediator(journal_path=str(journal), credential=SandboxCredential(BEARER),
                             logging_enable=True, **kw)


def clean_routes(case: Case, tmp: Path) -> list[tuple[str, str]]:
    """(method, operation) of every request a clean apply of ``case`` sends, in first-seen order."""
    sandbox = Sandbox(scenario=case.scenario)
    target = Target(sandbox)
    sandbox.clear_requests()
    with _remediator(target, tmp / f"clean-{case.name}.sqlite") as fix:
        report = fix.run(target.vm(), apply=True, **case.run)
    assert report.exit_code == case.done, report.to_dict()
    seen: dict[tuple[str, str], None] = {}
    for rec in sandbox.requests():
        seen.setdefault((rec.method, rec.operation), None)
    return list(seen)


def matrix(case: Case, routes: list[tuple[str, str]]) -> list[tuple[Fault, str, str]]:
    """The (fault, method, operation) cells run for ``case``: all of them with FULL, else every write
    route with every fault class, one read route with the classes that hit reads, and token expiry
    at the first write and just after it."""
    cells: list[tuple[Fault, str, str]] = []
    write_routes = [(m, op) for m, op in routes if _is_write(m, op)]
    read_routes = [(m, op) for m, op in routes if not _is_write(m, op)]
    if not FULL:
        read_routes = [r for r in read_routes if r[1] == _REPRESENTATIVE_READ][:1]
    for method, op in write_routes + read_routes:
        for fault in FAULTS:
            if fault.applies(method, op):
                if not FULL and not _is_write(method, op) and fault.name in ("500-once", "429-retry-after-5s"):
                    continue  # reads: the cap, persistent 5xx and drops are the interesting ones
                cells.append((fault, method, op))
    if any(op == "RestorePointCollections_Delete" for _, op in write_routes):
        cells.append((COLLECTION_TIMEOUT, "DELETE", "RestorePointCollections_Delete"))
    return cells


def token_cells(case: Case, tmp: Path) -> list[tuple[Fault, str, str]]:
    """Token expiry at the first write request of a clean run, and right after it (all at FULL)."""
    sandbox = Sandbox(scenario=case.scenario)
    target = Target(sandbox)
    sandbox.clear_requests()
    with _remediator(target, tmp / f"tok-{case.name}.sqlite") as fix:
        fix.run(target.vm(), apply=True, **case.run)
    log = sandbox.requests()
    first = next((i for i, r in enumerate(log) if _is_write(r.method, r.operation)), None)
    if first is None:
        points = [len(log) // 2] if not FULL else list(range(0, len(log), 3))
    else:
        points = [first, first + 1] if not FULL else list(range(first, len(log)))
    return [(_token_expiry(k), "*", "*") for k in points]


@dataclass
class Outcome:
    """What one faulted run produced, and what the sandbox saw."""

    case: Case
    fault: Fault
    method: str
    operation: str
    report: RunReport | None
    error: AzBackupFixError | None
    before: dict[str, Any]
    after: dict[str, Any]
    log: list[RequestRecord]
    journal: Path
    sandbox: Sandbox
    target: Target
    texts: list[str] = field(default_factory=list)  # every user-visible string, for the secrets scan


def run_faulted(case: Case, fault: Fault, method: str, operation: str, tmp: Path) -> Outcome:
    sandbox = Sandbox(scenario=case.scenario)
    target = Target(sandbox)
    before = sandbox.snapshot()
    if fault.setup is not None:
        fault.setup(sandbox)
    if fault.rule is not None:
        sandbox.faults.add(fault.rule(method, operation))
    sandbox.clear_requests()
    journal = tmp / "journal.sqlite"
    report: RunReport | None = None
    error: AzBackupFixError | None = None
    texts: list[str] = []
    with _remediator(target, journal) as fix:
        try:
            report = fix.run(target.vm(), apply=True, **case.run)
            texts += [json.dumps(report.to_dict()), str(report)]
        except AzBackupFixError as exc:
            error = exc
            texts += [str(exc), repr(exc)]
    log = sandbox.requests()
    sandbox.faults.clear()
    sandbox.config.rpc_delete_batch = Sandbox().config.rpc_delete_batch
    return Outcome(case, fault, method, operation, report, error, before, sandbox.snapshot(), log, journal,
                   sandbox, target, texts)


# -- invariants ------------------------------------------------------------------------------------


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(i["id"]).casefold(): i for i in items}


def _vm_id(out: Outcome) -> str:
    return out.target.vm().id.casefold()


def _pending_lock_ids(journal: Path) -> set[str]:
    if not journal.exists():
        return set()
    with Journal(journal) as j:
        return {p.lock.ref.id.casefold() for p in j.pending_locks()}


def _cause_named(out: Outcome) -> str | None:
    """Why the report does not name the real cause, or None when it does."""
    want = out.fault.expect.casefold()
    faulted_ids = {r.request_id for r in out.log if r.fault}
    if out.error is not None:
        text = str(out.error).casefold()
        return None if want in text else f"error does not name {out.fault.expect!r}: {out.error}"
    assert out.report is not None
    failures = [s for s in out.report.steps if s.status.is_failure]
    if not failures:
        verify = [p.verification or "" for p in out.report.playbooks if p.verified is False]
        if any(want in v.casefold() for v in verify):
            return None
        return f"no failed step and no failed verification naming {out.fault.expect!r}"
    for step in failures:
        text = f"{step.error_code} {step.reason}".casefold()
        if want in text:
            # An ARM answer: the request id of the faulted request is in the report.
            if out.fault.rule is not None and "could not reach" not in want and out.fault.name != "lro-failed":
                if step.request_id not in faulted_ids and not any(i in (step.reason or "") for i in faulted_ids):
                    return f"{step.step} names the code but not the faulted request's id: {step.to_dict()}"
            return None
    return f"no failure names {out.fault.expect!r}: {[s.to_dict() for s in failures]}"


def _scope_violations(out: Outcome) -> list[str]:
    """Writes outside the documented scope, from the before/after snapshots."""
    b, a = out.before["resources"], out.after["resources"]
    vm = _vm_id(out)
    vm_name = BROKEN.casefold()
    bad: list[str] = []
    for section in ("resources",):
        if b[section] != a[section]:
            bad.append(f"{section} changed")
    if b["backup"]["vaults"] != a["backup"]["vaults"] or b["backup"]["policies"] != a["backup"]["policies"]:
        bad.append("vaults or policies changed")
    # Locks: identical, except those pending in the journal (removed, to be put back by recover).
    pending = _pending_lock_ids(out.journal)
    lb, la = _by_id(b["locks"]), _by_id(a["locks"])
    for key, lock in lb.items():
        if la.get(key) != lock and key not in pending:
            bad.append(f"lock {key} changed or lost and not pending in the journal")
    bad += [f"lock {k} created" for k in la if k not in lb]
    # Compute: other VMs untouched; collections of other sources untouched.
    vb, va = _by_id(b["compute"]["virtualMachines"]), _by_id(a["compute"]["virtualMachines"])
    bad += [f"VM {k} changed" for k in set(vb) | set(va) if k != vm and vb.get(k) != va.get(k)]
    cb, ca = _by_id(b["compute"]["restorePointCollections"]), _by_id(a["compute"]["restorePointCollections"])
    for key in set(cb) | set(ca):
        entry = cb.get(key) or ca[key]
        if str(entry.get("sourceId", "")).casefold() != vm and cb.get(key) != ca.get(key):
            bad.append(f"collection {key} of another VM changed")
    ib, ia = _by_id(b["backup"]["protectedItems"]), _by_id(a["backup"]["protectedItems"])
    for key in set(ib) | set(ia):
        entry = ib.get(key) or ia[key]
        if str(entry.get("vmId", "")).casefold() != vm and ib.get(key) != ia.get(key):
            bad.append(f"protected item {key} of another VM changed")
    jb, ja = _by_id(b["backup"]["jobs"]), _by_id(a["backup"]["jobs"])
    for key in set(jb) | set(ja):
        entry = jb.get(key) or ja[key]
        if str(entry.get("entity", "")).casefold() != vm_name and jb.get(key) != ja.get(key):
            bad.append(f"job {key} of another VM changed")
    return bad


def accepted_backup_posts(log: list[RequestRecord]) -> dict[str, int]:
    """Accepted (2xx, not faulted) POST .../backup per protected item."""
    out: dict[str, int] = {}
    for rec in log:
        if rec.operation == TRIGGER_OP and rec.status < 300 and not rec.fault:
            out[rec.path.casefold()] = out.get(rec.path.casefold(), 0) + 1
    return out


def resent_without_checking(log: list[RequestRecord]) -> list[str]:
    """Trigger POSTs resent after a failed one without listing the vault's jobs in between."""
    bad: list[str] = []
    failed_at: int | None = None
    for i, rec in enumerate(log):
        if rec.operation == TRIGGER_OP:
            if failed_at is not None and not any(r.operation == "BackupJobs_List" for r in log[failed_at:i]):
                bad.append(f"trigger POST #{rec.seq} resent without checking for the job first")
            failed_at = i if rec.status >= 300 or rec.fault else None
    return bad


def check_invariants(out: Outcome) -> list[str]:
    """Every violated invariant of one faulted run, with its rerun (empty when all hold)."""
    problems: list[str] = []
    # 1. A correct report: fixed, or failed naming the real cause.
    fixed = out.report is not None and out.report.exit_code == out.case.done
    if out.fault.transient and not fixed:
        detail = out.report.to_dict() if out.report is not None else str(out.error)
        problems.append(f"a transient fault was not absorbed: {detail}")
    if not fixed:
        why = _cause_named(out)
        if why:
            problems.append(why)
    if out.report is not None and out.report.exit_code == out.case.done:
        if any(p.verified is False for p in out.report.playbooks):
            problems.append("exit 0 with a failed verification")
    # 2-3. Locks back or pending; nothing outside the scope written.
    problems += _scope_violations(out)
    # 4. Never two accepted backups for one item in one run.
    problems += [f"{n} backups triggered for {item}" for item, n in accepted_backup_posts(out.log).items() if n > 1]
    problems += resent_without_checking(out.log)
    # 5. A rerun converges (after any backup still running ends), and the run after it writes nothing.
    problems += _converges(out)
    return problems


def _converges(out: Outcome) -> list[str]:
    sandbox, target = out.sandbox, out.target
    with _remediator(target, out.journal) as fix:
        again = fix.run(target.vm(), apply=True, **out.case.run)
        if again.exit_code != out.case.done:
            # A backup the faulted run started may still be running: let it end, then retry once.
            sandbox.advance(6 * 3600)
            again = fix.run(target.vm(), apply=True, **out.case.run)
        if again.exit_code != out.case.done:
            return [f"rerun did not converge: {again.to_dict()}"]
        sandbox.clear_requests()
        third = fix.run(target.vm(), apply=True, **out.case.run)
    problems = []
    if writes(sandbox.requests()) and out.case.playbook != "trigger-backup":
        problems.append(f"the run after the rerun still writes: {[r.operation for r in writes(sandbox.requests())]}")
    if third.exit_code != out.case.done:
        problems.append(f"the run after the rerun exits {third.exit_code}")
    if _pending_lock_ids(out.journal):
        problems.append("locks still pending in the journal after the rerun")
    locks_now = _by_id(sandbox.snapshot()["resources"]["locks"])
    if locks_now != _by_id(out.before["resources"]["locks"]):
        problems.append("locks differ from before the faulted run after the rerun")
    return problems
