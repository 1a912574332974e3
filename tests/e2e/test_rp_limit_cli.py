"""Issue 11 through the installed CLI over the HTTPS sandbox (a managed identity, REQUESTS_CA_BUNDLE, a
journal of its own): a ReadOnly lock on the restore-point group at the limit is removed, this VM's
collection deleted, the verification backup waited for, and only then the lock put back exactly (with
the warning that the next scheduled backup fails); with ``--leave-locks-removed`` it stays removed,
``recover`` lists it and ``recover --restore-left-locks`` puts it back exactly.

The server's virtual clock runs fast (clock rate 10^7), so the backup job the CLI waits for is done
by its first poll: no test waits on the wall clock for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azbackup_fix.journal import Journal
from azbackup_sandbox import SandboxServer
from tests.sandbox_cli import run_cli, server_environment
from tests.scenarios.rp_layouts import Layout, build, collections_of, locks

pytestmark = pytest.mark.e2e

FAST = 1e7  # virtual seconds per real second: a 20-minute backup job takes 0.1 ms


@pytest.fixture
def layout() -> Layout:
    return build("read-only-at-limit")


@pytest.fixture
def server(layout: Layout) -> Iterator[SandboxServer]:
    with SandboxServer(layout.sandbox, clock_rate=FAST) as running:
        yield running


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = run_cli(env, *args, "--output", "json", timeout=240)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def _read_only(layout: Layout) -> list[dict[str, Any]]:
    return [lk for lk in locks(layout.sandbox) if lk["level"] == "ReadOnly"]


def test_read_only_lock_at_the_limit_comes_back_after_the_backup(layout: Layout, server: SandboxServer,
                                                                   tmp_path: Path) -> None:
    env = server_environment(server, tmp_path / "journal.sqlite")
    vm = layout.vm().id
    (lock_before,) = _read_only(layout)
    mine = collections_of(layout.sandbox, layout.vm())

    code, found, err = _cli(env, "diagnose", "--vm", vm)
    assert code == 4, err
    titles = [f["title"] for f in found["findings"] if f["code"] == "RestorePointResourceGroupLocked"]
    assert titles and "ReadOnly" in titles[0] and "every backup write" in titles[0]

    code, plan, err = _cli(env, "plan", "--vm", vm)
    assert code == 4, err
    assert [s["step"] for s in plan["playbooks"][0]["steps"]] == [
        "delete-lock", "delete-restore-point-collection", "trigger-backup", "restore-lock"]
    assert plan["write_count"] == 0 and _read_only(layout) == [lock_before]

    code, report, err = _cli(env, "apply", "--yes", "--vm", vm)
    assert code == 0, err + json.dumps(report)
    fix = report["playbooks"][0]
    assert [(s["step"], s["status"]) for s in fix["steps"]] == [
        ("delete-lock", "changed"), ("delete-restore-point-collection", "changed"),
        ("trigger-backup", "changed"), ("restore-lock", "changed")]
    trigger, restore = fix["steps"][2], fix["steps"][3]
    assert trigger["detail"]["job_status"] == "Completed"
    assert "next scheduled backup will fail" in restore["detail"]["warning"]
    assert any(n.startswith("warning: ReadOnly lock") for n in fix["notes"])
    assert any("the fix is temporary" in n for n in fix["notes"])
    assert fix["verified"] is True
    # The lock is back exactly (level, notes, owners); only this VM's collection went.
    assert _read_only(layout) == [lock_before]
    assert not set(mine) & set(collections_of(layout.sandbox, layout.vm()))
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert journal.pending_locks() == () and journal.left_locks() == ()


def test_leave_locks_removed_then_recover_puts_them_back(layout: Layout, server: SandboxServer,
                                                         tmp_path: Path) -> None:
    env = server_environment(server, tmp_path / "journal.sqlite")
    vm = layout.vm().id
    (lock_before,) = _read_only(layout)

    code, report, err = _cli(env, "apply", "--yes", "--leave-locks-removed", "--vm", vm)
    assert code == 0, err + json.dumps(report)
    fix = report["playbooks"][0]
    assert [s["step"] for s in fix["steps"]] == [
        "delete-lock", "delete-restore-point-collection", "trigger-backup", "leave-lock-removed"]
    assert fix["steps"][2]["detail"]["job_status"] == "Completed"
    assert not any("temporary" in n for n in fix["notes"])
    assert _read_only(layout) == []  # the fix lasts: nothing stops the service's pruning now

    code, listed, err = _cli(env, "recover")
    assert code == 0, err
    assert listed["locks"] == [] and [lk["id"] for lk in listed["left_removed"]] == [lock_before["id"]]
    text = run_cli(env, "recover")
    assert "left removed on purpose" in text.stdout and "--restore-left-locks" in text.stdout
    assert _read_only(layout) == []  # listing restores nothing

    code, restored, err = _cli(env, "recover", "--restore-left-locks")
    assert code == 0, err
    assert [r["outcome"] for r in restored["locks"]] == ["restored"] and restored["left_removed"] == []
    assert _read_only(layout) == [lock_before]


def test_runbook_leave_locks_removed_journals_the_lock(layout: Layout, server: SandboxServer, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The Automation entry takes the same lasting fix as the CLI: the lock stays removed, journaled.
    import io

    from azbackup_fix import runbook

    for name, value in (("REQUESTS_CA_BUNDLE", server.ca_file), ("IDENTITY_ENDPOINT", server.identity_endpoint),
                        ("IDENTITY_HEADER", server.identity_header)):
        monkeypatch.setenv(name, value)
    (lock_before,) = _read_only(layout)
    journal_path = tmp_path / "runbook.sqlite"
    out = io.StringIO()
    code = runbook.main(["--mode", "apply", "--subscription", layout.subscription, "--vm", layout.vm().id,
                         "--arm-endpoint", server.endpoint, "--journal", str(journal_path),
                         "--leave-locks-removed"], stdout=out, stderr=io.StringIO())
    doc = json.loads(out.getvalue().splitlines()[-1])
    assert code == 0 == doc["exit_code"], doc
    (run,) = doc["runs"]
    steps = [s["step"] for p in run["playbooks"] for s in p["steps"] if s["status"] != "skipped"]
    assert steps[:4] == ["delete-lock", "delete-restore-point-collection", "trigger-backup", "leave-lock-removed"]
    assert _read_only(layout) == []
    with Journal(journal_path) as journal:
        assert [e.lock.ref.id for e in journal.left_locks()] == [lock_before["id"]] and journal.pending_locks() == ()
