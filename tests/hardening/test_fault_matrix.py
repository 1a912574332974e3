"""The fault matrix over the in-process sandbox (issue 7, items 1 and 5).

For every case of :mod:`tests.hardening.faultmatrix` (each playbook, each single-VM scenario) and
each fault on each route the case's clean apply uses, one faulted apply runs with the SDK's own
logging at DEBUG (network trace included); then the invariants are checked and a rerun must
converge. All of the run's output (log records, the report, the error) is scanned for the
sandbox's marker secrets (the VMSnapshot extension's protected settings, SAS signatures) and the
bearer token. The default matrix takes one representative read route; set
``AZBACKUP_FULL_FAULT_MATRIX=1`` for every route x every fault class.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hardening.faultmatrix import (
    BEARER,
    CASES,
    FAULTS,
    FULL,
    Case,
    Fault,
    _scope_violations,
    accepted_backup_posts,
    check_invariants,
    clean_routes,
    matrix,
    resent_without_checking,
    run_faulted,
    token_cells,
)

SECRET_MARKERS = ("sandbox-secret", BEARER)
_SAS_SIG = re.compile(r"(?i)\bsig=(?!\*\*\*)[^&\s\"']+")


class _Capture(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[_Capture]:
    root = logging.getLogger()
    handler, level = _Capture(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # azure-core loggers may have been given their own level elsewhere; open them all up.
    azure = [logging.getLogger(n) for n in ("azure", "azure.core", "azure.identity", "azure.mgmt")]
    levels = [lg.level for lg in azure]
    for lg in azure:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for lg, lv in zip(azure, levels, strict=True):
            lg.setLevel(lv)


def secrets_in(texts: list[str]) -> list[str]:
    found = []
    for text in texts:
        for marker in SECRET_MARKERS:
            if marker in text:
                found.append(f"{marker!r} in: {text[:300]}")
        match = _SAS_SIG.search(text)
        if match:
            found.append(f"unmasked SAS signature {match.group(0)!r} in: {text[:300]}")
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_fault_on_every_route_keeps_the_invariants(
    case: Case, tmp_path: Path, debug_logs: _Capture, count_fault_case: Callable[[str], None]
) -> None:
    cells = matrix(case, clean_routes(case, tmp_path)) + token_cells(case, tmp_path)
    assert cells
    violations: list[str] = []
    for n, (fault, method, op) in enumerate(cells):
        with tempfile.TemporaryDirectory(dir=tmp_path) as cell_dir:
            debug_logs.lines.clear()
            out = run_faulted(case, fault, method, op, Path(cell_dir))
            problems = check_invariants(out)
            problems += secrets_in(out.texts + debug_logs.lines)
            count_fault_case(f"{case.name}/{fault.name}/{method} {op}")
            violations += [f"[{n}] {fault.name} on {method} {op}: {p}" for p in problems]
    assert debug_logs is not None
    assert not violations, f"{len(violations)} invariant violation(s):\n" + "\n".join(violations)


def test_the_matrix_covers_every_playbook_and_single_vm_scenario() -> None:
    from azbackup_fix.playbooks import playbook_ids
    from tests.meta.test_dry_run_writes_nothing import SINGLE

    assert {c.playbook for c in CASES} == set(playbook_ids())
    assert {c.scenario for c in CASES} == SINGLE
    assert isinstance(FULL, bool)


def test_a_lost_trigger_answer_adopts_the_job_instead_of_a_second_backup(tmp_path: Path) -> None:
    # The service accepts the POST, but every poll of its operation fails: the step cannot know
    # the job id from the answer, finds the job in the vault's listing and waits for it.
    case = next(c for c in CASES if c.name == "healthy-trigger")
    fault = Fault("poll-503", lambda m, op: {"operation": "ProtectedItemOperationStatuses_Get", "status": 503,
                                              "times": -1}, transient=True)
    out = run_faulted(case, fault, "GET", "ProtectedItemOperationStatuses_Get", tmp_path)
    assert out.report is not None and out.report.exit_code == 0, out.report
    (step,) = out.report.steps
    assert step.detail_value("job_status") == "Completed"
    assert list(accepted_backup_posts(out.log).values()) == [1]
    assert [r.status for r in out.log if r.operation == "Backups_Trigger"] == [202]
    assert check_invariants(out) == []


def test_the_invariant_checks_catch_violations(tmp_path: Path) -> None:
    """The oracles are not vacuous: tampered outcomes are flagged."""
    case = CASES[0]
    out = run_faulted(case, FAULTS[0], "GET", "VirtualMachines_Get", tmp_path)
    assert check_invariants(out) == []
    tampered = copy.deepcopy(out.after)
    tampered["resources"]["locks"] = []  # a lock lost, not in the journal
    neighbour = [c for c in tampered["resources"]["compute"]["restorePointCollections"] if "vm-app-02" in c["id"]]
    neighbour[0]["restorePoints"] = []  # another VM's collection written
    tampered["resources"]["backup"]["policies"] = []
    problems = _scope_violations(dataclasses.replace(out, after=tampered))
    assert any("lock" in p for p in problems) and any("another VM" in p for p in problems)
    assert any("policies" in p for p in problems)
    post = next(r for r in out.log if r.operation == "Backups_Trigger")
    assert accepted_backup_posts([post, dataclasses.replace(post, seq=post.seq + 1)]) == {post.path.casefold(): 2}
    failed = dataclasses.replace(post, status=503, fault=True)
    assert resent_without_checking([failed, dataclasses.replace(post, seq=post.seq + 1)])
