"""Undoing a run's guest changes (``recover --undo-guest-changes RUN_ID``, ``undo_guest_changes``): every
journaled guest-setting goes back to its value before, in the sandbox's guest model, behind the guest rail,
dry run by default, journaled as its own run, probed again afterwards, and a second undo changes nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbackup_fix.errors import GuardRailError
from azbackup_fix.guest_undo import GUEST_SETTING_UNDONE, undo_fixes, undo_guest_changes
from azbackup_fix.journal import Journal
from azbackup_fix.steps.guest import GUEST_FIX_ACTION
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.scenarios.files import ESTATES_DIR
from tests.cli.cli_runner import run as cli
from tests.gateway.sandbox_arm import BROKEN, Target, writes

STRONG_CRYPTO = ("HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto",
                 "HKLM\\SOFTWARE\\Wow6432Node\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto")


def _guest(sandbox: Sandbox) -> Any:
    return next(vm for vm in sandbox.compute.vms.values() if vm.name == BROKEN).guest


def _run_commands(sandbox: Sandbox) -> list[str]:
    return [r.operation for r in writes(sandbox.requests()) if "RunCommand" in r.operation]


def _fix_run(journal: Journal) -> str:
    (run,) = [r.run_id for r in journal.runs() if r.command == "apply"
              and any(c.action == GUEST_FIX_ACTION for c in journal.changes(r.run_id))]
    return run


def _linux_misconfigured() -> dict[str, Any]:
    """The outdated Linux agent, its waagent.conf also switching provisioning off: two fixes, one undoable."""
    document = yaml.safe_load((ESTATES_DIR / "guest-linux-agent-outdated.yaml").read_text(encoding="utf-8"))
    vm = next(v for v in document["subscriptions"][0]["vms"] if v["name"] == BROKEN)
    guest = vm.setdefault("guest", {})
    guest.setdefault("files", {})["/etc/waagent.conf"] = ("Provisioning.Agent=disabled\nExtensions.Enable=y\n"
                                                           "Logs.Verbose=n\n")
    return copy.deepcopy(document)


# scenario (or estate) -> (rails the fix needs, how the guest's undone settings read)
CASES: dict[str, tuple[dict[str, bool], Any]] = {
    "guest-strong-crypto-missing": ({}, lambda g: {k: g.registry.get(k, "absent") for k in STRONG_CRYPTO}),
    "guest-defender-blocking": ({}, lambda g: sorted(g.defender_exclusions)),
    "guest-complus-stopped": ({"allow_disruptive": True}, lambda g: g.service("MSDTC").account),
    "linux-waagent-conf": ({}, lambda g: g.waagent_option("Provisioning.Agent")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_undo_puts_each_guest_setting_back_once(case: str, tmp_path: Path) -> None:
    rails, setting = CASES[case]
    sandbox = Sandbox(estate=_linux_misconfigured()) if case.startswith("linux") else Sandbox(scenario=case)
    target = Target(sandbox)
    before = setting(_guest(sandbox))
    path = str(tmp_path / "j.sqlite")
    with target.remediator(journal_path=path) as fix:
        report = fix.run(target.vm(), apply=True, allow_guest_changes=True, **rails)
        assert [s.status.value for s in report.steps][0] == "changed", report.to_dict()
        fixed = setting(_guest(sandbox))
        assert fixed != before
        with Journal(path) as journal:
            run_id = _fix_run(journal)
            sandbox.clear_requests()
            dry = undo_guest_changes(journal, fix.gateway, run_id, allow_disruptive=True)
            assert dry.planned and not dry.applied and writes(sandbox.requests()) == []
            assert setting(_guest(sandbox)) == fixed
            with pytest.raises(GuardRailError, match="--allow-guest-changes"):
                undo_guest_changes(journal, fix.gateway, run_id, apply=True)
            assert writes(sandbox.requests()) == [] and not journal.changes_by_action(GUEST_SETTING_UNDONE)

            undone = undo_guest_changes(journal, fix.gateway, run_id, apply=True, allow_guest_changes=True,
                                        allow_disruptive=True)
            assert not undone.failed and {s.outcome for s in undone.settings} <= {"undone", "kept"}
            assert setting(_guest(sandbox)) == before
            assert _run_commands(sandbox)  # the undo script, and the probe after it
            assert undone.undo_run_id and undone.undo_run_id != run_id
            # Journaled as its own run, each setting before it was sent (so the undo can be undone in turn).
            assert [c for c in journal.changes(undone.undo_run_id) if c.action == GUEST_FIX_ACTION]
            # Probed again: the guides' cause is back, as before the fix (COM+ keeps running: a start stays).
            assert bool(undone.reprobe[target.vm().id]) == (case != "guest-complus-stopped"), undone.reprobe

            sandbox.clear_requests()
            again = undo_guest_changes(journal, fix.gateway, run_id, apply=True, allow_guest_changes=True)
            assert {s.outcome for s in again.settings} <= {"already-undone", "kept"} and not again.planned
            assert writes(sandbox.requests()) == []
    assert setting(_guest(sandbox)) == before


def test_a_restart_and_an_agent_update_stay_and_say_why() -> None:
    fixes, note = undo_fixes({"action": "restart-service", "setting": "MSDTC", "value": "", "before": "running"})
    assert fixes == () and "not a setting" in (note or "")
    fixes, note = undo_fixes({"action": "agent-update", "setting": "walinuxagent", "value": "", "before": "2.2.9"})
    assert fixes == () and "2.2.9" in (note or "")
    fixes, note = undo_fixes({"action": "set-service", "setting": "MSDTC.account", "value": "NT AUTHORITY\\NetworkService",
                              "before": "LocalSystem"})
    assert [(f.action, f.value) for f in fixes] == [("set-service", "LocalSystem")] and "--allow-disruptive" in note
    fixes, _ = undo_fixes({"action": "add-defender-exclusion", "setting": "C:\\P", "value": "", "before": True})
    assert fixes == ()
    fixes, _ = undo_fixes({"action": "set-registry", "setting": "HKLM\\X\\V", "value": "1", "before": None})
    assert [f.action for f in fixes] == ["delete-registry"]


# ---- the CLI, over the HTTPS sandbox ------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(scenario="guest-strong-crypto-missing"), clock_rate=1e3) as running:
        yield running


def test_cli_recover_undo_guest_changes(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "journal.sqlite"
    for key, value in {"AZBACKUP_JOURNAL": str(journal), "REQUESTS_CA_BUNDLE": server.ca_file,
                       "AZBACKUP_ARM_ENDPOINT": server.endpoint, "IDENTITY_ENDPOINT": server.identity_endpoint,
                       "IDENTITY_HEADER": server.identity_header}.items():
        monkeypatch.setenv(key, value)
    sandbox = server.sandbox
    vm = next(v for v in sandbox.compute.vms.values() if v.name == BROKEN).id
    before = {k: _guest(sandbox).registry.get(k) for k in STRONG_CRYPTO}
    code, out, err = cli("apply", "--vm", vm, "--yes", "--allow-guest-changes", "--output", "json")
    assert code == 0, err
    assert all(_guest(sandbox).registry.get(k) == 1 for k in STRONG_CRYPTO)
    with Journal(str(journal)) as opened:
        run_id = _fix_run(opened)

    sandbox.clear_requests()
    code, out, err = cli("recover", "--undo-guest-changes", run_id)
    assert code == 4 and "dry run" in out and "delete registry value" in out, (out, err)
    assert writes(sandbox.requests()) == []
    code, out, err = cli("recover", "--undo-guest-changes", run_id, "--yes")
    assert code == 3 and "--allow-guest-changes" in err and writes(sandbox.requests()) == []

    code, out, err = cli("recover", "--undo-guest-changes", run_id, "--yes", "--allow-guest-changes",
                         "--output", "json")
    doc = json.loads(out)
    assert code == 0, err
    assert [s["outcome"] for s in doc["settings"]] == ["undone", "undone"]
    assert "ExtensionFailedSecureNetworkChannel" in [f["code"] for f in doc["reprobe"][vm]]
    assert {k: _guest(sandbox).registry.get(k) for k in STRONG_CRYPTO} == before

    sandbox.clear_requests()
    code, out, err = cli("recover", "--undo-guest-changes", run_id, "--yes", "--allow-guest-changes")
    assert code == 0 and "already-undone" in out and writes(sandbox.requests()) == [], (out, err)
